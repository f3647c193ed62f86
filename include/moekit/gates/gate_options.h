#pragma once
#include <torch/arg.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "moekit/core/option_table.h"

namespace moekit::gates {

/// Options shared by every gate (MegaBlocks' single-arguments idea). Each gate
/// validates the fields it reads; YAML keys under `gate:` equal these names.
struct GateOptions {
  GateOptions(int64_t d_in, int64_t n_experts) : d_in_(d_in), n_experts_(n_experts) {}

  // --- shape ---
  TORCH_ARG(int64_t, d_in);
  TORCH_ARG(int64_t, n_experts);
  /// Slots: experts kept by topk, selectors of dselectk, trees of comet.
  TORCH_ARG(int64_t, k) = 2;

  // --- topk / switch ---
  /// topk: add N(0,1)·softplus(W_noise x) to the logits in training.
  TORCH_ARG(bool, noisy) = true;
  /// topk: weight of importance + load CV²; switch: weight of n·Σ f_i·P_i.
  TORCH_ARG(double, balance_weight) = 1e-2;
  /// switch: tokens per expert = ceil(capacity_factor · T / n); <= 0 means unlimited.
  TORCH_ARG(double, capacity_factor) = 1.25;
  /// switch, at inference (eval mode): > 0 sets tokens per expert to
  /// ceil(fraction · T), fairseq's moe_eval_capacity_token_fraction (its
  /// default 0.25; 1 never drops a token); <= 0 keeps the training capacity.
  TORCH_ARG(double, eval_capacity_fraction) = 0.0;

  // --- hash ---
  /// Size of the id space the hash map covers (ids must lie in [0, n_ids)).
  TORCH_ARG(int64_t, n_ids) = 1024;
  /// Seed of the id -> expert map; the map itself is saved with the model.
  TORCH_ARG(int64_t, seed) = 0;

  // --- dselectk / comet ---
  /// Smooth-step width γ.
  TORCH_ARG(double, gamma) = 1.0;
  /// Weight of the selector (dselectk) or tree (comet) entropy regulariser.
  TORCH_ARG(double, entropy_weight) = 1e-3;
  /// dselectk: per-example selectors (z = Z x, α = A x) rather than static ones.
  TORCH_ARG(bool, per_example) = true;
  /// dselectk: penalty on selector mass that falls on codes >= n.
  TORCH_ARG(double, invalid_weight) = 1.0;

  // --- random (THOR) ---
  /// One draw per `batch`, per `sequence` (rows sharing GateInput::seq) or per `token`.
  TORCH_ARG(std::string, granularity) = "batch";
  /// At inference: `sample` (one expert per sequence), `fixed` or `mean` (average of all).
  TORCH_ARG(std::string, eval_mode) = "sample";
  /// The expert used when eval_mode is `fixed`.
  TORCH_ARG(int64_t, fixed_expert) = 0;

  // --- permutation local search (wraps any gate) ---
  TORCH_ARG(bool, local_search) = false;
  /// Optimiser steps of the search phase; then Π is hardened and frozen.
  TORCH_ARG(int64_t, search_steps) = 1000;
  /// The search phase in epochs (> 0 overrides search_steps): epoch-based
  /// trainers turn it into ceil(search_epochs · steps per epoch) optimiser steps.
  TORCH_ARG(double, search_epochs) = 0.0;
  /// Sinkhorn temperature, annealed log-linearly from tau_start to tau_end.
  TORCH_ARG(double, tau_start) = 1e-3;
  TORCH_ARG(double, tau_end) = 1e-7;
  /// Sinkhorn iterations, raised linearly from start to end over the search.
  TORCH_ARG(int64_t, sinkhorn_iters_start) = 20;
  TORCH_ARG(int64_t, sinkhorn_iters_end) = 150;
  /// Weight of the entropy penalty on Π (whole matrix + row-normalised form).
  TORCH_ARG(double, permutation_entropy_weight) = 1e-4;
  /// Half-width a of L's init U(-a, a); with a / tau_start = 50 (the reference's
  /// Keras RandomUniform default) Π starts close to a hard random permutation.
  TORCH_ARG(double, permutation_init) = 0.05;
  /// Scale of Gumbel noise added to L during the search (0 = none, as in the
  /// reference configs).
  TORCH_ARG(double, permutation_noise) = 0.0;
  /// Multi-gate models: one Π per task gate instead of one shared by all tasks.
  TORCH_ARG(bool, permutation_per_task) = false;

  public:
  /// Every option as (name, value) in declaration order, values printed as YAML scalars.
  std::vector<std::pair<std::string, std::string>> values() const;

  /// Sets the option `name` from its YAML/`--set` spelling. Throws moekit::Error
  /// naming the key when it is unknown or the value does not parse.
  void set(const std::string& name, const std::string& value);
};

/// Every gate option with its type, doc and range check (`moekit gates`,
/// `moekit config`, YAML `gate:` and `--set` all go through it).
const OptionTable<GateOptions>& gate_option_table();

}  // namespace moekit::gates
