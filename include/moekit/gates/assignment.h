#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace moekit::gates {

/// Exact linear assignment (Hungarian / Kuhn-Munkres with potentials, O(n³)):
/// the permutation `perm` minimising Σ_i cost[i, perm[i]] for a square, finite
/// `cost` [n, n] of any floating dtype and device (solved on the CPU in double).
/// Row i is assigned column perm[i]. Throws moekit::Error naming "cost" for a
/// non-square, non-2-D or non-finite matrix.
std::vector<int64_t> solve_assignment(const at::Tensor& cost);

/// The permutation matrix P [n, n] with P[i, perm[i]] = 1 and zeros elsewhere,
/// so that `weights · P` moves the weight of expert i to expert perm[i].
/// Throws moekit::Error naming "perm" unless perm is a permutation of 0..n-1.
at::Tensor permutation_to_matrix(const std::vector<int64_t>& perm,
                                 const at::TensorOptions& options = at::kFloat);

}  // namespace moekit::gates
