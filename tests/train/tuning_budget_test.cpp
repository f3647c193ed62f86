#include "moekit/train/tuning_budget.h"

#include <gtest/gtest.h>

#include <random>

#include "moekit/core/error.h"
#include "moekit/train/tune.h"

namespace moekit::train {
namespace {

TEST(TrainTuningBudget, TrialsToReachIsTheFirstNAtOrBelowTheTarget) {
  const std::vector<double> curve{5.0, 3.0, 2.0, 2.0, 1.5};
  EXPECT_EQ(trials_to_reach(curve, 5.0), 1);
  EXPECT_EQ(trials_to_reach(curve, 2.5), 3);
  EXPECT_EQ(trials_to_reach(curve, 2.0), 3);
  EXPECT_EQ(trials_to_reach(curve, 1.0), 6);  // never: one more than ran
}

TEST(TrainTuningBudget, RatioOfTrialsNeededToReachThePlainArmsBest) {
  const std::vector<double> plain{4.0, 3.0, 2.0, 1.0};
  // The plain arm's curve falls at every n, so it needs all 4 trials for its own best.
  const BudgetRatio found = budget_ratio(plain, {0.5, 0.5, 0.5, 0.5}, 200, 1);
  EXPECT_DOUBLE_EQ(found.target, expected_best_curve(plain).back());
  EXPECT_EQ(found.plain_trials, 4);
  EXPECT_EQ(found.search_trials, 1);
  EXPECT_DOUBLE_EQ(found.ratio, 4.0);
  EXPECT_LE(found.low, found.ratio);
  EXPECT_GE(found.low, 1.0);  // a resample's plain arm needs 1..4 trials
  EXPECT_LE(found.high, 4.0);
  // An arm that never gets there counts one trial more than it ran: R <= 4/5.
  const BudgetRatio never = budget_ratio(plain, {10.0, 10.0, 10.0, 10.0}, 200, 1);
  EXPECT_EQ(never.search_trials, 5);
  EXPECT_DOUBLE_EQ(never.ratio, 0.8);
}

TEST(TrainTuningBudget, PairedArmsAreResampledTogether) {
  // Identical arms: with trial t resampled in both, every replicate gives R = 1.
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> losses(12);
  for (auto& l : losses) l = u(rng);
  const BudgetRatio same = budget_ratio(losses, losses, 300, 2);
  EXPECT_DOUBLE_EQ(same.ratio, 1.0);
  EXPECT_DOUBLE_EQ(same.low, 1.0);
  EXPECT_DOUBLE_EQ(same.high, 1.0);
  // Unequal sizes cannot be paired: resampled apart, the interval widens.
  std::vector<double> longer = losses;
  longer.push_back(losses[0]);
  const BudgetRatio apart = budget_ratio(losses, longer, 300, 2);
  EXPECT_LT(apart.low, apart.high);
}

TEST(TrainTuningBudget, BandHoldsTheCurveAndIsSeeded) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal(1.0, 0.2);
  std::vector<double> losses(20);
  for (auto& l : losses) l = normal(rng);
  const auto curve = expected_best_curve(losses);
  const CurveBand band = expected_best_band(losses, 500, 7);
  ASSERT_EQ(band.low.size(), curve.size());
  for (size_t n = 0; n < curve.size(); ++n) {
    EXPECT_LE(band.low[n], curve[n]) << "n " << n + 1;
    EXPECT_GE(band.high[n], curve[n]) << "n " << n + 1;
  }
  EXPECT_LT(band.low[0], band.high[0]);
  const CurveBand again = expected_best_band(losses, 500, 7);
  EXPECT_EQ(again.low, band.low);
  // Identical trials: no spread.
  const CurveBand flat = expected_best_band({2.0, 2.0, 2.0}, 50, 0);
  for (size_t n = 0; n < 3; ++n) {
    EXPECT_NEAR(flat.low[n], 2.0, 1e-12);
    EXPECT_NEAR(flat.high[n], 2.0, 1e-12);
  }
  EXPECT_THROW(expected_best_band({}, 50, 0), Error);
  EXPECT_THROW(budget_ratio({1.0}, {1.0}, 1, 0), Error);
}

}  // namespace
}  // namespace moekit::train
