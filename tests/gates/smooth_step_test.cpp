#include "moekit/gates/smooth_step.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "moekit/core/error.h"
#include "testing/gradcheck.h"

namespace moekit::gates {
namespace {

TEST(GateSmoothStep, ExactZeroOneAndZeroGradientOutsideBand) {
  const double gamma = 0.7;  // ±γ/2 is not exactly representable through the cubic
  auto t = torch::tensor({-5.0, -gamma / 2, -gamma / 2 - 1e-9, gamma / 2, gamma / 2 + 1e-9, 3.0},
                         torch::kDouble)
               .requires_grad_();
  auto s = smooth_step(t, gamma);
  const std::vector<double> expected{0, 0, 0, 1, 1, 1};
  for (int64_t i = 0; i < t.numel(); ++i) EXPECT_EQ(s[i].item<double>(), expected[i]) << i;
  s.sum().backward();
  for (int64_t i = 0; i < t.numel(); ++i) EXPECT_EQ(t.grad()[i].item<double>(), 0.0) << i;
}

TEST(GateSmoothStep, HalfAtZeroAndMatchesCubicInsideBand) {
  const double gamma = 2.0;
  EXPECT_EQ(smooth_step(torch::zeros({1}, torch::kDouble), gamma).item<double>(), 0.5);
  auto t = torch::linspace(-0.99, 0.99, 11, torch::kDouble);
  auto expected = -2.0 / (gamma * gamma * gamma) * t.pow(3) + 1.5 / gamma * t + 0.5;
  EXPECT_TRUE(torch::allclose(smooth_step(t, gamma), expected, 1e-12, 1e-14));
  // Float inputs keep their dtype.
  EXPECT_EQ(smooth_step(t.to(torch::kFloat), gamma).scalar_type(), torch::kFloat);
}

TEST(GateSmoothStep, ContinuousAndC1AtBandEdges) {
  const double gamma = 1.5, eps = 1e-5;
  auto t = torch::tensor({-gamma / 2 + eps, gamma / 2 - eps}, torch::kDouble).requires_grad_();
  auto s = smooth_step(t, gamma);
  // Value gap is O(eps²), slope O(eps): S' = 6·eps/γ² - 6·eps²/γ³ just inside.
  EXPECT_NEAR(s[0].item<double>(), 0.0, 1e-9);
  EXPECT_NEAR(s[1].item<double>(), 1.0, 1e-9);
  s.sum().backward();
  const double slope = 6 * eps / (gamma * gamma) - 6 * eps * eps / (gamma * gamma * gamma);
  EXPECT_NEAR(t.grad()[0].item<double>(), slope, 1e-12);
  EXPECT_NEAR(t.grad()[1].item<double>(), slope, 1e-12);
  EXPECT_LT(t.grad().abs().max().item<double>(), 1e-4);
}

TEST(GateSmoothStep, GradMatchesFiniteDifferences) {
  torch::manual_seed(0);
  const double gamma = 1.3;
  // Strictly inside the band (and one point on each side of it).
  auto t = ((torch::rand({12}, torch::kDouble) - 0.5) * 0.9 * gamma);
  t = torch::cat({t, torch::tensor({-2.0, 2.0}, torch::kDouble)}).requires_grad_();
  auto probe = torch::randn({14}, torch::kDouble);
  testing::expect_grad_matches_finite_differences(
      [&] { return (smooth_step(t, gamma) * probe).sum(); }, {t});
}

TEST(GateSmoothStep, RejectsNonPositiveGamma) {
  auto t = torch::zeros({2});
  for (double gamma : {0.0, -1.0}) {
    try {
      smooth_step(t, gamma);
      FAIL() << "expected moekit::Error for gamma " << gamma;
    } catch (const Error& e) {
      EXPECT_EQ(e.where(), "gamma");
    }
  }
}

}  // namespace
}  // namespace moekit::gates
