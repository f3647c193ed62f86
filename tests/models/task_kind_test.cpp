#include "moekit/models/task_kind.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "moekit/models/multi_task_model.h"
#include "testing/errors.h"

namespace moekit::models {
namespace {

TEST(ModelTaskKind, EachKindHasItsLossAndMetric) {
  const auto& classification = task_kind("classification", "t");
  const auto& binary = task_kind("binary", "t");
  const auto& regression = task_kind("regression", "t");
  EXPECT_FALSE(classification.squeeze_output);
  EXPECT_TRUE(binary.squeeze_output);
  EXPECT_TRUE(regression.squeeze_output);
  EXPECT_STREQ(classification.metric, "accuracy");
  EXPECT_STREQ(binary.metric, "auc");
  EXPECT_STREQ(regression.metric, "mse");

  // Uniform logits over 4 classes: cross-entropy log 4 per row; accuracy of argmax.
  const at::Tensor logits = torch::tensor({{0.0, 0.0, 0.0, 0.0}, {5.0, 0.0, 0.0, 0.0}});
  const at::Tensor labels = torch::tensor({int64_t{1}, int64_t{0}});
  EXPECT_NEAR(classification.per_row_loss(logits, labels)[0].item<double>(), std::log(4.0), 1e-6);
  EXPECT_DOUBLE_EQ(classification.metric_value(logits, labels, {}), 0.5);
  // Logit 0: log 2 whatever the label; scores ranked perfectly: AUC 1.
  const at::Tensor scores = torch::tensor({0.0, 2.0, -1.0});
  const at::Tensor truth = torch::tensor({1.0, 1.0, 0.0});
  EXPECT_NEAR(binary.per_row_loss(scores, truth)[0].item<double>(), std::log(2.0), 1e-6);
  EXPECT_DOUBLE_EQ(binary.metric_value(scores, truth, {}), 1.0);
  // Squared error per row; the metric skips rows whose mask is 0.
  const at::Tensor y = torch::tensor({1.0, 3.0, 10.0});
  const at::Tensor target = torch::tensor({0.0, 1.0, 0.0});
  EXPECT_TRUE(regression.per_row_loss(y, target).equal(torch::tensor({1.0, 4.0, 100.0})));
  EXPECT_DOUBLE_EQ(regression.metric_value(y, target, torch::tensor({1.0, 1.0, 0.0})), 2.5);
}

TEST(ModelTaskKind, UnknownKindIsAnErrorNamingItAndTheKinds) {
  moekit::testing::expect_error([] { task_kind("ranking", "tasks.t"); },
                        {"tasks.t", "unknown task kind 'ranking'",
                         "expected classification, binary or regression"});
  moekit::testing::expect_error(
      [] { MultiTaskModel(MultiTaskModelOptions({4}, {{"t", "ranking", 1}}).expert("mlp")); },
      {"tasks.t", "'ranking'"});
  ASSERT_EQ(task_kinds().size(), 3u);
}

}  // namespace
}  // namespace moekit::models
