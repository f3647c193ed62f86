#pragma once
#include <ATen/ATen.h>

namespace moekit::gates {

/// The cubic smooth-step of DSelect-k (Hazimeh et al. 2021), used by the
/// dselectk and comet gates:
///
///   S_γ(t) = 0                                 for t <= -γ/2
///            -2/γ³·t³ + 3/(2γ)·t + 1/2         for -γ/2 < t < γ/2
///            1                                 for t >= γ/2
///
/// S is C¹ (S' -> 0 at both band edges). Outside the band the value is exactly
/// 0 or 1 and autograd gives exactly 0, which is what lets the gates reach
/// exact sparsity and stop training saturated splits.
/// `t`: any shape, floating dtype; returns the same shape and dtype.
/// Throws moekit::Error naming "gamma" unless gamma > 0.
at::Tensor smooth_step(const at::Tensor& t, double gamma);

}  // namespace moekit::gates
