#include "moekit/train/compare.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "moekit/core/error.h"
#include "moekit/train/tune.h"

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

TEST(TrainCompare, RecordsCarryTheGatesRoutedExperts) {
  EXPECT_EQ(run_once(tiny_config(), {"gate.name=topk", "gate.k=2"}).routed_experts, 2);
  EXPECT_EQ(run_once(tiny_config(), {"gate.name=softmax"}).routed_experts, 0);
}

TEST(TrainCompare, LocalSearchRunsRecordHowFarTheirPermutationMoved) {
  // 256 rows in batches of 64: search_epochs 1 hardens Π after 4 steps.
  const RunRecord ls = run_once(
      tiny_config(), {"gate.name=topk", "gate.local_search=true", "gate.search_epochs=1"});
  EXPECT_TRUE(ls.permutation_hardened);
  EXPECT_GE(ls.permutation_moved, 0.0);
  EXPECT_LE(ls.permutation_moved, 4.0);
  // The record survives its JSON form (results.json, runs.jsonl).
  const RunRecord back = run_record_from_json(run_record_to_json(ls, ""), "test");
  EXPECT_EQ(back.permutation_moved, ls.permutation_moved);
  EXPECT_TRUE(back.permutation_hardened);
  // Not hardened yet: the record says so.
  const RunRecord early = run_once(
      tiny_config(), {"gate.name=topk", "gate.local_search=true", "gate.search_epochs=5"});
  EXPECT_FALSE(early.permutation_hardened);
  const RunRecord plain = run_once(tiny_config(), {"gate.name=topk"});
  EXPECT_TRUE(std::isnan(plain.permutation_moved));
  EXPECT_NE(runs_csv({ls}).find(",permutation_moved,permutation_hardened,"), std::string::npos);
}

TEST(TrainCompare, FromTuneRerunsEachArmsBestTrialWithNewSeeds) {
  const fs::path dir = fs::path(::testing::TempDir()) / "compare_from_tune";
  fs::remove_all(dir);
  const auto tuned = run_tune(tiny_config(), TuneOptions()
                                                 .gates({"softmax", "topk"})
                                                 .trials(3)
                                                 .seed(5)
                                                 .out_dir((dir / "tune").string()));
  const auto best = best_trials((dir / "tune").string());
  ASSERT_EQ(best.size(), 2u);
  for (size_t arm = 0; arm < 2; ++arm) {
    const RunRecord* top = nullptr;
    for (size_t t = 0; t < 3; ++t) {
      const RunRecord& r = tuned.trials[3 * arm + t];
      if (!top || r.valid_loss < top->valid_loss) top = &r;
    }
    EXPECT_EQ(best[arm].gate, top->gate);
    EXPECT_EQ(best[arm].params, top->params);
  }
  const auto result = run_compare(
      tiny_config(), CompareOptions().gates({}).from_tune((dir / "tune").string()).seeds(2).out_dir(
                         (dir / "compare").string()));
  ASSERT_EQ(result.runs.size(), 4u);
  EXPECT_EQ(result.runs[0].params, best[0].params);
  EXPECT_EQ(result.runs[2].gate, "topk");
  EXPECT_EQ(result.runs[2].params, best[1].params);
  // The rerun with the tuned trial's own seed reproduces it.
  const RunRecord& again = result.runs[best[0].seed == 0 ? 0 : 1];
  if (best[0].seed < 2) EXPECT_DOUBLE_EQ(again.valid_loss, best[0].valid_loss);
  // --gates filters the tuned arms.
  const auto only = run_compare(tiny_config(),
                                CompareOptions().gates({"topk"}).from_tune((dir / "tune").string()));
  ASSERT_EQ(only.runs.size(), 1u);
  EXPECT_EQ(only.runs[0].gate, "topk");
  EXPECT_THROW(best_trials((dir / "nothing").string()), Error);
}

