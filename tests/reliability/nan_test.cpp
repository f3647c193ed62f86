// NaN/Inf in the loss or a gradient stops training with the step named, before
// anything is written: the last good checkpoint, best.pt and metrics stay.
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>

#include "moekit/core/error.h"
#include "reliability/run_moekit.h"
#include "reliability/tiny_model.h"
#include "testing/errors.h"

namespace moekit::testing {
namespace {
namespace fs = std::filesystem;

struct RunFiles {
  std::string checkpoint, best, metrics;
};

RunFiles snapshot(const std::string& dir) {
  return {file_bytes(dir + "/checkpoint.pt"), file_bytes(dir + "/best.pt"),
          file_bytes(dir + "/metrics.jsonl")};
}

void expect_unchanged(const std::string& dir, const RunFiles& before) {
  const RunFiles after = snapshot(dir);
  EXPECT_FALSE(before.checkpoint.empty());
  EXPECT_TRUE(after.checkpoint == before.checkpoint) << "checkpoint.pt changed";
  EXPECT_TRUE(after.best == before.best) << "best.pt changed";
  EXPECT_EQ(after.metrics, before.metrics);
  EXPECT_FALSE(fs::exists(dir + "/checkpoint.pt.tmp"));
}

TEST(ReliabilityNan, NanLossStopsNamingTheStepAndKeepsLastGoodCheckpoint) {
  auto train = mixture_rows(128, 1);
  const auto valid = mixture_rows(32, 2);
  const std::string dir = fresh_run_dir("nan_loss");
  {
    auto model = tiny_model();
    train::MultiTaskTrainer(model, tiny_options(dir, 1)).fit(train, valid);
  }
  const RunFiles before = snapshot(dir);
  // Every row is poisoned, so the first batch of epoch 2 (global step 5) sees NaN.
  train.input.fill_(std::numeric_limits<float>::quiet_NaN());
  auto model = tiny_model();
  train::MultiTaskTrainer trainer(model, tiny_options(dir, 3));
  expect_error([&] { trainer.fit(train, valid, /*resume=*/true); },
               {"step 5 (epoch 2, batch 1)", "loss is nan", "last good checkpoint is kept"});
  expect_unchanged(dir, before);
}

TEST(ReliabilityNan, InfGradientStopsNamingStepAndParameter) {
  const auto train = mixture_rows(128, 1), valid = mixture_rows(32, 2);
  const std::string dir = fresh_run_dir("nan_grad");
  {
    auto model = tiny_model();
    train::MultiTaskTrainer(model, tiny_options(dir, 1)).fit(train, valid);
  }
  const RunFiles before = snapshot(dir);
  auto model = tiny_model();
  // The loss stays finite; only this gradient is poisoned, from the 3rd backward pass on.
  int calls = 0;
  model->named_parameters().begin()->value().register_hook([&calls](const at::Tensor& g) {
    return ++calls >= 3 ? g * std::numeric_limits<float>::infinity() : g;
  });
  const std::string name = model->named_parameters().begin()->key();
  train::MultiTaskTrainer trainer(model, tiny_options(dir, 3));
  expect_error([&] { trainer.fit(train, valid, /*resume=*/true); },
               {"step 7 (epoch 2, batch 3)", "gradient of '" + name + "' is NaN/Inf"});
  expect_unchanged(dir, before);
}

TEST(ReliabilityNan, CliExitsNonZeroNamingTheStep) {
  const fs::path dir = fs::path(::testing::TempDir()) / "moekit_reliability_nan_cli";
  fs::remove_all(dir);
  // A learning rate this large overflows the weights within a few steps.
  const fs::path config = write_config(dir, tiny_config(2, "softmax"));
  const int status = run_moekit({"--threads", "1", "train", config.string(), "--out",
                                 (dir / "run").string(), "--set", "train.lr=1e30"},
                                {(dir / "log.txt").string()});
  const std::string log = read_file(dir / "log.txt");
  EXPECT_EQ(status, 1) << log;
  EXPECT_NE(log.find("moekit: error: step "), std::string::npos) << log;
  EXPECT_NE(log.find("training stopped, the last good checkpoint is kept"), std::string::npos)
      << log;
  EXPECT_FALSE(fs::exists(dir / "run" / "results.json"));
}

}  // namespace
}  // namespace moekit::testing
