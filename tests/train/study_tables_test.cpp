#include "moekit/train/study_tables.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "moekit/train/compare.h"

namespace moekit::train {
namespace {

RunRecord record(const std::string& gate, bool ls, int64_t seed, double loss, double active = 2,
                 int64_t routed = 2) {
  RunRecord r;
  r.gate = gate;
  r.local_search = ls;
  r.seed = seed;
  r.test.loss = loss;
  r.test.values = {{"m", 1 - loss}};
  r.test.active_experts = active;
  r.routed_experts = routed;
  return r;
}

TEST(TrainStudyTables, SummaryIsMeanAndSampleStdOverSeeds) {
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

TEST(TrainStudyTables, SummaryCsvHasMeanAndStdColumnsPerGroup) {
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

TEST(TrainStudyTables, PairedTableMatchesRunsBySeedAndSkipsMissingArms) {
  // comet seeds 0, 1, 2; topk seeds 1, 2, 3: pairs are seeds 1 and 2 only.
  std::vector<RunRecord> runs;
  for (int s = 0; s < 3; ++s) runs.push_back(record("comet", false, s, 0.5 + 0.1 * s));
  for (int s = 1; s < 4; ++s) runs.push_back(record("topk", false, s, 0.5 + 0.2 * s));
  const std::string table = paired_table(runs, default_pairs());
  // test loss: comet - topk = (0.6 - 0.7, 0.7 - 0.9) = (-0.1, -0.2): mean -0.15, sd 0.0707, t(1).
  const double half = 12.7062 * 0.1 / std::sqrt(2.0) / std::sqrt(2.0);
  EXPECT_NE(table.find(fmt::format("| comet − topk | test loss | 2 | {:+.4f} | [{:+.4f}, {:+.4f}] |",
                                   -0.15, -0.15 - half, -0.15 + half)),
            std::string::npos)
      << table;
  EXPECT_EQ(table.find("dselectk"), std::string::npos) << table;  // no dselectk runs
  EXPECT_EQ(paired_table(runs, {{"hash", "topk"}}), "");
}

TEST(TrainStudyTables, SparseGatesAboveKActiveExpertsAreMarked) {
  const std::string table = summary_table({record("comet", false, 0, 1.0, 2.04),
                                           record("dselectk", false, 0, 1.0, 3.5),
                                           record("softmax", false, 0, 1.0, 4.0, 0)});
  EXPECT_NE(table.find("| comet | 1 |"), std::string::npos) << table;
  EXPECT_NE(table.find("| dselectk (not sparse at test) | 1 |"), std::string::npos) << table;
  EXPECT_NE(table.find("| softmax | 1 |"), std::string::npos) << table;  // dense by design
}

}  // namespace
}  // namespace moekit::train
