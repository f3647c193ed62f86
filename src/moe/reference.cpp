#include "moekit/moe/reference.h"

namespace moekit::moe {

at::Tensor naive_moe_forward(Experts& experts, const at::Tensor& x, const at::Tensor& weights) {
  at::Tensor out;
  for (int64_t e = 0; e < experts.n_experts(); ++e) {
    const at::Tensor y = experts.forward_expert(e, x);
    std::vector<int64_t> shape(y.dim(), 1);
    shape[0] = y.size(0);
    const at::Tensor term = y * weights.select(1, e).view(shape);
    out = out.defined() ? out + term : term;
  }
  return out;
}

}  // namespace moekit::moe
