// `moekit train` under `moekit launch --nproc 2`: the same loss curve as one
// process on the same global batches, and checkpoints that move between world
// sizes. Runs the real binary (2 processes, loopback, Gloo).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reliability/run_moekit.h"
#include "testing/temp_dir.h"

namespace moekit::testing {
namespace {
namespace fs = std::filesystem;

const std::string kConfig = std::string(MOEKIT_SOURCE_DIR) + "/configs/mixture-tiny.yaml";

std::vector<nlohmann::json> metrics(const fs::path& run) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(run / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

int train(int nproc, const fs::path& out, int epochs, bool resume = false,
          const std::string& gate = "softmax") {
  std::vector<std::string> args;
  if (nproc > 1) args = {"launch", "--nproc", std::to_string(nproc), "--"};
  for (const std::string& a : {std::string("--threads"), std::string("1"), std::string("train"),
                               kConfig, std::string("--out"), out.string(), std::string("--set"),
                               "train.epochs=" + std::to_string(epochs), std::string("--set"),
                               "gate.name=" + gate}) {
    args.push_back(a);
  }
  if (resume) args.push_back("--resume");
  ChildOptions o;
  o.stderr_path = out.string() + ".stderr";
  return run_moekit(args, o);
}

// Every logged loss and metric agrees to float32 summation order.
void expect_same_curve(const fs::path& a, const fs::path& b) {
  const auto ma = metrics(a), mb = metrics(b);
  ASSERT_EQ(ma.size(), mb.size());
  ASSERT_FALSE(ma.empty());
  for (size_t i = 0; i < ma.size(); ++i) {
    for (const auto& [key, value] : ma[i].items()) {
      if (key == "seconds") continue;
      ASSERT_TRUE(mb[i].contains(key)) << key;
      EXPECT_NEAR(value.get<double>(), mb[i][key].get<double>(),
                  1e-5 * std::max(1.0, std::abs(value.get<double>())))
          << "epoch " << i + 1 << " " << key;
    }
  }
}

TEST(DistTraining, TwoProcessesGiveTheOneProcessLossCurve) {
  for (const std::string gate : {"softmax", "dselectk"}) {
    const fs::path one = fresh_dir("moekit_dist_one_" + gate);
    const fs::path two = fresh_dir("moekit_dist_two_" + gate);
    ASSERT_EQ(train(1, one, 3, false, gate), 0) << read_file(one.string() + ".stderr");
    ASSERT_EQ(train(2, two, 3, false, gate), 0) << read_file(two.string() + ".stderr");
    expect_same_curve(one, two);
    const auto results = nlohmann::json::parse(read_file(two / "results.json"));
    EXPECT_EQ(results["world_size"], 2);
    EXPECT_NEAR(results["test"]["loss"].get<double>(),
                nlohmann::json::parse(read_file(one / "results.json"))["test"]["loss"].get<double>(),
                1e-5);
  }
}

TEST(DistTraining, CheckpointsResumeAtAnotherWorldSize) {
  const fs::path reference = fresh_dir("moekit_dist_reference");
  ASSERT_EQ(train(1, reference, 4), 0) << read_file(reference.string() + ".stderr");
  // 2 -> 1 and 1 -> 2 processes, halfway.
  for (const auto& [first, second] : {std::pair{2, 1}, std::pair{1, 2}}) {
    const fs::path run = fresh_dir("moekit_dist_resume_" + std::to_string(first));
    ASSERT_EQ(train(first, run, 2), 0) << read_file(run.string() + ".stderr");
    ASSERT_EQ(train(second, run, 4, /*resume=*/true), 0) << read_file(run.string() + ".stderr");
    expect_same_curve(reference, run);
  }
}

TEST(DistTraining, BestWeightsOfTwoProcessesEvaluateInOne) {
  const fs::path run = fresh_dir("moekit_dist_eval");
  ASSERT_EQ(train(2, run, 2), 0) << read_file(run.string() + ".stderr");
  const std::string out = (run / "eval.json").string();
  const std::string command = moekit_binary() + " --threads 1 eval " + run.string() + " > " + out;
  ASSERT_EQ(std::system(command.c_str()), 0);
  const auto eval = nlohmann::json::parse(read_file(out));
  const auto results = nlohmann::json::parse(read_file(run / "results.json"));
  EXPECT_NEAR(eval["loss"].get<double>(), results["test"]["loss"].get<double>(), 1e-5);
}

}  // namespace
}  // namespace moekit::testing
