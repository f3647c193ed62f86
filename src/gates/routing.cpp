#include "moekit/gates/routing.h"

#include <ATen/ATen.h>

namespace moekit::gates {

Routing Routing::from_dense(at::Tensor weights, at::Tensor aux_loss) {
  const auto nonzero = weights.ne(0);
  const int64_t k_eff = std::max<int64_t>(1, nonzero.sum(1).max().item<int64_t>());
  auto top = weights.detach().topk(k_eff, /*dim=*/1, /*largest=*/true, /*sorted=*/true);
  at::Tensor idx = std::get<1>(top);
  at::Tensor w = weights.gather(1, idx);
  idx = idx.masked_fill(w.detach().eq(0), -1);
  return Routing{std::move(weights), std::move(idx), std::move(w), std::move(aux_loss)};
}

Routing Routing::from_compact(at::Tensor idx, at::Tensor w, int64_t n_experts,
                              at::Tensor aux_loss) {
  const auto valid = idx.ge(0);
  const auto safe_idx = idx.clamp_min(0);
  const auto safe_w = w * valid.to(w.scalar_type());
  at::Tensor weights = at::zeros({idx.size(0), n_experts}, w.options()).scatter_add(1, safe_idx, safe_w);
  return Routing{std::move(weights), std::move(idx), std::move(w), std::move(aux_loss)};
}

double Routing::mean_active_experts() const {
  if (rows() == 0) return 0.0;
  return weights.detach().gt(kActiveWeight).sum(1).to(at::kDouble).mean().item<double>();
}

}  // namespace moekit::gates
