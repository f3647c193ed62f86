#include "moekit/moe/losses.h"

#include "moekit/core/error.h"

namespace moekit::moe {

at::Tensor symmetric_kl(const at::Tensor& logits1, const at::Tensor& logits2,
                        const at::Tensor& mask) {
  MOEKIT_CHECK(logits1.sizes() == logits2.sizes() && logits1.dim() == 2, "logits",
               "expected two [N, V] tensors of one shape");
  const at::Tensor logp1 = at::log_softmax(logits1, 1);
  const at::Tensor logp2 = at::log_softmax(logits2, 1);
  // KL(p1‖p2) + KL(p2‖p1) = Σ_v (p1 - p2)(log p1 - log p2)
  const at::Tensor per_row = ((logp1.exp() - logp2.exp()) * (logp1 - logp2)).sum(1) * 0.5;
  if (!mask.defined()) return per_row.mean();
  const at::Tensor m = mask.to(per_row.scalar_type());
  return (per_row * m).sum() / m.sum().clamp_min(1.0);
}

}  // namespace moekit::moe
