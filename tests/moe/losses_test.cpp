#include "moekit/moe/losses.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "testing/gradcheck.h"

namespace moekit::moe {
namespace {

TEST(MoeLosses, SymmetricKlMatchesHandComputedValue) {
  // p1 = (0.5, 0.5), p2 = (0.8, 0.2) (logits are log-probabilities).
  auto l1 = torch::tensor({{std::log(0.5), std::log(0.5)}}, torch::kDouble);
  auto l2 = torch::tensor({{std::log(0.8), std::log(0.2)}}, torch::kDouble);
  const double kl12 = 0.5 * std::log(0.5 / 0.8) + 0.5 * std::log(0.5 / 0.2);
  const double kl21 = 0.8 * std::log(0.8 / 0.5) + 0.2 * std::log(0.2 / 0.5);
  EXPECT_NEAR(symmetric_kl(l1, l2).item<double>(), 0.5 * (kl12 + kl21), 1e-12);
}

TEST(MoeLosses, SymmetricKlIsZeroForEqualAndMasksRows) {
  auto a = torch::randn({3, 5}, torch::kDouble);
  EXPECT_NEAR(symmetric_kl(a, a).item<double>(), 0.0, 1e-12);
  auto b = a.clone();
  b[2] += torch::randn({5}, torch::kDouble);  // only the masked-out row differs
  auto mask = torch::tensor({true, true, false});
  EXPECT_NEAR(symmetric_kl(a, b, mask).item<double>(), 0.0, 1e-12);
  EXPECT_GT(symmetric_kl(a, b).item<double>(), 0.0);
}

TEST(MoeLosses, SymmetricKlGradMatchesFiniteDifferences) {
  torch::manual_seed(0);
  auto a = torch::randn({3, 4}, torch::kDouble).requires_grad_();
  auto b = torch::randn({3, 4}, torch::kDouble).requires_grad_();
  auto mask = torch::tensor({true, false, true});
  testing::expect_grad_matches_finite_differences([&] { return symmetric_kl(a, b, mask); }, {a, b});
}

}  // namespace
}  // namespace moekit::moe
