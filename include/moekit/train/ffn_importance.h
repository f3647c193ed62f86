#pragma once
// Importance of every hidden unit of a trained dense Transformer's FFNs, as
// MoEBERT computes it before splitting the FFNs into experts
// (models/expert_split.h): for unit j, the sum over tokens of |a_j · ∂L/∂a_j|,
// a_j the unit's activation, L the translation loss summed over the sample's
// target tokens.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "moekit/data/parallel_corpus.h"
#include "moekit/models/transformer.h"

namespace moekit::train {

/// Scores of the dense FFNs of one model, in layer order.
struct FfnImportance {
  std::vector<std::string> blocks;       // "encoder.0", ..., "decoder.N" (dense FFNs only)
  std::vector<at::Tensor> importance;    // per block [H] double: Σ_tokens |a_j · ∂L/∂a_j|
  /// per block [H] double: Σ_tokens a_j · ∂L/∂a_j, the first-order drop of L
  /// when unit j is removed (the sign the absolute value hides).
  std::vector<at::Tensor> first_order;
  int64_t sentences = 0, target_tokens = 0;
};

/// Scores on `samples` sentence pairs spread evenly over `corpus` (all when
/// samples <= 0 or more than it has), in batches of at most max_tokens padded
/// tokens, with the model in eval mode (no dropout) and unchanged afterwards
/// (no parameter gradients are touched). Throws moekit::Error when the model
/// has no dense FFN or the corpus is empty.
FfnImportance ffn_importance(models::Transformer& model, const data::ParallelCorpus& corpus,
                             int64_t samples, int64_t max_tokens);

}  // namespace moekit::train
