#pragma once
// Layer-wise distillation of a dense teacher into a MoE student (MoEBERT,
// COMET-BERT; issue 20): on top of the student's task loss,
//   β · KL(p_teacher ‖ p_student)  over the output distributions, and
//   γ · Σ_layers MSE(h_student, h_teacher)  over the hidden states
// (the embedding output and every layer's output, encoder and decoder), each
// averaged over the real (non-pad) tokens. The teacher is frozen and runs in
// eval mode. MoEBERT's code weighs both terms by one constant and uses the
// symmetric KL; `symmetric: true` gives that.
#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include <string>

#include "moekit/models/transformer.h"

namespace moekit::train {

/// `distill:` of a translation config.
struct DistillOptions {
  /// Run directory of the dense teacher (its config.yaml and best.pt); "" = no distillation.
  TORCH_ARG(std::string, teacher) = "";
  /// Weight β of the output term.
  TORCH_ARG(double, beta) = 1.0;
  /// Weight γ of the summed hidden-state MSE.
  TORCH_ARG(double, gamma) = 1.0;
  /// ½(KL(t‖s) + KL(s‖t)) instead of KL(t‖s), as MoEBERT's code has it.
  TORCH_ARG(bool, symmetric) = false;

 public:
  bool enabled() const { return !teacher_.empty(); }
  void validate() const;  // throws moekit::Error naming the field
};

/// Mean over the tokens where `mask` is true of KL(softmax(teacher) ‖ softmax(student))
/// = Σ_v p_t (log p_t − log p_s). logits [..., V], mask [...] bool; 0 without tokens.
at::Tensor teacher_student_kl(const at::Tensor& teacher_logits, const at::Tensor& student_logits,
                              const at::Tensor& mask);

/// Mean of (a − b)² over the positions where `mask` is true and every channel:
/// a, b [..., d], mask [...] bool; 0 without positions.
at::Tensor masked_mse(const at::Tensor& a, const at::Tensor& b, const at::Tensor& mask);

/// The distillation terms of one batch (scalars) and their weighted sum.
struct DistillationTerms {
  at::Tensor output;  // KL (or symmetric KL) over the real target tokens
  at::Tensor hidden;  // Σ over encoder and decoder states of masked_mse
  at::Tensor total;   // β · output + γ · hidden
};

/// Student and teacher outputs of the same batch, with hidden states
/// (keep_hidden_states); src_valid [B, S] and tgt_valid [B, T] mark the real
/// tokens. Throws moekit::Error naming `teacher` when the two models' states
/// do not line up (layer counts or widths differ).
DistillationTerms distillation_terms(const models::TransformerOutput& student,
                                     const models::TransformerOutput& teacher,
                                     const at::Tensor& src_valid, const at::Tensor& tgt_valid,
                                     const DistillOptions& options);

/// Throws moekit::Error at `where` unless `teacher` can teach a student of
/// `student`'s options: the same vocabulary, width and layer counts (its
/// hidden states are matched layer by layer). Usually the dense model the
/// student was split from, but any such model may teach.
void check_teacher(const models::TransformerOptions& teacher,
                   const models::TransformerOptions& student, const std::string& where);

}  // namespace moekit::train
