#include "moekit/train/multi_task_trainer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "moekit/core/error.h"
#include "moekit/data/synthetic_mixture.h"
#include "moekit/gates/permutation_search.h"
#include "moekit/models/task_kind.h"

namespace moekit::train {
namespace {

// Two tasks on synthetic-mixture rows: a regression on y[:, 0] and a 3-way
// classification of the cluster id.
data::MultiTaskDataset make_rows(int64_t rows, int64_t sample_seed) {
  auto mix = data::make_synthetic_mixture(data::SyntheticMixtureOptions().rows(rows).n_clusters(3),
                                          sample_seed);
  return data::MultiTaskDataset{mix.x, {}, mix.ids, {mix.y.select(1, 0).contiguous(), mix.ids}, {}};
}

models::MultiTaskModel make_model(const std::string& gate) {
  torch::manual_seed(0);
  models::MultiTaskModelOptions options(
      {16}, {{"value", "regression", 1}, {"cluster", "classification", 3}});
  options.expert("mlp").n_experts(4).expert_width(8).tower_hidden(8).gate(gate);
  options.gate_options(gates::GateOptions(0, 0).k(2).n_ids(3));
  return models::MultiTaskModel(options);
}

std::vector<nlohmann::json> read_metrics(const std::string& dir) {
  std::ifstream in(dir + "/metrics.jsonl");
  std::vector<nlohmann::json> lines;
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    j.erase("seconds");
    lines.push_back(j);
  }
  return lines;
}

std::string fresh_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/moekit_trainer_" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(TrainMultiTaskTrainer, LearnsBothTasks) {
  const auto train = make_rows(512, 1), valid = make_rows(256, 2);
  auto model = make_model("topk");
  MultiTaskTrainer trainer(model, TrainerOptions().lr(1e-2).batch_size(64).epochs(8));
  const Metrics before = trainer.evaluate(valid);
  const FitResult result = trainer.fit(train, valid);
  EXPECT_LT(result.best_valid.loss, 0.5 * before.loss);
  EXPECT_GT(result.best_valid.get("cluster.accuracy"), 0.9);
  EXPECT_NEAR(result.best_valid.active_experts, 2.0, 1e-9);  // topk with k = 2
}

// The task gates' shared local search (the one that owns Π).
std::shared_ptr<gates::PermutationSearchGate> owned_search(models::MultiTaskModel& model) {
  for (const auto& m : model->modules()) {
    auto s = std::dynamic_pointer_cast<gates::PermutationSearchGate>(m);
    if (s && s->owns_permutation()) return s;
  }
  return nullptr;
}

TEST(TrainMultiTaskTrainer, LocalSearchEndsAfterSearchEpochsOfOptimizerSteps) {
  const auto train = make_rows(256, 1), valid = make_rows(128, 2);
  torch::manual_seed(0);
  models::MultiTaskModelOptions options(
      {16}, {{"value", "regression", 1}, {"cluster", "classification", 3}});
  options.expert("mlp").n_experts(4).expert_width(8).tower_hidden(8).gate("topk");
  options.gate_options(
      gates::GateOptions(0, 0).k(2).noisy(false).local_search(true).search_epochs(1));
  models::MultiTaskModel model(options);
  auto search = owned_search(model);
  ASSERT_NE(search, nullptr);
  MultiTaskTrainer trainer(model, TrainerOptions().lr(1e-2).batch_size(64).epochs(3).patience(9));
  std::vector<std::pair<int64_t, bool>> seen;  // (steps counted, hardened) at each validation
  std::vector<double> active;
  trainer.on_epoch = [&](int64_t, double, const Metrics& m) {
    seen.emplace_back(search->step(), search->hardened());
    active.push_back(m.active_experts);
  };
  trainer.fit(train, valid);
  // 256 rows / 64 = 4 optimiser steps per epoch: the search ends with epoch 1,
  // and that epoch's validation already routes with the frozen Π.
  EXPECT_EQ(search->search_steps(), 4);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], std::make_pair(int64_t{4}, true));
  EXPECT_EQ(seen[2], std::make_pair(int64_t{4}, true));
  for (double a : active) EXPECT_DOUBLE_EQ(a, 2.0);  // Top-k + LS stays 2-sparse in evaluation
}

TEST(TrainMultiTaskTrainer, ResumeGivesIdenticalMetricsToAnUninterruptedRun) {
  const auto train = make_rows(256, 1), valid = make_rows(128, 2);
  const std::string full = fresh_dir("full"), split = fresh_dir("split");
  auto options = TrainerOptions().lr(1e-2).batch_size(32).epochs(4).patience(10);
  {
    MultiTaskTrainer trainer(make_model("topk"), TrainerOptions(options).run_dir(full));
    trainer.fit(train, valid);
  }
  {
    MultiTaskTrainer trainer(make_model("topk"), TrainerOptions(options).epochs(2).run_dir(split));
    trainer.fit(train, valid);
  }
  // A kill in the middle of appending the next line tears it: the resume drops it.
  std::ofstream(split + "/metrics.jsonl", std::ios::app) << "{\"epoch\": 3, \"train_lo";
  torch::manual_seed(12345);  // the global RNG must come back from the checkpoint
  MultiTaskTrainer resumed(make_model("topk"), TrainerOptions(options).run_dir(split));
  resumed.fit(train, valid, /*resume=*/true);
  const auto a = read_metrics(full), b = read_metrics(split);
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), 4u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "epoch " << i + 1;
}

