#pragma once
#include <ATen/ATen.h>

namespace moekit::gates {

/// A gate's decision for a batch of T rows over n experts.
///
/// `weights` is the dense form with exact zeros for experts that are off.
/// `idx`/`w` is the compact form dispatch consumes: row t sends its input to
/// expert idx[t, j] with weight w[t, j]; idx = -1 marks an empty slot (w = 0),
/// e.g. a token dropped by Switch's capacity or a zero of a dense gate.
/// A weight above this counts as an active expert (the papers' 1e-5).
constexpr double kActiveWeight = 1e-5;

struct Routing {
  at::Tensor weights;   // [T, n], x's dtype
  at::Tensor idx;       // [T, k_eff] int64, -1 = no expert
  at::Tensor w;         // [T, k_eff], x's dtype
  at::Tensor aux_loss;  // scalar, already scaled by its weight

  int64_t rows() const { return weights.size(0); }
  int64_t n_experts() const { return weights.size(1); }
  int64_t k_eff() const { return idx.size(1); }

  /// Builds the compact form from dense weights: k_eff = the largest number of
  /// non-zeros in a row (one host sync), slots beyond a row's non-zeros get -1.
  /// `w` is gathered from `weights`, so gradients flow back to it.
  static Routing from_dense(at::Tensor weights, at::Tensor aux_loss);

  /// Builds the dense form from the compact one (idx = -1 slots are ignored).
  /// Gradients flow from `weights` back to `w`.
  static Routing from_compact(at::Tensor idx, at::Tensor w, int64_t n_experts,
                              at::Tensor aux_loss);

  /// Mean number of active experts per row: weights above kActiveWeight, as
  /// the COMET and DSelect-k papers count them.
  double mean_active_experts() const;
};

}  // namespace moekit::gates
