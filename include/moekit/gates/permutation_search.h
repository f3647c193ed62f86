#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <ostream>
#include <vector>

#include "moekit/gates/gate.h"

namespace moekit::gates {

/// COMET's permutation-based local search (Ibrahim et al., KDD 2023, §4) as a
/// decorator around any gate, as the reference code (mazumder-lab/COMET,
/// learn_permutations.py) runs it.
///
/// A learnable L [n, n], drawn from U(-permutation_init, permutation_init), gives
/// the soft permutation Π = Sinkhorn((L + noise) / τ). With the default init L/τ
/// spans ±50, so Π starts close to a hard random permutation: the search is local.
/// In training, during the search phase, the inner gate's expert weights are
/// re-mapped by Π (expert j gets Σ_i weights_i · Π_ij), each row rescaled to
/// the sum it had, and the penalty permutation_entropy_weight · (H(Π) + H(Π
/// row-normalised)) is added. τ anneals log-linearly from tau_start to tau_end
/// and the Sinkhorn iterations rise linearly over search_steps optimiser steps
/// (counted by optimizer_step(), not by forward passes); then Π is hardened to
/// the nearest permutation (exact assignment) and frozen.
///
/// In evaluation, and in training after the search, the wrapper routes exactly
/// like the inner gate composed with a permutation (idx' = perm[idx]): the
/// hardened one, or during the search the exact assignment of the current soft
/// Π. A k-sparse inner gate stays k-sparse at validation and test.
///
/// Several gates can share one Π (a multi-gate model's task gates, see
/// make_task_gates): the first owns it, the others are built with
/// PermutationSearchGate(inner, owner) and route through the owner's Π, adding
/// no penalty and owning no state.
///
/// Module tree (checkpoint format): "inner" (the wrapped gate); an owner also
/// has parameter "logits" (L) and buffers "step" (optimiser steps seen),
/// "hardened" and "permutation" ([n] int64; the identity until hardened).
///
///   auto gate = make_gate("topk", GateOptions(d, n).local_search(true));
///   auto search = std::dynamic_pointer_cast<PermutationSearchGate>(gate);
class PermutationSearchGate : public Gate {
 public:
  /// An owner of its Π. Throws moekit::Error naming the option at fault
  /// (search_steps, tau_start, tau_end, sinkhorn_iters_*, permutation_*).
  PermutationSearchGate(std::shared_ptr<Gate> inner, const GateOptions& options);
  /// A gate that routes through `owner`'s Π (same n_experts).
  PermutationSearchGate(std::shared_ptr<Gate> inner, std::shared_ptr<PermutationSearchGate> owner);

  /// Training and not hardened: Routing::from_dense(weights · Π rescaled, inner
  /// aux + entropy penalty). Otherwise the inner compact routing with
  /// idx' = perm[idx] (-1 slots kept), w' = w, inner aux only.
  Routing forward(const GateInput& in) override;

  /// Counts one optimiser step of the search and hardens Π once search_steps
  /// are reached. A no-op for a gate that does not own its Π, or once hardened.
  void optimizer_step() override;
  /// With search_epochs > 0, search_steps = ceil(search_epochs · steps_per_epoch).
  void set_steps_per_epoch(int64_t steps_per_epoch) override;
  /// The inner gate's per-sequence state (its routing, then permuted as usual).
  at::Tensor start_sequences(const at::Tensor& seq) override { return inner_->start_sequences(seq); }

  /// The soft Π [n, n] at the current step (L's dtype, with autograd), or the
  /// 0/1 permutation matrix once hardened.
  at::Tensor permutation_matrix();
  /// Rounds Π (at the current step's τ) to the nearest permutation, stores it
  /// and stops L's gradient. A no-op once hardened.
  void harden();
  bool hardened() const;
  /// [n] int64: expert i of the inner gate becomes expert permutation()[i];
  /// the identity until hardened.
  at::Tensor permutation() const;
  /// [n] int64: the permutation evaluation routes with now: the hardened one,
  /// or the exact assignment of the current soft Π during the search.
  at::Tensor eval_permutation() const;
  /// Overwrites L (shape [n, n]); it does not undo hardening.
  void set_permutation_logits(const at::Tensor& logits);
  const at::Tensor& permutation_logits() const { return state().logits_; }

  /// Optimiser steps counted so far.
  int64_t step() const;
  /// The temperature and Sinkhorn iterations the next training forward uses.
  double tau() const { return state().tau_at(step()); }
  int64_t sinkhorn_iters() const { return state().sinkhorn_iters_at(step()); }
  /// Optimiser steps of the search phase (after set_steps_per_epoch).
  int64_t search_steps() const { return state().options_.search_steps(); }

  /// True unless this gate routes through another gate's Π.
  bool owns_permutation() const { return owner_ == nullptr; }
  Gate& inner() { return *inner_; }
  const GateOptions& options() const { return state().options_; }

  /// Refuses a checkpoint whose Π layout differs from this gate's (a Π where
  /// this gate shares its owner's, or none where it owns one) with a message
  /// naming permutation_per_task.
  void load(torch::serialize::InputArchive& archive) override;
  void pretty_print(std::ostream& stream) const override;

 private:
  const PermutationSearchGate& state() const { return owner_ ? *owner_ : *this; }
  PermutationSearchGate& state() { return owner_ ? *owner_ : *this; }
  void reset();
  double progress(int64_t step) const;  // 0 at the first search step, 1 at the last
  double tau_at(int64_t step) const;
  int64_t sinkhorn_iters_at(int64_t step) const;
  at::Tensor log_soft_permutation(int64_t step, bool noisy) const;
  void sync_frozen();
  Routing soft_forward(Routing r);
  Routing hard_forward(Routing r, const at::Tensor& perm) const;

  GateOptions options_;
  std::shared_ptr<Gate> inner_;
  std::shared_ptr<PermutationSearchGate> owner_;  // null: this gate owns Π
  at::Tensor logits_;       // L [n, n]
  at::Tensor step_;         // scalar int64
  at::Tensor hardened_;     // scalar bool
  at::Tensor permutation_;  // [n] int64
  // The exact assignment of the soft Π that evaluation uses during the search,
  // cached for the (step, L version) it was computed at.
  mutable std::vector<int64_t> eval_perm_;
  mutable int64_t eval_step_ = -1;
  mutable int64_t eval_version_ = -1;
};

/// Wraps `inner` in permutation local search (an owner of its Π). make_gate()
/// calls this when options.local_search() is set. Throws moekit::Error on bad options.
std::shared_ptr<Gate> wrap_with_permutation_search(std::shared_ptr<Gate> inner,
                                                   const GateOptions& options);

/// What every Π-owning local-search gate in `model` (any depth, module order)
/// routes with now (eval_permutation): before training, each Π's initial
/// argmax; after the search, the hardened permutation.
std::vector<at::Tensor> search_assignments(torch::nn::Module& model);

/// Whether every Π-owning gate in `model` has hardened (true when none).
bool search_hardened(torch::nn::Module& model);

/// Mean over Π's of the Hamming distance between `before` and `after` (the
/// experts whose assignment changed); NaN when there is no Π.
double mean_hamming_distance(const std::vector<at::Tensor>& before,
                             const std::vector<at::Tensor>& after);

/// The reference's penalty on a soft permutation Π [n, n]:
/// Σ_ij -Π_ij log(Π_ij + 1e-6) + Σ_ij -R_ij log(R_ij + 1e-6), R = Π / rowsum(Π).
at::Tensor permutation_entropy(const at::Tensor& pi);

}  // namespace moekit::gates
