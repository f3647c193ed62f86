// `moekit tune` killed (SIGKILL) in the middle of a trial and run again on the
// same folder ends with the trials of an uninterrupted study.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "reliability/run_moekit.h"
#include "testing/temp_dir.h"

namespace moekit::testing {
namespace {
namespace fs = std::filesystem;

std::vector<std::string> tune_args(const fs::path& config, const fs::path& out) {
  return {"--threads", "1", "tune", config.string(), "--trials", "3", "--gates", "topk",
          "--seed", "4", "--out", out.string()};
}

// trials.jsonl without the wall-clock field, so two studies compare equal.
std::string trials_fingerprint(const fs::path& out) {
  std::string text;
  std::ifstream in(out / "trials.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::ordered_json::parse(line);
    j.erase("train_seconds");
    text += j.dump() + "\n";
  }
  return text;
}

TEST(ReliabilityKillTune, SigkillMidTrialThenRerunMatchesAnUninterruptedStudy) {
  const fs::path dir = fresh_dir("moekit_kill_tune");
  const fs::path config = write_config(
      dir, tiny_config(6) + "search:\n  train.lr: {low: 0.003, high: 0.03, log: true}\n");
  ASSERT_EQ(run_moekit(tune_args(config, dir / "reference"), {(dir / "ref.log").string()}), 0)
      << read_file(dir / "ref.log");
  const std::string expected = trials_fingerprint(dir / "reference");
  ASSERT_FALSE(expected.empty());

  // Kill the second study once its second trial has written a checkpoint:
  // one trial finished, one part-way, one not started.
  const fs::path killed = dir / "killed";
  const pid_t pid = start_moekit(tune_args(config, killed), {(dir / "killed.log").string()});
  const fs::path mid = killed / "trials" / "topk-trial1" / "checkpoint.pt";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (!fs::exists(mid) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  const int status = wait_status(pid);
  ASSERT_EQ(status, 128 + SIGKILL) << "the study ended before it could be killed mid-trial: "
                                   << read_file(dir / "killed.log");
  EXPECT_FALSE(fs::exists(killed / "trials" / "topk-trial1" / "results.json"));
  EXPECT_FALSE(fs::exists(killed / "trials" / "topk-trial2"));

  ASSERT_EQ(run_moekit(tune_args(config, killed), {(dir / "rerun.log").string()}), 0)
      << read_file(dir / "rerun.log");
  EXPECT_EQ(trials_fingerprint(killed), expected);
}

}  // namespace
}  // namespace moekit::testing
