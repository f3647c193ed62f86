#pragma once
#include <ATen/ATen.h>

namespace moekit::moe {

/// THOR's consistency regulariser: ½ (KL(p1‖p2) + KL(p2‖p1)) with p = softmax
/// of the logits [N, V] of two forward passes with independent expert draws.
/// Summed over V, averaged over the rows where `mask` [N] is true (all rows when
/// undefined): token-level normalisation. Gradients flow into both passes.
at::Tensor symmetric_kl(const at::Tensor& logits1, const at::Tensor& logits2,
                        const at::Tensor& mask = {});

}  // namespace moekit::moe
