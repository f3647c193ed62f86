#include "moekit/train/paired_stats.h"

#include <gtest/gtest.h>

#include <cmath>

#include "moekit/core/error.h"

namespace moekit::train {
namespace {

TEST(TrainPairedStats, TQuantilesMatchTheTable) {
  EXPECT_NEAR(t_quantile_975(1), 12.7062, 1e-4);
  EXPECT_NEAR(t_quantile_975(4), 2.7764, 1e-4);
  EXPECT_NEAR(t_quantile_975(30), 2.0423, 1e-4);
  EXPECT_NEAR(t_quantile_975(40), 2.0211, 1e-4);  // published values beyond the table
  EXPECT_NEAR(t_quantile_975(60), 2.0003, 1e-4);
  EXPECT_NEAR(t_quantile_975(120), 1.9799, 1e-4);
  EXPECT_THROW(t_quantile_975(0), Error);
}

TEST(TrainPairedStats, PairedDifferenceIsMeanAndTIntervalOfPerSeedDifferences) {
  // Differences 1, 2, 3: mean 2, sample std 1, s.e. 1/sqrt(3), t(2) = 4.3027.
  const auto d = paired_difference({2, 4, 6}, {1, 2, 3});
  EXPECT_EQ(d.n, 3);
  EXPECT_DOUBLE_EQ(d.mean, 2.0);
  EXPECT_NEAR(d.high - d.mean, 4.3027 / std::sqrt(3.0), 1e-4);
  EXPECT_NEAR(d.mean - d.low, 4.3027 / std::sqrt(3.0), 1e-4);
  EXPECT_TRUE(std::isnan(paired_difference({1}, {0}).low));
}

}  // namespace
}  // namespace moekit::train
