// `moekit train` killed at random moments (SIGKILL) or interrupted (SIGINT,
// SIGTERM), resumed each time, ends with the metrics of an uninterrupted run.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "reliability/run_moekit.h"
#include "testing/temp_dir.h"

namespace moekit::testing {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::vector<std::string> train_args(const fs::path& config, const fs::path& run, bool resume) {
  std::vector<std::string> args{"--threads", "1", "train", config.string(), "--out", run.string()};
  if (resume) args.push_back("--resume");
  return args;
}

// The uninterrupted run: its fingerprint and how long it took.
std::pair<std::string, double> reference_run(const fs::path& dir, const fs::path& config) {
  const auto start = Clock::now();
  EXPECT_EQ(run_moekit(train_args(config, dir / "reference", false)), 0);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return {run_fingerprint(dir / "reference"), seconds};
}

// Starts (or resumes, once a checkpoint exists) the run in `run`.
pid_t start_or_resume(const fs::path& config, const fs::path& run, const fs::path& log) {
  const bool resume = fs::exists(run / "checkpoint.pt");
  return start_moekit(train_args(config, run, resume), {log.string()});
}

TEST(ReliabilityKillResume, SigkillAtRandomMomentsThenResumeMatchesUninterruptedRun) {
  const fs::path dir = fresh_dir("moekit_reliability_sigkill");
  const fs::path config = write_config(dir, tiny_config(4));
  const auto [expected, seconds] = reference_run(dir, config);

  const fs::path run = dir / "killed";
  std::mt19937 rng(20240611);
  // Kill points spread over the whole run, start-up and checkpoint writes included.
  std::uniform_real_distribution<double> delay(0.05 * seconds, 0.6 * seconds);
  int kills = 0, finished_early = 0;
  for (int trial = 0; trial < 6; ++trial) {
    const pid_t pid = start_or_resume(config, run, dir / "log.txt");
    std::this_thread::sleep_for(std::chrono::duration<double>(delay(rng)));
    if (::kill(pid, SIGKILL) == 0) {
      const int status = wait_status(pid);
      if (status == 128 + SIGKILL) {
        ++kills;
      } else {
        ASSERT_EQ(status, 0) << read_file(dir / "log.txt");
        ++finished_early;
        break;
      }
    }
  }
  if (!fs::exists(run / "results.json") || finished_early == 0) {
    ASSERT_EQ(wait_status(start_or_resume(config, run, dir / "log.txt")), 0)
        << read_file(dir / "log.txt");
  }
  RecordProperty("sigkills", kills);
  EXPECT_GE(kills, 3) << "the run finished before most kill points";
  EXPECT_EQ(run_fingerprint(run), expected);
  EXPECT_FALSE(fs::exists(run / "checkpoint.pt.tmp"));
}

TEST(ReliabilityKillResume, SigintAndSigtermSaveCheckpointExitWith130And143ThenResumeExactly) {
  const fs::path dir = fresh_dir("moekit_reliability_sigint");
  const fs::path config = write_config(dir, tiny_config(4));
  const auto [expected, seconds] = reference_run(dir, config);

  const fs::path run = dir / "interrupted";
  std::mt19937 rng(7);
  // A random moment once training is under way (before that the default action,
  // a plain exit by the signal, is what a user gets): after epoch 1, after resuming.
  std::uniform_real_distribution<double> delay(0.0, 0.1 * seconds);
  int stopped = 0;
  for (const int sig : {SIGINT, SIGTERM}) {
    const pid_t pid = start_or_resume(config, run, dir / "log.txt");
    const char* const started = sig == SIGINT ? "epoch 1 train loss" : "resumed at";
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (read_file(dir / "log.txt").find(started) == std::string::npos &&
           Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(delay(rng)));
    ASSERT_EQ(::kill(pid, sig), 0);
    const int status = wait_status(pid);
    const std::string log = read_file(dir / "log.txt");
    if (status == 0) break;  // finished before the signal landed: nothing left to test
    ASSERT_EQ(status, 128 + sig) << log;
    ++stopped;
    EXPECT_NE(log.find(sig == SIGINT ? "interrupted by SIGINT" : "interrupted by SIGTERM"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("checkpoint saved to"), std::string::npos) << log;
    EXPECT_TRUE(fs::exists(run / "checkpoint.pt"));
  }
  EXPECT_EQ(stopped, 2) << "the run finished before the signals";
  ASSERT_EQ(wait_status(start_or_resume(config, run, dir / "log.txt")), 0)
      << read_file(dir / "log.txt");
  EXPECT_EQ(run_fingerprint(run), expected);
}

}  // namespace
}  // namespace moekit::testing
