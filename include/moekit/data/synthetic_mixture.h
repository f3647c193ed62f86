#pragma once
#include <ATen/ATen.h>
#include <torch/arg.h>

namespace moekit::data {

/// Options of a regression task drawn from a known sparse mixture of experts.
struct SyntheticMixtureOptions {
  TORCH_ARG(int64_t, rows) = 4096;
  TORCH_ARG(int64_t, d_in) = 16;
  TORCH_ARG(int64_t, d_out) = 4;
  /// Experts of the teacher.
  TORCH_ARG(int64_t, n_experts) = 8;
  /// Experts each cluster mixes (the teacher's sparsity).
  TORCH_ARG(int64_t, k) = 2;
  /// Input clusters; each has its own k experts and mixing weights, and its
  /// index is the example's id (the key a hash gate reads).
  TORCH_ARG(int64_t, n_clusters) = 32;
  /// Spread of inputs around their cluster centre.
  TORCH_ARG(double, input_noise) = 0.5;
  /// Std of the noise added to the targets.
  TORCH_ARG(double, target_noise) = 0.05;
  TORCH_ARG(int64_t, seed) = 0;

 public:
  void validate() const;  // throws moekit::Error naming the field
};

/// x [rows, d_in] float, y [rows, d_out] float, ids [rows] int64 (cluster).
struct SyntheticMixture {
  at::Tensor x, y, ids;
};

/// Draws the teacher (cluster centres, per-cluster expert sets and weights,
/// experts y = tanh(A_e x + c_e)) from `seed`, then `rows` examples from it.
/// The same options give the same teacher; `sample_seed` picks the examples,
/// so train and test sets share a teacher and differ in rows.
SyntheticMixture make_synthetic_mixture(const SyntheticMixtureOptions& options,
                                        int64_t sample_seed);

}  // namespace moekit::data