TEST(TrainCompare, FromTuneWithAnArmSettingPicksAmongTheTrialsThatRanWithIt) {
  const fs::path dir = fs::path(::testing::TempDir()) / "compare_from_tune_arm_setting";
  fs::remove_all(dir);
  // Three trials that tuned lr, then two more of a study that fixes it far too
  // low to learn in two epochs: those two are worse than any earlier one, so
  // the best trial tells which trials competed.
  run_tune(tiny_config(), TuneOptions().gates({"comet"}).trials(3).out_dir((dir / "drawn").string()));
  const auto fixed = parse_arm_settings({"comet:train.lr=1e-07"}, "x");
  const auto refixed = run_tune(tiny_config(), TuneOptions()
                                                   .gates({"comet"})
                                                   .trials(2)
                                                   .arm_settings(fixed)
                                                   .continue_from((dir / "drawn" / "trials.jsonl").string())
                                                   .out_dir((dir / "fixed").string()));
  const std::pair<std::string, std::string> low_lr{"train.lr", "1e-07"};
  ASSERT_EQ(best_trials((dir / "fixed").string()).size(), 1u);  // the record holds all five
  EXPECT_NE(best_trials((dir / "fixed").string())[0].params[0], low_lr);
  const auto best = best_trials((dir / "fixed").string(), fixed);
  ASSERT_EQ(best.size(), 1u);
  EXPECT_EQ(best[0].params[0], low_lr);
  EXPECT_DOUBLE_EQ(best[0].valid_loss, std::min(refixed.trials[0].valid_loss, refixed.trials[1].valid_loss));
  // A record with no trial that ran with the setting cannot give that arm a best trial.
  try {
    best_trials((dir / "drawn").string(), fixed);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("arm 'comet' has no trial run with its --arm-set values"),
              std::string::npos)
        << e.what();
  }
  // compare reruns that best trial with the setting in force; other arms are untouched.
  const auto result = run_compare(
      tiny_config(), CompareOptions().gates({}).from_tune((dir / "fixed").string()).arm_settings(fixed));
  ASSERT_EQ(result.runs.size(), 1u);
  EXPECT_EQ(result.runs[0].params, best[0].params);
  const auto plain = run_compare(tiny_config(), CompareOptions().gates({"comet", "softmax"}).arm_settings(fixed));
  ASSERT_EQ(plain.runs.size(), 2u);
  EXPECT_EQ(plain.runs[0].params, (std::vector<std::pair<std::string, std::string>>{low_lr}));
  EXPECT_TRUE(plain.runs[1].params.empty());
  // Its seed 0 is the request of tune's trial 0 (train.seed 0, the fixed lr): the same run.
  EXPECT_DOUBLE_EQ(plain.runs[0].valid_loss, refixed.trials[0].valid_loss);
}

TEST(TrainCompare, FromTuneGatesKeepExactlyTheArmsTheyName) {
  const fs::path dir = fs::path(::testing::TempDir()) / "compare_from_tune_arms";
  fs::remove_all(dir);
  run_tune(tiny_config(), TuneOptions().gates({"topk", "topk+ls"}).trials(1).out_dir(dir.string()));
  const auto labels = [&](const CompareOptions& options) {
    std::vector<std::string> out;
    for (const auto& r : run_compare(tiny_config(), CompareOptions(options).from_tune(dir.string())).runs) {
      out.push_back(StudyArm{r.gate, r.local_search, r.consistency}.label());
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(labels(CompareOptions().gates({"topk"})), (V{"topk"}));
  EXPECT_EQ(labels(CompareOptions().gates({"topk+ls"})), (V{"topk + LS"}));
  EXPECT_EQ(labels(CompareOptions().gates({"topk"}).local_search({false, true})), (V{"topk", "topk + LS"}));
}

TEST(TrainCompare, ContinuesFromACommittedRunsFile) {
  const fs::path dir = fs::path(::testing::TempDir()) / "compare_continue";
  fs::remove_all(dir);
  const auto full = run_compare(tiny_config(),
                                CompareOptions().gates({"softmax"}).seeds(2).out_dir((dir / "a").string()));
  const auto continued = run_compare(tiny_config(), CompareOptions()
                                                        .gates({"softmax"})
                                                        .seeds(2)
                                                        .continue_from((dir / "a" / "runs.jsonl").string())
                                                        .out_dir((dir / "b").string()));
  ASSERT_EQ(continued.runs.size(), 2u);
  EXPECT_DOUBLE_EQ(continued.runs[1].test.loss, full.runs[1].test.loss);
  EXPECT_EQ(continued.runs[1].train_seconds, full.runs[1].train_seconds);  // not retrained
  EXPECT_FALSE(fs::exists(dir / "b" / "runs"));
  EXPECT_EQ(read(dir / "b" / "runs.jsonl"), read(dir / "a" / "runs.jsonl"));
  // Two processes' records (each arm ran in one) merge into one table, no training.
  run_compare(tiny_config(), CompareOptions().gates({"topk"}).seeds(2).out_dir((dir / "c").string()));
  const auto merged = run_compare(
      tiny_config(),
      CompareOptions().gates({"softmax", "topk"}).seeds(2).continue_from(
          (dir / "a" / "runs.jsonl").string() + "," + (dir / "c" / "runs.jsonl").string()));
  ASSERT_EQ(merged.runs.size(), 4u);
  EXPECT_EQ(merged.runs[3].train_seconds,
            read_run_record((dir / "c" / "runs" / "topk-seed1" / "results.json").string()).train_seconds);
  // A record that is not there is an error naming it, not an empty start.
  EXPECT_THROW(run_compare(tiny_config(), CompareOptions().continue_from((dir / "missing.jsonl").string())),
               Error);
}

}  // namespace
}  // namespace moekit::train
