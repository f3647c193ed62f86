#include "moekit/train/thor_loss.h"

#include <torch/torch.h>

#include <cmath>

#include "moekit/core/error.h"
#include "moekit/moe/losses.h"

namespace moekit::train {
namespace {

void check_shapes(const at::Tensor& logits, const at::Tensor& target) {
  MOEKIT_CHECK(logits.dim() >= 1 && logits.dim() == target.dim() + 1 &&
                   logits.sizes().slice(0, target.dim()) == target.sizes(),
               "logits", "expected logits [..., V] and target [...] of one leading shape, got {} "
               "and {}", c10::str(logits.sizes()), c10::str(target.sizes()));
  MOEKIT_CHECK(target.scalar_type() == at::kLong, "target", "expected int64 ids, got {}",
               c10::toString(target.scalar_type()));
}

}  // namespace

at::Tensor label_smoothed_cross_entropy(const at::Tensor& logits, const at::Tensor& target,
                                        int64_t pad_id, double eps) {
  check_shapes(logits, target);
  MOEKIT_CHECK(eps >= 0.0 && eps < 1.0, "label_smoothing", "must lie in [0, 1), got {}", eps);
  const int64_t vocab = logits.size(-1);
  const at::Tensor logp = at::log_softmax(logits.reshape({-1, vocab}), 1);  // [N, V]
  const at::Tensor flat = target.reshape(-1);
  const at::Tensor mask = flat.ne(pad_id);
  // Pad targets may lie outside [0, V); gather at 0 and mask them out.
  const at::Tensor nll = -logp.gather(1, flat.masked_fill(mask.logical_not(), 0).unsqueeze(1))
                              .squeeze(1);
  const at::Tensor smooth = -logp.mean(1);  // the uniform part: -Σ_v logp_v / V
  const at::Tensor per_token = nll * (1.0 - eps) + smooth * eps;
  const at::Tensor m = mask.to(per_token.scalar_type());
  return (per_token * m).sum() / m.sum().clamp_min(1.0);
}

ThorLoss thor_loss(const at::Tensor& logits1, const at::Tensor& logits2, const at::Tensor& target,
                   int64_t pad_id, double alpha, double eps) {
  MOEKIT_CHECK(logits1.sizes() == logits2.sizes(), "logits2",
               "must have the shape of logits1 {}, got {}", c10::str(logits1.sizes()),
               c10::str(logits2.sizes()));
  MOEKIT_CHECK(alpha >= 0.0 && std::isfinite(alpha), "alpha", "must be finite and >= 0, got {}",
               alpha);
  ThorLoss loss;
  loss.ce1 = label_smoothed_cross_entropy(logits1, target, pad_id, eps);
  loss.ce2 = label_smoothed_cross_entropy(logits2, target, pad_id, eps);
  if (alpha > 0.0) {
    const int64_t vocab = logits1.size(-1);
    loss.consistency = moe::symmetric_kl(logits1.reshape({-1, vocab}),
                                         logits2.reshape({-1, vocab}), target.reshape(-1).ne(pad_id));
  } else {
    loss.consistency = at::zeros({}, logits1.options());
  }
  loss.total = loss.ce1 + loss.ce2 + loss.consistency * alpha;
  return loss;
}

}  // namespace moekit::train
