#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <ostream>

#include "moekit/gates/gate.h"

namespace moekit::gates {

/// COMET's permutation-based local search (Ibrahim et al., KDD 2023, §4) as a
/// decorator around any gate. A learnable L [n, n] gives the soft permutation
/// Π = Sinkhorn(L / τ); the inner gate's expert weights are re-mapped by it,
/// weights' = weights · Π (expert j gets Σ_i weights_i · Π_ij), so rows still
/// sum to what they summed to. τ anneals log-linearly from tau_start to
/// tau_end and the Sinkhorn iterations rise linearly from
/// sinkhorn_iters_start to sinkhorn_iters_end over search_steps training
/// forwards; then Π is hardened to the nearest permutation (exact assignment)
/// and frozen, and the wrapper maps the inner compact routing exactly
/// (idx' = permutation[idx]), so a k-sparse inner gate stays k-sparse.
///
/// Module tree (checkpoint format): "inner" (the wrapped gate), parameter
/// "logits" (L), buffers "step" (training forwards seen), "hardened" and
/// "permutation" ([n] int64; the identity until hardened).
///
///   auto gate = make_gate("softmax", GateOptions(d, n).local_search(true));
///   auto search = std::dynamic_pointer_cast<PermutationSearchGate>(gate);
class PermutationSearchGate : public Gate {
 public:
  /// Throws moekit::Error naming the option at fault (search_steps, tau_start,
  /// tau_end, sinkhorn_iters_start, sinkhorn_iters_end, permutation_entropy_weight).
  PermutationSearchGate(std::shared_ptr<Gate> inner, const GateOptions& options);

  /// Soft phase: Routing::from_dense(weights · Π, inner aux + entropy penalty).
  /// Hard phase: the inner compact routing with idx' = permutation[idx]
  /// (-1 slots kept), w' = w, inner aux only. A training-mode forward counts a
  /// step and hardens once search_steps are reached.
  Routing forward(const GateInput& in) override;

  /// The current Π [n, n] in L's dtype: Sinkhorn(L / τ(step)) with autograd in
  /// the soft phase, the 0/1 permutation matrix once hardened.
  at::Tensor permutation_matrix();
  /// Rounds Π (at the current step's τ) to the nearest permutation, stores it
  /// and stops L's gradient. A no-op once hardened.
  void harden();
  bool hardened() const;
  /// [n] int64: expert i of the inner gate becomes expert permutation()[i].
  at::Tensor permutation() const;
  /// Overwrites L (shape [n, n]); it does not undo hardening.
  void set_permutation_logits(const at::Tensor& logits);
  const at::Tensor& permutation_logits() const { return logits_; }

  /// Training forwards seen so far (soft and hard phase).
  int64_t step() const;
  /// The temperature and Sinkhorn iterations the next training forward uses.
  double tau() const { return tau_at(step()); }
  int64_t sinkhorn_iters() const { return sinkhorn_iters_at(step()); }

  Gate& inner() { return *inner_; }
  const GateOptions& options() const { return options_; }

  void pretty_print(std::ostream& stream) const override;

 private:
  void reset();
  double progress(int64_t step) const;  // 0 at the first search step, 1 at the last
  double tau_at(int64_t step) const;
  int64_t sinkhorn_iters_at(int64_t step) const;
  at::Tensor log_soft_permutation(int64_t step) const;
  void sync_frozen();
  Routing soft_forward(Routing r, int64_t step) const;
  Routing hard_forward(Routing r) const;

  GateOptions options_;
  std::shared_ptr<Gate> inner_;
  at::Tensor logits_;       // L [n, n]
  at::Tensor step_;         // scalar int64
  at::Tensor hardened_;     // scalar bool
  at::Tensor permutation_;  // [n] int64
};

/// Wraps `inner` in permutation local search. make_gate() calls this when
/// options.local_search() is set. Throws moekit::Error on bad options.
std::shared_ptr<Gate> wrap_with_permutation_search(std::shared_ptr<Gate> inner,
                                                   const GateOptions& options);

}  // namespace moekit::gates
