#include "moekit/train/thor_loss.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "moekit/core/error.h"
#include "testing/gradcheck.h"

namespace moekit::train {
namespace {

constexpr int kPad = 9;

// Row 0: p = [1/2, 1/4, 1/4] (logits [log 2, 0, 0]); row 1: uniform; row 2: padding.
torch::Tensor skewed_then_uniform(bool swap) {
  const double l2 = std::log(2.0);
  auto rows = torch::tensor({l2, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0, -3.0, 1.0},
                            torch::kDouble).view({3, 3});
  if (swap) rows = rows.index_select(0, torch::tensor({1, 0, 2}));
  return rows;
}

TEST(TrainThorLoss, LabelSmoothedCrossEntropyMatchesHandComputedCase) {
  const double eps = 0.1, l2 = std::log(2.0), l3 = std::log(3.0);
  auto target = torch::tensor({0, 0, kPad}, torch::kLong);
  // Target distribution q = (1 - eps)·one_hot + eps/3. Against p = [1/2, 1/4, 1/4]:
  // -Σ q log p = q0·log 2 + (q1 + q2)·2 log 2 = (1 + 2eps/3)·log 2. Against uniform: log 3.
  const double expected = ((1.0 + 2.0 * eps / 3.0) * l2 + l3) / 2.0;
  auto got = label_smoothed_cross_entropy(skewed_then_uniform(false), target, kPad, eps);
  EXPECT_NEAR(got.item<double>(), expected, 1e-12);
}

TEST(TrainThorLoss, LabelSmoothedCrossEntropyMatchesTorchCrossEntropy) {
  torch::manual_seed(0);
  auto logits = torch::randn({2, 5, 7}, torch::kDouble);
  auto target = torch::randint(7, {2, 5}, torch::kLong);
  target[0][4] = 1;
  target[1][3] = 1;
  target[1][4] = 1;
  namespace F = torch::nn::functional;
  auto reference = F::cross_entropy(
      logits.view({10, 7}), target.view(10),
      F::CrossEntropyFuncOptions().ignore_index(1).label_smoothing(0.1));
  auto got = label_smoothed_cross_entropy(logits, target, /*pad_id=*/1, 0.1);
  EXPECT_NEAR(got.item<double>(), reference.item<double>(), 1e-12);
}

TEST(TrainThorLoss, MatchesHandComputedCase) {
  const double eps = 0.1, alpha = 5.0, l2 = std::log(2.0), l3 = std::log(3.0);
  auto target = torch::tensor({0, 0, kPad}, torch::kLong);
  ThorLoss loss = thor_loss(skewed_then_uniform(false), skewed_then_uniform(true), target, kPad,
                            alpha, eps);
  const double ce = ((1.0 + 2.0 * eps / 3.0) * l2 + l3) / 2.0;
  // ½ Σ (p1 - p2)(log p1 - log p2) for [1/2, 1/4, 1/4] vs uniform:
  // ½ [(1/6) log(3/2) + 2 · (-1/12) log(3/4)] = (1/12) log 2, the same on both rows.
  const double kl = l2 / 12.0;
  EXPECT_NEAR(loss.ce1.item<double>(), ce, 1e-12);
  EXPECT_NEAR(loss.ce2.item<double>(), ce, 1e-12);
  EXPECT_NEAR(loss.consistency.item<double>(), kl, 1e-12);
  EXPECT_NEAR(loss.total.item<double>(), 2 * ce + alpha * kl, 1e-12);
}

TEST(TrainThorLoss, ConsistencyIsTheSymmetricKLNotEitherDirection) {
  // One token, p1 = (0.9, 0.1), p2 = (0.5, 0.5): KL(p1‖p2) = 0.9 log 1.8 + 0.1 log 0.2
  // = 0.36806, KL(p2‖p1) = 0.5 log(5/9) + 0.5 log 5 = 0.51083; THOR's term is
  // their mean, 0.43944, which neither direction alone gives.
  auto l1 = torch::tensor({{std::log(0.9), std::log(0.1)}}, torch::kDouble);
  auto l2 = torch::tensor({{0.0, 0.0}}, torch::kDouble);
  auto target = torch::tensor({0}, torch::kLong);
  const double kl12 = 0.9 * std::log(1.8) + 0.1 * std::log(0.2);
  const double kl21 = 0.5 * std::log(5.0 / 9.0) + 0.5 * std::log(5.0);
  ASSERT_GT(std::abs(kl12 - kl21), 0.1);
  const double c = thor_loss(l1, l2, target, kPad, 1.0, 0.0).consistency.item<double>();
  EXPECT_NEAR(c, 0.5 * (kl12 + kl21), 1e-12);
  // Symmetric: swapping the passes gives the same value.
  EXPECT_NEAR(thor_loss(l2, l1, target, kPad, 1.0, 0.0).consistency.item<double>(), c, 1e-15);
}

TEST(TrainThorLoss, AlphaZeroDropsConsistencyTerm) {
  auto target = torch::tensor({0, 0, kPad}, torch::kLong);
  ThorLoss loss = thor_loss(skewed_then_uniform(false), skewed_then_uniform(true), target, kPad,
                            /*alpha=*/0.0);
  EXPECT_EQ(loss.consistency.item<double>(), 0.0);
  EXPECT_NEAR(loss.total.item<double>(), (loss.ce1 + loss.ce2).item<double>(), 1e-12);
}

TEST(TrainThorLoss, PaddingTokensDoNotChangeTheLoss) {
  auto target = torch::tensor({0, 0, kPad}, torch::kLong);
  auto l1 = skewed_then_uniform(false), l2 = skewed_then_uniform(true);
  const double before = thor_loss(l1, l2, target, kPad).total.item<double>();
  l1[2] = torch::tensor({-7.0, 2.0, 30.0}, torch::kDouble);
  const double after = thor_loss(l1, l2, target, kPad).total.item<double>();
  EXPECT_EQ(before, after);
}

TEST(TrainThorLoss, GradMatchesFiniteDifferences) {
  torch::manual_seed(0);
  auto l1 = torch::randn({2, 3, 5}, torch::kDouble).requires_grad_();
  auto l2 = torch::randn({2, 3, 5}, torch::kDouble).requires_grad_();
  auto target = torch::tensor({{1, 4, 0}, {2, 0, 0}});
  testing::expect_grad_matches_finite_differences(
      [&] { return thor_loss(l1, l2, target, /*pad_id=*/0, 1.5, 0.1).total; }, {l1, l2});
}

TEST(TrainThorLoss, RejectsMismatchedShapes) {
  auto l = torch::zeros({4, 5});
  EXPECT_THROW(thor_loss(l, torch::zeros({4, 6}), torch::zeros({4}, torch::kLong), 0), Error);
  EXPECT_THROW(label_smoothed_cross_entropy(l, torch::zeros({3}, torch::kLong), 0), Error);
  EXPECT_THROW(label_smoothed_cross_entropy(l, torch::zeros({4}), 0), Error);
  EXPECT_THROW(thor_loss(l, l, torch::zeros({4}, torch::kLong), 0, /*alpha=*/-1.0), Error);
}

}  // namespace
}  // namespace moekit::train
