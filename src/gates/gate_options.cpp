#include "moekit/gates/gate_options.h"

namespace moekit::gates {

// Cross-field limits (k <= n_experts, tau_start >= tau_end) need the whole
// struct and stay with the gates that read them.
const OptionTable<GateOptions>& gate_option_table() {
  using G = GateOptions;
  static const OptionTable<G> table = {
      MOEKIT_OPTION(G, int64_t, d_in, at_least<int64_t>(v, 0, "d_in"), "input width (set by the model)"),
      MOEKIT_OPTION(G, int64_t, n_experts, at_least<int64_t>(v, 0, "n_experts"),
                    "experts routed over (set by the model)"),
      MOEKIT_OPTION(G, int64_t, k, at_least<int64_t>(v, 1, "k"),
                    "slots: experts kept by topk, selectors of dselectk, trees of comet"),
      MOEKIT_OPTION(G, bool, noisy, v, "topk: add N(0,1)·softplus(W_noise x) to the logits in training"),
      MOEKIT_OPTION(G, double, balance_weight, at_least(v, 0.0, "balance_weight"),
                    "topk: weight of importance + load CV²; switch: of n·Σ f_i·P_i"),
      // <= 0 is documented as "unlimited", so every finite value is meaningful.
      MOEKIT_OPTION(G, double, capacity_factor, any_value(v, "capacity_factor"),
                    "switch: tokens per expert = ceil(factor·T/n); <= 0 unlimited"),
      MOEKIT_OPTION(G, double, eval_capacity_fraction, any_value(v, "eval_capacity_fraction"),
                    "switch at inference: tokens per expert = ceil(fraction·T) (fairseq's "
                    "eval token fraction); <= 0 keeps the training capacity"),
      MOEKIT_OPTION(G, int64_t, n_ids, at_least<int64_t>(v, 1, "n_ids"),
                    "hash: size of the id space the map covers"),
      MOEKIT_OPTION(G, int64_t, seed, any_value(v, "seed"), "hash: seed of the id -> expert map"),
      MOEKIT_OPTION(G, double, gamma, positive(v, "gamma"), "dselectk/comet: smooth-step width γ"),
      MOEKIT_OPTION(G, double, entropy_weight, at_least(v, 0.0, "entropy_weight"),
                    "dselectk/comet: weight of the selector/tree entropy regulariser"),
      MOEKIT_OPTION(G, bool, per_example, v, "dselectk: per-example selectors rather than static ones"),
      MOEKIT_OPTION(G, double, invalid_weight, at_least(v, 0.0, "invalid_weight"),
                    "dselectk: penalty on selector mass on codes >= n"),
      MOEKIT_OPTION(G, std::string, granularity, one_of(v, "granularity", {"batch", "sequence", "token"}),
                    "random: one draw per batch, sequence or token"),
      MOEKIT_OPTION(G, std::string, eval_mode, one_of(v, "eval_mode", {"sample", "fixed", "mean"}),
                    "random: at inference sample one expert, a fixed one, or the mean of all"),
      MOEKIT_OPTION(G, int64_t, fixed_expert, at_least<int64_t>(v, 0, "fixed_expert"),
                    "random: the expert of eval_mode fixed"),
      MOEKIT_OPTION(G, bool, local_search, v, "wrap the gate in COMET's permutation local search"),
      MOEKIT_OPTION(G, int64_t, search_steps, at_least<int64_t>(v, 0, "search_steps"),
                    "optimiser steps of the search; then Π is hardened and frozen"),
      MOEKIT_OPTION(G, double, search_epochs, at_least(v, 0.0, "search_epochs"),
                    "the search in epochs (> 0 overrides search_steps)"),
      MOEKIT_OPTION(G, double, tau_start, positive(v, "tau_start"), "Sinkhorn temperature at the start"),
      MOEKIT_OPTION(G, double, tau_end, positive(v, "tau_end"),
                    "Sinkhorn temperature at the end (annealed log-linearly)"),
      MOEKIT_OPTION(G, int64_t, sinkhorn_iters_start, at_least<int64_t>(v, 1, "sinkhorn_iters_start"),
                    "Sinkhorn iterations at the start"),
      MOEKIT_OPTION(G, int64_t, sinkhorn_iters_end, at_least<int64_t>(v, 1, "sinkhorn_iters_end"),
                    "Sinkhorn iterations at the end (raised linearly)"),
      MOEKIT_OPTION(G, double, permutation_entropy_weight,
                    at_least(v, 0.0, "permutation_entropy_weight"),
                    "weight of the entropy penalty on Π"),
      MOEKIT_OPTION(G, double, permutation_init, positive(v, "permutation_init"),
                    "half-width of L's init U(-a, a)"),
      MOEKIT_OPTION(G, double, permutation_noise, at_least(v, 0.0, "permutation_noise"),
                    "scale of Gumbel noise on L during the search"),
      MOEKIT_OPTION(G, bool, permutation_per_task, v,
                    "multi-gate models: one Π per task gate instead of one shared"),
  };
  return table;
}

std::vector<std::pair<std::string, std::string>> GateOptions::values() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : gate_option_table()) out.emplace_back(f.key, f.get(*this));
  return out;
}

void GateOptions::set(const std::string& name, const std::string& value) {
  set_option(gate_option_table(), *this, name, value, "gate option");
}

}  // namespace moekit::gates
