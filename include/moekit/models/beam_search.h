#pragma once
#include <ATen/ATen.h>
#include <torch/arg.h>

#include <cstdint>
#include <vector>

#include "moekit/models/transformer.h"

namespace moekit::models {

/// Options of beam search.
struct BeamSearchOptions {
  TORCH_ARG(int64_t, beam) = 5;
  /// Most tokens generated per sentence, EOS included; a hypothesis that reaches it
  /// without EOS ends there (unfinished).
  TORCH_ARG(int64_t, max_len) = 200;
  /// Hypotheses are ranked by score / length^length_penalty (length counts EOS), as in
  /// fairseq; 0 ranks by the raw log-probability.
  TORCH_ARG(double, length_penalty) = 1.0;

 public:
  /// Throws moekit::Error naming the field at fault.
  void validate() const;
};

/// One output sentence.
struct Hypothesis {
  std::vector<int64_t> tokens;  // without BOS and EOS
  double score = 0.0;           // Σ log p of the tokens, EOS included when finished
  double normalized_score = 0.0;
  bool finished = false;        // ended with EOS (rather than at max_len)
};

/// Greedy decoding of src [B, S] (right-padded with pad_id): the argmax token at each step.
/// Runs under NoGradGuard in the model's current mode (call model->eval() first).
/// `length_penalty` only fills Hypothesis::normalized_score.
std::vector<Hypothesis> greedy_search(Transformer& model, const at::Tensor& src,
                                      int64_t max_len = 200, double length_penalty = 1.0);

/// Batched beam search over src [B, S]: beam rows per sentence, the encoder output is
/// computed once and shared by a sentence's beams, decoding is incremental
/// (TransformerImpl::decode_step). A sentence stops once `beam` hypotheses have ended
/// with EOS among the top `beam` candidates of a step (fairseq's rule); the best by
/// normalized score is returned. With beam = 1 this is greedy_search.
std::vector<Hypothesis> beam_search(Transformer& model, const at::Tensor& src,
                                    const BeamSearchOptions& options = {});

/// Σ log p(token) of each hypothesis under teacher forcing, EOS included when it is
/// finished: the model score the searches report, computed with one full forward pass.
std::vector<double> score_hypotheses(Transformer& model, const at::Tensor& src,
                                     const std::vector<Hypothesis>& hypotheses);

}  // namespace moekit::models
