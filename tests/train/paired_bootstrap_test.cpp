#include "moekit/train/paired_bootstrap.h"

#include <gtest/gtest.h>

#include "moekit/core/error.h"

namespace moekit::train {
namespace {

// Statistic: accuracy, rows (correct, 1).
double accuracy(const std::vector<double>& v) { return 100.0 * v[0] / v[1]; }

SentenceStats rows(const std::vector<int>& correct) {
  SentenceStats out;
  for (int c : correct) out.push_back({static_cast<double>(c), 1.0});
  return out;
}

TEST(TrainPairedBootstrap, IdenticalSystemsDifferByNothing) {
  const auto a = rows({1, 0, 1, 1, 0, 1, 0, 0, 1, 1});
  const auto r = paired_bootstrap(a, a, accuracy, {200, 1});
  EXPECT_DOUBLE_EQ(r.difference, 0.0);
  EXPECT_DOUBLE_EQ(r.low, 0.0);
  EXPECT_DOUBLE_EQ(r.high, 0.0);
  // Every resampled difference is 0 and reaches the observed 0: p = 1
  // (sacreBLEU's strict '>' would give 1 / (n + 1), as if they differed).
  EXPECT_DOUBLE_EQ(r.p_value, 1.0);
}

TEST(TrainPairedBootstrap, AClearlyBetterSystemIsSignificant) {
  std::vector<int> worse, better;
  for (int i = 0; i < 200; ++i) {
    worse.push_back(i % 2);          // 50%
    better.push_back(i % 10 != 0);   // 90%
  }
  const auto r = paired_bootstrap(rows(worse), rows(better), accuracy, {1000, 12345});
  EXPECT_DOUBLE_EQ(r.baseline, 50.0);
  EXPECT_DOUBLE_EQ(r.system, 90.0);
  EXPECT_DOUBLE_EQ(r.difference, 40.0);
  EXPECT_LT(r.low, 40.0);
  EXPECT_GT(r.high, 40.0);
  EXPECT_GT(r.low, 25.0);  // the interval excludes 0 by far
  EXPECT_LT(r.p_value, 0.01);
  EXPECT_EQ(r.resamples, 1000);
  // Same seed, same answer; the interval follows the resampled differences.
  const auto again = paired_bootstrap(rows(worse), rows(better), accuracy, {1000, 12345});
  EXPECT_DOUBLE_EQ(again.low, r.low);
  EXPECT_DOUBLE_EQ(again.p_value, r.p_value);
}

TEST(TrainPairedBootstrap, AnEmptySystemIsSignificantlyWorse) {
  // B gets nothing right (an empty output); A 60%: no resample comes near.
  std::vector<int> a, empty(150, 0);
  for (int i = 0; i < 150; ++i) a.push_back(i % 5 < 3);
  const auto r = paired_bootstrap(rows(a), rows(empty), accuracy, {1000, 12345});
  EXPECT_DOUBLE_EQ(r.difference, -60.0);
  EXPECT_DOUBLE_EQ(r.p_value, 1.0 / 1001);
  EXPECT_LT(r.high, -45.0);
}

TEST(TrainPairedBootstrap, NoiseIsNotSignificant) {
  // B flips two of 100 answers of A, one each way: no real difference.
  std::vector<int> a, b;
  for (int i = 0; i < 100; ++i) {
    a.push_back(i % 3 == 0);
    b.push_back(i % 3 == 0);
  }
  b[0] = 0;
  b[1] = 1;
  const auto r = paired_bootstrap(rows(a), rows(b), accuracy, {1000, 7});
  EXPECT_DOUBLE_EQ(r.difference, 0.0);
  EXPECT_LE(r.low, 0.0);
  EXPECT_GE(r.high, 0.0);
  EXPECT_GT(r.p_value, 0.05);  // sacreBLEU's centred test: about 0.27 here
}

TEST(TrainPairedBootstrap, RejectsMismatchedSystems) {
  EXPECT_THROW(paired_bootstrap(rows({1, 0}), rows({1}), accuracy), Error);
  EXPECT_THROW(paired_bootstrap(rows({}), rows({}), accuracy), Error);
  EXPECT_THROW(paired_bootstrap(rows({1}), rows({1}), accuracy, {0, 1}), Error);
}

}  // namespace
}  // namespace moekit::train
