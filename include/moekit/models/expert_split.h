#pragma once
// Dense -> MoE by splitting a trained FFN into experts (MoEBERT, Zuo et al.
// 2022; the COMET-BERT fork uses the same split): the most important hidden
// units are shared by every expert, the rest are dealt out in importance
// order round-robin so that the experts carry about equal importance.
#include <ATen/core/Tensor.h>
#include <torch/nn/modules/linear.h>

#include <cstdint>

#include "moekit/moe/experts.h"

namespace moekit::models {

/// Which hidden units of a dense FFN of width H each expert keeps.
/// `importance` [H] (any float dtype); returns int64 [n_experts, expert_hidden]:
/// row e lists expert e's units, the `shared` most important first (the same
/// in every row), then the others of expert e in descending importance. The
/// H - shared others are dealt round-robin in descending importance (unit of
/// rank r to expert r mod n_experts), each unit to one expert; an expert with
/// slots left then takes the most important others it lacks, so no unit is
/// twice in an expert and every unit is in at least one.
/// Throws moekit::Error naming the argument at fault: `shared` > expert_hidden
/// or > H, expert_hidden > H, or n_experts·(expert_hidden − shared) < H − shared
/// (some unit would be in no expert).
at::Tensor plan_expert_split(const at::Tensor& importance, int64_t n_experts,
                             int64_t expert_hidden, int64_t shared);

/// Sets FFN experts e's weights from the dense FFN (fc1: d -> H, fc2: H -> d)
/// per `plan` ([E, h]): w1[e] = fc1.weight[plan[e]]ᵀ, b1[e] = fc1.bias[plan[e]],
/// w2[e] = fc2.weight[:, plan[e]]ᵀ, b2[e] = fc2.bias. With every unit in every
/// expert (shared = H), each expert computes the dense FFN exactly. Throws
/// moekit::Error when the shapes disagree.
void copy_split_weights(const torch::nn::Linear& fc1, const torch::nn::Linear& fc2,
                        const at::Tensor& plan, moe::FFNExpertsImpl& experts);

}  // namespace moekit::models
