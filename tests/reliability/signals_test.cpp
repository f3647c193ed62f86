// SIGINT/SIGTERM during training: a checkpoint at the next step, Interrupted, and
// a resume that continues exactly. The signals are real (raise()), delivered from a
// gradient hook (mid-epoch) or the epoch callback (epoch end).
#include "moekit/train/stop_signal.h"

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>

#include "reliability/tiny_model.h"

namespace moekit::testing {
namespace {
namespace fs = std::filesystem;

TEST(ReliabilitySignals, SigintMidEpochSavesCheckpointAndResumeMatchesUninterruptedRun) {
  const auto train = mixture_rows(256, 1), valid = mixture_rows(64, 2);
  auto reference = tiny_model();
  const auto expected =
      train::MultiTaskTrainer(reference, tiny_options(fresh_run_dir("sig_ref"), 3)).fit(train, valid);

  const std::string dir = fresh_run_dir("sig_int");
  auto model = tiny_model();
  train::MultiTaskTrainer trainer(model, tiny_options(dir, 3));
  // The 5th backward pass is batch 5 of epoch 1 (8 batches per epoch).
  int backward = 0;
  model->parameters().front().register_hook([&backward](const at::Tensor& g) {
    ++backward;
    if (backward == 5) std::raise(SIGINT);
    return g;
  });
  try {
    trainer.fit(train, valid);
    FAIL() << "expected Interrupted";
  } catch (const train::Interrupted& e) {
    EXPECT_EQ(e.signal(), SIGINT);
    EXPECT_EQ(e.exit_code(), 130);
    EXPECT_EQ(e.checkpoint(), (fs::path(dir) / "checkpoint.pt").string());
    EXPECT_NE(std::string(e.what()).find("step 5 (epoch 1, batch 5)"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(fs::exists(fs::path(dir) / "checkpoint.pt"));

  auto resumed = tiny_model();
  const auto result =
      train::MultiTaskTrainer(resumed, tiny_options(dir, 3)).fit(train, valid, /*resume=*/true);
  EXPECT_EQ(result.epochs_run, 3);
  EXPECT_EQ(result.best_epoch, expected.best_epoch);
  EXPECT_EQ(result.best_valid.loss, expected.best_valid.loss);
  EXPECT_EQ(result.best_valid.values, expected.best_valid.values);
  EXPECT_TRUE(same_parameters(resumed, reference));
}

TEST(ReliabilitySignals, SigtermAtEpochEndStopsWith143AndResumes) {
  const auto train = mixture_rows(128, 1), valid = mixture_rows(64, 2);
  const std::string dir = fresh_run_dir("sig_term");
  auto model = tiny_model();
  train::MultiTaskTrainer trainer(model, tiny_options(dir, 3));
  trainer.on_epoch = [](int64_t epoch, double, const train::Metrics&) {
    if (epoch == 1) std::raise(SIGTERM);
  };
  try {
    trainer.fit(train, valid);
    FAIL() << "expected Interrupted";
  } catch (const train::Interrupted& e) {
    EXPECT_EQ(e.exit_code(), 143);
    EXPECT_NE(std::string(e.what()).find("SIGTERM at the end of epoch 1"), std::string::npos)
        << e.what();
  }
  auto resumed = tiny_model();
  train::MultiTaskTrainer again(resumed, tiny_options(dir, 3));
  EXPECT_EQ(again.fit(train, valid, /*resume=*/true).epochs_run, 3);
}

TEST(ReliabilitySignals, ScopeRestoresPreviousHandlers) {
  struct sigaction before {};
  sigaction(SIGINT, nullptr, &before);
  {
    const train::StopSignalScope scope;
    struct sigaction inside {};
    sigaction(SIGINT, nullptr, &inside);
    EXPECT_NE(inside.sa_handler, before.sa_handler);
    std::raise(SIGINT);  // only sets the flag: the test process lives on
    EXPECT_EQ(train::stop_requested(), SIGINT);
  }
  struct sigaction after {};
  sigaction(SIGINT, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before.sa_handler);
}

TEST(ReliabilitySignals, WithoutRunDirectoryInterruptedSaysNothingWasSaved) {
  const auto train = mixture_rows(128, 1), valid = mixture_rows(32, 2);
  auto model = tiny_model();
  train::MultiTaskTrainer trainer(model, tiny_options("", 2));
  trainer.on_epoch = [](int64_t, double, const train::Metrics&) { std::raise(SIGINT); };
  try {
    trainer.fit(train, valid);
    FAIL() << "expected Interrupted";
  } catch (const train::Interrupted& e) {
    EXPECT_TRUE(e.checkpoint().empty());
    EXPECT_NE(std::string(e.what()).find("nothing saved"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace moekit::testing
