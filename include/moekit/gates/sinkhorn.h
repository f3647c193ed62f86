#pragma once
#include <ATen/ATen.h>

#include <cstdint>

namespace moekit::gates {

/// Log-space Sinkhorn normalisation (Mena et al. 2018, "Learning Latent
/// Permutations with Gumbel-Sinkhorn Networks", eq. 2): `iters` rounds of
/// subtracting the row logsumexp, then the column logsumexp, from
/// `log_alpha` [n, n]. Returns the log of the (approximately) doubly
/// stochastic result, [n, n], log_alpha's dtype; differentiable. Working in
/// log space keeps it finite at the tiny temperatures of local search, where
/// the entries of log_alpha reach ~1e4 and exp() would overflow.
/// Throws moekit::Error unless log_alpha is square, 2-D, non-empty and iters >= 1.
at::Tensor log_sinkhorn(const at::Tensor& log_alpha, int64_t iters);

/// exp(log_sinkhorn(log_alpha, iters)): rows and columns sum to ≈ 1, columns
/// exactly after the last iteration.
at::Tensor sinkhorn(const at::Tensor& log_alpha, int64_t iters);

}  // namespace moekit::gates
