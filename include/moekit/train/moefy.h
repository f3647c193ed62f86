#pragma once
// Dense -> MoE (MoEBERT; COMET-BERT routes the result with COMET): the FFNs of
// a trained dense Transformer, in the layers `moe_layers` names, become
// n_experts experts of expert_hidden units each, split by unit importance
// (train/ffn_importance.h, models/expert_split.h); every other weight is the
// teacher's. The student starts with the random gate averaging every expert
// (eval_mode mean), so it translates before any training; distillation then
// trains it with any gate.
#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include <cstdint>
#include <string>
#include <vector>

#include "moekit/data/parallel_corpus.h"
#include "moekit/models/transformer.h"
#include "moekit/train/ffn_importance.h"

namespace moekit::train {

struct MoefyOptions {
  MoefyOptions(int64_t n_experts, int64_t expert_hidden) : n_experts_(n_experts), expert_hidden_(expert_hidden) {}
  TORCH_ARG(int64_t, n_experts);
  TORCH_ARG(int64_t, expert_hidden);
  /// The most important units every expert keeps.
  TORCH_ARG(int64_t, shared) = 0;
  /// Which layers get experts (TransformerOptions::moe_layers words or a list).
  TORCH_ARG(std::string, moe_layers) = "all";
  /// Sentence pairs the importance is measured on (0 = all of the corpus).
  TORCH_ARG(int64_t, samples) = 2000;
  TORCH_ARG(int64_t, max_tokens) = 4096;
};

/// The student's options: the teacher's, with the MoE fields of `options`, the
/// random gate and eval_mode mean.
models::TransformerOptions moefied_options(const models::TransformerOptions& teacher,
                                           const MoefyOptions& options);

struct MoefyResult {
  models::Transformer student{nullptr};
  FfnImportance importance;           // of every dense FFN of the teacher
  std::vector<std::string> split;     // the blocks split into experts ("encoder.0", ...)
  std::vector<at::Tensor> plans;      // per split block [n_experts, expert_hidden] unit ids
};

/// Throws moekit::Error naming the field at fault: a teacher with MoE layers
/// ("model"), or split sizes plan_expert_split rejects.
MoefyResult moefy(models::Transformer& teacher, const data::ParallelCorpus& corpus,
                  const MoefyOptions& options);

}  // namespace moekit::train
