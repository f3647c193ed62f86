#include "moekit/models/multi_task_model.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "moekit/core/error.h"

namespace moekit::models {
namespace {

TEST(ModelMultiTaskModel, CnnExpertsGiveOneOutputPerTask) {
  torch::manual_seed(0);
  MultiTaskModelOptions options({1, 36, 36}, {{"a", "classification", 10}, {"b", "classification", 10}});
  options.n_experts(3).gate("topk").gate_options(gates::GateOptions(0, 0).k(2));
  MultiTaskModel model(options);
  data::MultiTaskDataset batch{torch::rand({5, 1, 36, 36}), {}, {},
                               {torch::randint(10, {5}), torch::randint(10, {5})}, {}};
  auto out = model->forward(batch);
  ASSERT_EQ(out.outputs.size(), 2u);
  EXPECT_EQ(out.outputs[0].sizes(), (std::vector<int64_t>{5, 10}));
  EXPECT_EQ(out.routings[1].weights.sizes(), (std::vector<int64_t>{5, 3}));
  EXPECT_TRUE(model->loss(out, batch).isfinite().item<bool>());
}

TEST(ModelMultiTaskModel, MaskedRegressionLossCountsOnlyMaskedRows) {
  torch::manual_seed(0);
  MultiTaskModelOptions options({4}, {{"r", "regression", 1}});
  options.expert("mlp").n_experts(2);
  MultiTaskModel model(options);
  auto out = torch::tensor({1.0, 2.0, 3.0});
  auto target = torch::tensor({1.0, 0.0, 5.0});
  EXPECT_DOUBLE_EQ(model->task_loss(0, out, target, torch::tensor({1.0, 0.0, 1.0})).item<double>(), 2.0);
  EXPECT_NEAR(model->task_loss(0, out, target, {}).item<double>(), 8.0 / 3.0, 1e-6);
}

TEST(ModelMultiTaskModel, CategoricalColumnsAreEmbedded) {
  torch::manual_seed(0);
  MultiTaskModelOptions options({3}, {{"w", "binary", 1}, {"r", "regression", 1}});
  options.expert("mlp").n_experts(4).categorical_sizes({10, 7}).embedding_dim(5).gate("hash");
  options.gate_options(gates::GateOptions(0, 0).n_ids(10));
  MultiTaskModel model(options);
  auto cat = torch::stack({torch::randint(10, {6}), torch::randint(7, {6})}, 1);
  data::MultiTaskDataset batch{torch::rand({6, 3}), cat, cat.select(1, 0),
                               {torch::randint(2, {6}).to(torch::kFloat), torch::rand({6})}, {}};
  auto out = model->forward(batch);
  EXPECT_EQ(out.outputs[0].sizes(), (std::vector<int64_t>{6}));
  EXPECT_EQ(out.routings[0].k_eff(), 1);
  // The embeddings reach the output: another id in the second column (the
  // hash key stays) changes that row's prediction and no other.
  auto other = batch;
  other.categorical = cat.clone();
  other.categorical[2][1] = (cat[2][1].item<int64_t>() + 1) % 7;
  auto moved = model->forward(other).outputs[1];
  const auto changed = moved.ne(out.outputs[1]);
  EXPECT_TRUE(changed[2].item<bool>());
  EXPECT_EQ(changed.sum().item<int64_t>(), 1);
  // ... and the embedding rows of the ids used get a gradient.
  auto loss = model->loss(out, batch);
  auto table = model->named_parameters()["embedding_1.weight"];
  auto g = torch::autograd::grad({loss}, {table})[0];
  EXPECT_GT(g[cat[0][1].item<int64_t>()].abs().max().item<double>(), 0.0);
}

TEST(ModelMultiTaskModel, LocalSearchLearnsOnePermutationForAllTasks) {
  // The reference's default: one Π shared by every task gate of the model.
  auto count_permutations = [](bool per_task) {
    torch::manual_seed(0);
    MultiTaskModelOptions options({4}, {{"a", "binary", 1}, {"b", "regression", 1},
                                        {"c", "binary", 1}});
    options.expert("mlp").n_experts(4).gate("topk").gate_options(
        gates::GateOptions(0, 0).k(2).local_search(true).permutation_per_task(per_task));
    MultiTaskModel model(options);
    int64_t n = 0;
    for (const auto& p : model->named_parameters()) n += p.key().find("logits") != std::string::npos;
    // Every task routes through the same Π: after hardening, the same permutation.
    model->eval();
    data::MultiTaskDataset batch{torch::rand({6, 4}), {}, {},
                                 {torch::rand({6}), torch::rand({6}), torch::rand({6})}, {}};
    auto out = model->forward(batch);
    EXPECT_EQ(out.routings.size(), 3u);
    return n;
  };
  EXPECT_EQ(count_permutations(false), 1);
  EXPECT_EQ(count_permutations(true), 3);
}

TEST(ModelMultiTaskModel, DenseExpertsDropOutInTrainingOnly) {
  torch::manual_seed(0);
  MultiTaskModelOptions options({0}, {{"w", "binary", 1}, {"r", "regression", 1}});
  options.expert("dense").expert_dropout(0.5).n_experts(3).expert_width(16);
  options.categorical_sizes({10, 7}).embedding_dim(4);  // ids only: no side features
  MultiTaskModel model(options);
  auto cat = torch::stack({torch::randint(10, {8}), torch::randint(7, {8})}, 1);
  data::MultiTaskDataset batch{torch::zeros({8, 0}), cat, cat.select(1, 0),
                               {torch::randint(2, {8}).to(torch::kFloat), torch::rand({8})}, {}};
  model->eval();
  const auto a = model->forward(batch).outputs[1], b = model->forward(batch).outputs[1];
  EXPECT_TRUE(a.equal(b));
  model->train();
  const auto c = model->forward(batch).outputs[1], d = model->forward(batch).outputs[1];
  EXPECT_FALSE(c.equal(d));
  EXPECT_EQ(model->named_parameters()["moe.experts.expert_0.fc.weight"].sizes(),
            (std::vector<int64_t>{16, 8}));
}

TEST(ModelMultiTaskModel, RejectsBadOptions) {
  EXPECT_THROW(MultiTaskModel(MultiTaskModelOptions({1, 36, 36}, {})), Error);
  EXPECT_THROW(MultiTaskModel(MultiTaskModelOptions({4}, {{"t", "ranking", 1}}).expert("mlp")), Error);
  EXPECT_THROW(MultiTaskModel(MultiTaskModelOptions({1, 8, 8}, {{"t", "binary", 1}})), Error);
  EXPECT_THROW(MultiTaskModel(MultiTaskModelOptions({4}, {{"t", "binary", 1}}).expert("mlp").gate("nope")),
               Error);
  // Dropout belongs to the dense expert alone.
  EXPECT_THROW(MultiTaskModel(MultiTaskModelOptions({4}, {{"t", "binary", 1}}).expert("mlp").expert_dropout(0.5)),
               Error);
  EXPECT_THROW(MultiTaskModel(MultiTaskModelOptions({4}, {{"t", "binary", 1}}).expert("dense").expert_dropout(1.0)),
               Error);
}

}  // namespace
}  // namespace moekit::models
