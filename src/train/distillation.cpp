#include "moekit/train/distillation.h"

#include <torch/torch.h>

#include <cmath>

#include "moekit/core/error.h"
#include "moekit/moe/losses.h"

namespace moekit::train {

void DistillOptions::validate() const {
  MOEKIT_CHECK(beta_ >= 0 && std::isfinite(beta_), "distill.beta", "must be finite and >= 0, got {}",
               beta_);
  MOEKIT_CHECK(gamma_ >= 0 && std::isfinite(gamma_), "distill.gamma",
               "must be finite and >= 0, got {}", gamma_);
}

namespace {

// The mean of per-position values over the positions `mask` keeps (0 without any).
at::Tensor masked_mean(const at::Tensor& per_position, const at::Tensor& mask) {
  const at::Tensor m = mask.to(per_position.scalar_type());
  return (per_position * m).sum() / m.sum().clamp_min(1.0);
}

void check_mask(const at::Tensor& values, const at::Tensor& mask, const char* what) {
  MOEKIT_CHECK(mask.scalar_type() == at::kBool && values.dim() == mask.dim() + 1 &&
                   values.sizes().slice(0, mask.dim()) == mask.sizes(),
               what, "expected [..., N] values and a [...] bool mask, got {} and {} {}",
               c10::str(values.sizes()), c10::str(mask.sizes()),
               c10::toString(mask.scalar_type()));
}

}  // namespace

at::Tensor teacher_student_kl(const at::Tensor& teacher_logits, const at::Tensor& student_logits,
                              const at::Tensor& mask) {
  MOEKIT_CHECK(teacher_logits.sizes() == student_logits.sizes(), "student_logits",
               "must have the teacher's shape {}, got {}", c10::str(teacher_logits.sizes()),
               c10::str(student_logits.sizes()));
  check_mask(teacher_logits, mask, "mask");
  const at::Tensor logp_t = at::log_softmax(teacher_logits, -1);
  const at::Tensor logp_s = at::log_softmax(student_logits, -1);
  return masked_mean((logp_t.exp() * (logp_t - logp_s)).sum(-1), mask);
}

at::Tensor masked_mse(const at::Tensor& a, const at::Tensor& b, const at::Tensor& mask) {
  MOEKIT_CHECK(a.sizes() == b.sizes(), "hidden states", "shapes differ: {} and {}",
               c10::str(a.sizes()), c10::str(b.sizes()));
  check_mask(a, mask, "mask");
  return masked_mean((a - b).pow(2).mean(-1), mask);
}

DistillationTerms distillation_terms(const models::TransformerOutput& student,
                                     const models::TransformerOutput& teacher,
                                     const at::Tensor& src_valid, const at::Tensor& tgt_valid,
                                     const DistillOptions& options) {
  MOEKIT_CHECK(student.encoder_states.size() == teacher.encoder_states.size() &&
                   student.decoder_states.size() == teacher.decoder_states.size(),
               "teacher", "has {} + {} hidden states, the student {} + {} (keep_hidden_states on "
               "both, and the same layer counts)", teacher.encoder_states.size(),
               teacher.decoder_states.size(), student.encoder_states.size(),
               student.decoder_states.size());
  DistillationTerms terms;
  if (options.symmetric()) {
    const int64_t vocab = student.logits.size(-1);
    terms.output = moe::symmetric_kl(student.logits.reshape({-1, vocab}),
                                     teacher.logits.reshape({-1, vocab}), tgt_valid.reshape(-1));
  } else {
    terms.output = teacher_student_kl(teacher.logits, student.logits, tgt_valid);
  }
  terms.hidden = at::zeros({}, student.logits.options());
  for (size_t l = 0; l < student.encoder_states.size(); ++l) {
    terms.hidden = terms.hidden + masked_mse(student.encoder_states[l], teacher.encoder_states[l], src_valid);
  }
  for (size_t l = 0; l < student.decoder_states.size(); ++l) {
    terms.hidden = terms.hidden + masked_mse(student.decoder_states[l], teacher.decoder_states[l], tgt_valid);
  }
  terms.total = terms.output * options.beta() + terms.hidden * options.gamma();
  return terms;
}

void check_teacher(const models::TransformerOptions& teacher,
                   const models::TransformerOptions& student, const std::string& where) {
  auto same = [&](const char* field, int64_t t, int64_t s) {
    MOEKIT_CHECK(t == s, where, "the teacher's model.{} is {}, the student's {}: its outputs and "
                 "hidden states cannot be matched", field, t, s);
  };
  same("vocab_size", teacher.vocab_size(), student.vocab_size());
  same("d_model", teacher.d_model(), student.d_model());
  same("encoder_layers", teacher.encoder_layers(), student.encoder_layers());
  same("decoder_layers", teacher.decoder_layers(), student.decoder_layers());
}

}  // namespace moekit::train
