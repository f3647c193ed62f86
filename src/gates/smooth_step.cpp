#include "moekit/gates/smooth_step.h"

#include <ATen/ATen.h>

#include "moekit/core/error.h"

namespace moekit::gates {

at::Tensor smooth_step(const at::Tensor& t, double gamma) {
  MOEKIT_CHECK(gamma > 0, "gamma", "the smooth-step width must be > 0, got {}", gamma);
  const double half = gamma / 2;
  // Clamping first makes autograd's gradient exactly 0 outside the band (clamp
  // passes no gradient there), and the cubic's own slope is 0 at ±γ/2, so the
  // clamp adds no kink. The outer `where` pins the values to exactly 0 and 1:
  // the cubic at ±γ/2 is 0/1 only up to rounding for general γ.
  const at::Tensor tc = t.clamp(-half, half);
  const at::Tensor cubic = tc.pow(3) * (-2.0 / (gamma * gamma * gamma)) + tc * (1.5 / gamma) + 0.5;
  return at::where(t >= half, at::ones_like(cubic),
                   at::where(t <= -half, at::zeros_like(cubic), cubic));
}

}  // namespace moekit::gates
