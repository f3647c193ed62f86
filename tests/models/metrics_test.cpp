#include "moekit/models/metrics.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "moekit/core/error.h"

namespace moekit::models {
namespace {

TEST(ModelMetrics, RocAucMatchesHandComputedCases) {
  // Perfect ranking and reversed ranking.
  EXPECT_DOUBLE_EQ(roc_auc(torch::tensor({0.1, 0.2, 0.8, 0.9}), torch::tensor({0, 0, 1, 1})), 1.0);
  EXPECT_DOUBLE_EQ(roc_auc(torch::tensor({0.9, 0.8, 0.2, 0.1}), torch::tensor({0, 0, 1, 1})), 0.0);
  // sklearn's docs example: roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.75.
  EXPECT_DOUBLE_EQ(roc_auc(torch::tensor({0.1, 0.4, 0.35, 0.8}), torch::tensor({0, 0, 1, 1})), 0.75);
}

TEST(ModelMetrics, RocAucGivesTiesTheirAverageRank) {
  // Pairs (pos, neg): scores pos {0.5, 0.7}, neg {0.5, 0.2}. Wins: (0.5 vs 0.5) = 1/2,
  // (0.5 vs 0.2) = 1, (0.7 vs 0.5) = 1, (0.7 vs 0.2) = 1 -> 3.5 / 4.
  EXPECT_DOUBLE_EQ(roc_auc(torch::tensor({0.5, 0.7, 0.5, 0.2}), torch::tensor({1, 1, 0, 0})), 0.875);
  // All scores equal: 0.5 whatever the labels.
  EXPECT_DOUBLE_EQ(roc_auc(torch::full({6}, 3.0), torch::tensor({1, 0, 1, 0, 0, 0})), 0.5);
}

TEST(ModelMetrics, RocAucRejectsOneClassAndNonBinaryLabels) {
  EXPECT_THROW(roc_auc(torch::tensor({0.1, 0.2}), torch::tensor({1, 1})), Error);
  EXPECT_THROW(roc_auc(torch::tensor({0.1, 0.2}), torch::tensor({0, 2})), Error);
  EXPECT_THROW(roc_auc(torch::tensor({0.1, 0.2}), torch::tensor({0})), Error);
}

TEST(ModelMetrics, AccuracyAndMse) {
  auto logits = torch::tensor({{2.0, 1.0}, {0.0, 3.0}, {5.0, 4.0}});
  EXPECT_NEAR(accuracy(logits, torch::tensor({0, 1, 1})), 2.0 / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(mean_squared_error(torch::tensor({1.0, 2.0}), torch::tensor({0.0, 4.0})), 2.5);
}

}  // namespace
}  // namespace moekit::models
