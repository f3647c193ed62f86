#pragma once
#include <ATen/ATen.h>

#include <cstdint>

namespace moekit::train {

/// Label-smoothed cross-entropy as torch.nn.functional.cross_entropy(label_smoothing=eps,
/// ignore_index=pad_id): the target distribution is (1 - eps)·one_hot + eps/V, averaged over
/// the tokens whose target is not pad_id (token-level normalisation; 0 when there are none).
/// logits [..., V], target [...] int64 (same leading shape).
at::Tensor label_smoothed_cross_entropy(const at::Tensor& logits, const at::Tensor& target,
                                        int64_t pad_id, double eps = 0.1);

/// The THOR loss and its parts (all scalars).
struct ThorLoss {
  at::Tensor total;        // ce1 + ce2 + alpha · consistency
  at::Tensor ce1, ce2;     // label-smoothed CE of each pass
  at::Tensor consistency;  // ½(KL(p1‖p2) + KL(p2‖p1)) over non-pad tokens; 0 when alpha = 0
};

/// THOR's training loss (DESIGN.md "THOR training") for two forward passes with
/// independent expert draws on the same batch: CE_ls(p1) + CE_ls(p2) + α · symmetric KL,
/// every term averaged over the non-pad target tokens. α = 0 skips the KL term.
/// logits1/logits2 [..., V], target [...] int64. The MoE aux losses are the caller's to add.
ThorLoss thor_loss(const at::Tensor& logits1, const at::Tensor& logits2, const at::Tensor& target,
                   int64_t pad_id, double alpha = 1.0, double eps = 0.1);

}  // namespace moekit::train
