#include "moekit/train/compare.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "moekit/core/error.h"

namespace moekit::train {
namespace {
namespace fs = std::filesystem;

// A few hundred mixture rows, tiny experts, two epochs: seconds, not minutes.
Config tiny_config() {
  return Config::parse(R"(
data: {name: mixture, rows: 256, d_in: 8, clusters: 3, teacher_experts: 4}
model: {n_experts: 4, expert_width: 8, tower_hidden: 8}
gate: {name: softmax, k: 2}
train: {lr: 0.01, batch_size: 64, epochs: 2, patience: 2}
search:
  train.lr: {low: 0.001, high: 0.01, log: true}
)",
                       "tiny.yaml");
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(TrainCompare, WritesOneRowPerGateAndOneCsvLinePerRun) {
  const fs::path out = fs::path(::testing::TempDir()) / "compare_rows";
  fs::remove_all(out);
  const auto result = run_compare(
      tiny_config(), CompareOptions().gates({"softmax", "topk"}).seeds(2).out_dir(out.string()));
  ASSERT_EQ(result.runs.size(), 4u);
  EXPECT_EQ(result.runs[0].gate, "softmax");
  EXPECT_EQ(result.runs[1].seed, 1);
  EXPECT_EQ(result.runs[2].gate, "topk");
  EXPECT_NE(result.table.find("| softmax | 2 |"), std::string::npos) << result.table;
  EXPECT_NE(result.table.find("| topk | 2 |"), std::string::npos) << result.table;
  EXPECT_NE(result.table.find("test cluster.accuracy"), std::string::npos) << result.table;
  EXPECT_EQ(read(out / "compare.md"), result.table);
  const std::string csv = read(out / "compare.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5) << csv;  // header + 4 runs
  EXPECT_EQ(read(out / "compare_summary.csv"), summary_csv(result.runs));
  // Where gnuplot is installed (scripts/setup.sh installs it) the plot must be there.
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    EXPECT_TRUE(result.plot_written);
    EXPECT_NE(read(out / "compare.svg").find("<svg"), std::string::npos);
  } else {
    EXPECT_FALSE(result.plot_written);
    std::cout << "[ NOTE ] gnuplot not found: compare.svg not checked\n";
  }
  // Different seeds give different models, hence a nonzero spread.
  EXPECT_NE(result.runs[0].test.loss, result.runs[1].test.loss);
}

TEST(TrainCompare, SameSeedReproducesTheRun) {
  const auto a = run_once(tiny_config(), {"train.seed=3"});
  const auto b = run_once(tiny_config(), {"train.seed=3"});
  EXPECT_DOUBLE_EQ(a.valid_loss, b.valid_loss);
  EXPECT_DOUBLE_EQ(a.test.loss, b.test.loss);
  EXPECT_EQ(a.seed, 3);
}

TEST(TrainCompare, SummaryIsMeanAndSampleStdOverSeeds) {
  RunRecord a, b;
  a.gate = b.gate = "softmax";
  a.test.loss = 1.0;
  b.test.loss = 3.0;
  a.test.values = {{"m", 0.5}};
  b.test.values = {{"m", 0.5}};
  const std::string table = summary_table({a, b});
  EXPECT_NE(table.find("2.0000 ± 1.4142"), std::string::npos) << table;
  EXPECT_NE(table.find("0.5000 ± 0.0000"), std::string::npos) << table;
}

TEST(TrainCompare, SummaryCsvHasMeanAndStdColumnsPerGroup) {
  RunRecord a, b, c;
  a.gate = b.gate = c.gate = "topk";
  c.local_search = true;
  a.test.loss = 1.0;
  b.test.loss = 3.0;
  c.test.loss = 2.0;
  a.test.values = b.test.values = c.test.values = {{"m", 0.25}};
  const std::string csv = summary_csv({a, b, c});
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "group,runs,valid_loss_mean,valid_loss_std,test_loss_mean,test_loss_std,test_m_mean,"
            "test_m_std,active_experts_mean,active_experts_std,train_s_mean,train_s_std");
  EXPECT_NE(csv.find("\ntopk,2,0,0,2,1.41421,0.25,0,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\ntopk + LS,1,0,0,2,0,0.25,0,"), std::string::npos) << csv;
}

TEST(TrainCompare, FailingGateIsReportedAndTheOthersStillRun) {
  const auto result =
      run_compare(tiny_config(), CompareOptions().gates({"nosuchgate", "softmax"}).seeds(2));
  ASSERT_EQ(result.failures.size(), 1u);  // its second seed is skipped, not retried
  EXPECT_EQ(result.failures[0].rfind("nosuchgate seed 0: ", 0), 0u) << result.failures[0];
  EXPECT_NE(result.failures[0].find("unknown gate"), std::string::npos) << result.failures[0];
  ASSERT_EQ(result.runs.size(), 2u);
  EXPECT_EQ(result.runs[0].gate, "softmax");
  EXPECT_NE(result.table.find("| softmax | 2 |"), std::string::npos) << result.table;
}

}  // namespace
}  // namespace moekit::train
