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

// ½(KL(p‖q) + KL(q‖p)) of two discrete distributions, written out.
double symmetric_kl(const std::vector<double>& p, const std::vector<double>& q) {
  double kl_pq = 0, kl_qp = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    kl_pq += p[i] * std::log(p[i] / q[i]);
    kl_qp += q[i] * std::log(q[i] / p[i]);
  }
  return 0.5 * (kl_pq + kl_qp);
}

TEST(ModelTaskKind, ConsistencyIsTheSymmetricDivergenceOfEachKindsPrediction) {
  const auto& classification = task_kind("classification", "t");
  const auto& binary = task_kind("binary", "t");
  const auto& regression = task_kind("regression", "t");
  // Softmax of {0, log 2, log 3} = {1, 2, 3}/6 against a uniform prediction.
  const at::Tensor a = torch::tensor({{0.0, std::log(2.0), std::log(3.0)}}, torch::kDouble);
  const at::Tensor b = torch::zeros({1, 3}, torch::kDouble);
  EXPECT_NEAR(classification.per_row_consistency(a, b)[0].item<double>(),
              symmetric_kl({1.0 / 6, 2.0 / 6, 3.0 / 6}, {1.0 / 3, 1.0 / 3, 1.0 / 3}), 1e-12);
  // sigmoid(log 3) = 0.75, sigmoid(0) = 0.5.
  const at::Tensor sa = torch::tensor({std::log(3.0), 0.0}, torch::kDouble);
  const at::Tensor sb = torch::tensor({0.0, 0.0}, torch::kDouble);
  const at::Tensor bern = binary.per_row_consistency(sa, sb);
  EXPECT_NEAR(bern[0].item<double>(), symmetric_kl({0.75, 0.25}, {0.5, 0.5}), 1e-12);
  EXPECT_EQ(bern[1].item<double>(), 0.0);
  // Unit-variance Gaussians: ½(μ1 − μ2)².
  const at::Tensor ra = torch::tensor({1.0, -2.0}, torch::kDouble);
  const at::Tensor rb = torch::tensor({3.0, -2.0}, torch::kDouble);
  EXPECT_TRUE(regression.per_row_consistency(ra, rb).equal(torch::tensor({2.0, 0.0}, torch::kDouble)));
  // Symmetric in its arguments.
  EXPECT_NEAR(classification.per_row_consistency(b, a)[0].item<double>(),
              classification.per_row_consistency(a, b)[0].item<double>(), 1e-15);
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