TEST(TrainMultiTaskTrainer, EarlyStoppingHonoursPatience) {
  const auto train = make_rows(128, 1), valid = make_rows(64, 2);
  // A learning rate so large that validation loss stops improving quickly.
  MultiTaskTrainer trainer(make_model("softmax"),
                           TrainerOptions().lr(5.0).batch_size(32).epochs(50).patience(2));
  const FitResult result = trainer.fit(train, valid);
  EXPECT_TRUE(result.early_stopped);
  EXPECT_EQ(result.epochs_run, result.best_epoch + 2);
}

TEST(TrainMultiTaskTrainer, TaskWeightsScaleEachTasksLossInTrainingAndValidation) {
  const auto rows = make_rows(64, 1);
  auto model = make_model("softmax");
  model->eval();
  const auto out = model->forward(rows);
  std::vector<double> per_task;
  const double plain = model->loss(out, rows, &per_task).item<double>();
  ASSERT_EQ(per_task.size(), 2u);
  EXPECT_NEAR(plain, per_task[0] + per_task[1], 1e-5);
  EXPECT_NEAR(model->loss(out, rows, nullptr, {0.1, 0.9}).item<double>(),
              0.1 * per_task[0] + 0.9 * per_task[1], 1e-5);
  // The validation loss that early stopping reads is weighted the same way.
  MultiTaskTrainer trainer(model, TrainerOptions().task_weights({0.1, 0.9}));
  const Metrics m = trainer.evaluate(rows);
  EXPECT_NEAR(m.loss, 0.1 * m.get("value.loss") + 0.9 * m.get("cluster.loss"), 1e-5);
  EXPECT_THROW(MultiTaskTrainer(make_model("softmax"), TrainerOptions().task_weights({1.0})), Error);
  EXPECT_THROW(MultiTaskTrainer(make_model("softmax"), TrainerOptions().task_weights({1.0, -1.0})),
               Error);
}

TEST(TrainMultiTaskTrainer, ValidationLossLeavesTheGatesRegularisersOut) {
  // Top-k's load-balancing loss is part of training, never of early stopping.
  const auto rows = make_rows(64, 1);
  auto model = make_model("topk");
  MultiTaskTrainer trainer(model, TrainerOptions());
  const Metrics m = trainer.evaluate(rows);
  model->train();
  const auto out = model->forward(rows);
  ASSERT_GT(out.aux_loss.item<double>(), 0.0);
  EXPECT_NEAR(m.loss, m.get("value.loss") + m.get("cluster.loss"), 1e-5);
}

TEST(TrainMultiTaskTrainer, ConsistencyComparesTwoIndependentDrawsOfTheRandomGate) {
  const auto rows = make_rows(64, 1);
  auto model = make_model("random");
  model->train();
  torch::manual_seed(3);
  const auto a = model->forward(rows);
  const auto b = model->forward(rows);
  // Two passes draw different experts for some rows, so the predictions differ.
  const double c = model->consistency(a, b, rows).item<double>();
  EXPECT_GT(c, 0.0);
  // The value: each task's mean per-row divergence, summed (weighted).
  const auto& regression = models::task_kind("regression", "t");
  const auto& classification = models::task_kind("classification", "t");
  const double expected =
      regression.per_row_consistency(a.outputs[0], b.outputs[0]).mean().item<double>() +
      classification.per_row_consistency(a.outputs[1], b.outputs[1]).mean().item<double>();
  EXPECT_NEAR(c, expected, 1e-6);
  EXPECT_NEAR(model->consistency(a, a, rows).item<double>(), 0.0, 1e-9);
  EXPECT_NEAR(model->consistency(a, b, rows, {0.0, 1.0}).item<double>(),
              classification.per_row_consistency(a.outputs[1], b.outputs[1]).mean().item<double>(),
              1e-6);
}

TEST(TrainMultiTaskTrainer, ConsistencyTrainingRunsAndChangesTheUpdates) {
  const auto train = make_rows(128, 1), valid = make_rows(64, 2);
  const auto fit = [&](bool consistency) {
    MultiTaskTrainer trainer(make_model("random"), TrainerOptions()
                                                       .lr(1e-2)
                                                       .batch_size(32)
                                                       .epochs(2)
                                                       .consistency(consistency)
                                                       .consistency_alpha(5.0));
    return trainer.fit(train, valid).best_valid.loss;
  };
  const double plain = fit(false), with = fit(true);
  EXPECT_TRUE(std::isfinite(with));
  EXPECT_NE(plain, with);
}

TEST(TrainMultiTaskTrainer, ResumeWithoutCheckpointAndBadOptionsAreErrors) {
  const auto rows = make_rows(64, 1);
  MultiTaskTrainer trainer(make_model("softmax"), TrainerOptions().run_dir(fresh_dir("none")));
  EXPECT_THROW(trainer.fit(rows, rows, /*resume=*/true), Error);
  EXPECT_THROW(MultiTaskTrainer(make_model("softmax"), TrainerOptions().lr(0)), Error);
  EXPECT_THROW(MultiTaskTrainer(make_model("softmax"), TrainerOptions().batch_size(0)), Error);
}

}  // namespace
}  // namespace moekit::train
