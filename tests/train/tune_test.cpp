#include "moekit/train/tune.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>

#include "moekit/core/error.h"

namespace moekit::train {
namespace {
namespace fs = std::filesystem;

Config tiny_config(const std::string& search) {
  return Config::parse(R"(
data: {name: mixture, rows: 256, d_in: 8, clusters: 3, teacher_experts: 4}
model: {n_experts: 4, expert_width: 8, tower_hidden: 8}
gate: {name: softmax, k: 2}
train: {lr: 0.01, batch_size: 64, epochs: 2, patience: 2}
search:
)" + search,
                       "tiny.yaml");
}

const char* kSpace = R"(
  train.lr: {low: 0.001, high: 0.05, log: true}
  train.batch_size: [32, 64, 128]
  model.expert_width: [4, 12]
)";

TEST(TrainTune, ParsesRangesLogRangesIntegersAndChoices) {
  const auto dims = parse_search_space(tiny_config(std::string(kSpace) + "  gate.gamma: {choices: [0.1, 1]}\n"));
  ASSERT_EQ(dims.size(), 4u);
  EXPECT_EQ(dims[0].kind, SearchDim::Kind::kLogUniform);
  EXPECT_EQ(dims[1].kind, SearchDim::Kind::kChoice);
  EXPECT_EQ(dims[2].kind, SearchDim::Kind::kIntUniform);
  EXPECT_EQ(dims[3].choices, (std::vector<std::string>{"0.1", "1"}));
  std::mt19937_64 rng(0);
  for (int i = 0; i < 100; ++i) {
    const double lr = std::stod(dims[0].sample(rng));
    EXPECT_GE(lr, 0.001);
    EXPECT_LE(lr, 0.05);
    const int64_t w = std::stoll(dims[2].sample(rng));
    EXPECT_GE(w, 4);
    EXPECT_LE(w, 12);
  }
}

TEST(TrainTune, RejectsBadRangeNamingTheKey) {
  try {
    parse_search_space(tiny_config("  train.lr: {low: 0, high: 0.1, log: true}\n"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tiny.yaml: search.train.lr"), std::string::npos) << e.what();
  }
}

TEST(TrainTune, TopFractionKeepsAtLeastTheBestTrial) {
  EXPECT_EQ(top_fraction({3, 1, 2, 5}, 0.05), (std::vector<size_t>{1}));
  EXPECT_EQ(top_fraction({3, 1, 2, 5}, 0.5), (std::vector<size_t>{1, 2}));
}

TEST(TrainTune, ExpectedBestEqualsTheMeanMinimumOverAllDrawSequences) {
  // E[min of n trials drawn with replacement from the pool], by enumerating
  // every one of the 5^n equally likely sequences of draws.
  const std::vector<double> pool{0.9, 0.4, 0.7, 0.5, 1.3};
  const auto curve = expected_best_curve(pool);
  ASSERT_EQ(curve.size(), pool.size());
  for (size_t n = 1; n <= pool.size(); ++n) {
    size_t sequences = 1;
    for (size_t i = 0; i < n; ++i) sequences *= pool.size();
    double sum = 0;
    for (size_t code = 0; code < sequences; ++code) {
      double best = 1e300;
      for (size_t i = 0, c = code; i < n; ++i, c /= pool.size()) best = std::min(best, pool[c % pool.size()]);
      sum += best;
    }
    EXPECT_NEAR(curve[n - 1], sum / static_cast<double>(sequences), 1e-12) << "n = " << n;
  }
}

TEST(TrainTune, RunsTrialsAndWritesFilesAndPicksBestValidationTrial) {
  const fs::path out = fs::path(::testing::TempDir()) / "tune_run";
  fs::remove_all(out);
  const auto result = run_tune(tiny_config(kSpace),
                               TuneOptions().gates({"softmax"}).trials(4).seed(1).out_dir(out.string()));
  ASSERT_EQ(result.trials.size(), 4u);
  std::vector<double> losses;
  for (const auto& t : result.trials) {
    ASSERT_EQ(t.params.size(), 3u);
    losses.push_back(t.valid_loss);
  }
  // Sampled learning rates differ between trials.
  EXPECT_NE(result.trials[0].params[0].second, result.trials[1].params[0].second);
  const size_t best = std::min_element(losses.begin(), losses.end()) - losses.begin();
  EXPECT_EQ(top_fraction(losses, 0.05), (std::vector<size_t>{best}));
  // The top-5% row (one trial) reports exactly the best trial's test loss.
  EXPECT_NE(result.summary.find(fmt::format("| softmax | 1 | {:.4f} ± 0.0000 | {:.4f} ± 0.0000 |",
                                            losses[best], result.trials[best].test.loss)),
            std::string::npos)
      << result.summary;
  ASSERT_EQ(result.expected_best.size(), 1u);
  const auto& curve = result.expected_best[0].second;
  EXPECT_NEAR(curve[0], std::accumulate(losses.begin(), losses.end(), 0.0) / 4, 1e-9);
  EXPECT_GE(curve[3], losses[best]);
  for (const char* f : {"tune_trials.csv", "tune_summary.md", "expected_best.csv"}) {
    EXPECT_TRUE(fs::exists(out / f)) << f;
  }
  // Where gnuplot is installed (scripts/setup.sh installs it) the plot must be there.
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    EXPECT_TRUE(result.plot_written);
    EXPECT_GT(fs::file_size(out / "expected_best.svg"), 100u);
  }
}


TEST(TrainTune, TrialDrawsDependOnSeedTrialAndKeyOnly) {
  const auto dims = parse_search_space(tiny_config(kSpace));
  // The same (seed, trial, key) gives the same value whatever the other keys.
  const auto alone = parse_search_space(tiny_config("  train.lr: {low: 0.001, high: 0.05, log: true}\n"));
  for (int64_t t = 0; t < 5; ++t) EXPECT_EQ(dims[0].draw(7, t), alone[0].draw(7, t)) << t;
  std::set<std::string> lrs;
  for (int64_t t = 0; t < 8; ++t) lrs.insert(dims[0].draw(7, t));
  EXPECT_GT(lrs.size(), 4u);  // trials differ
  EXPECT_NE(dims[0].draw(7, 0), dims[0].draw(8, 0));  // so do samplers' seeds
  // Two keys with the same range do not draw the same value.
  const auto twins = parse_search_space(tiny_config("  train.lr: [0.0, 1.0]\n  train.weight_decay: [0.0, 1.0]\n"));
  EXPECT_NE(twins[0].draw(0, 0), twins[1].draw(0, 0));
}

TEST(TrainTune, ArmsTuneOnlyTheKeysTheirGateReads) {
  const auto dims = parse_search_space(tiny_config(
      "  train.lr: [0.001, 0.01]\n  gate.noisy: [true, false]\n  gate.gamma: [0.1, 1.0]\n"
      "  gate.search_epochs: [0.5, 1.0]\n  gate.comet.entropy_weight: [0.1, 1.0]\n"
      "  train.consistency_alpha: [0.5, 2.0]\n"));
  const auto keys = [&](const std::string& arm, bool ls) {
    StudyArm a = parse_study_arm(arm, "test");
    a.local_search = a.local_search || ls;
    std::vector<std::string> out;
    for (const auto& d : dims) {
      if (d.applies_to(a)) out.push_back(d.key);
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(keys("softmax", false), (V{"train.lr"}));
  EXPECT_EQ(keys("topk", false), (V{"train.lr", "gate.noisy"}));
  EXPECT_EQ(keys("topk", true), (V{"train.lr", "gate.noisy", "gate.search_epochs"}));
  EXPECT_EQ(keys("comet", false), (V{"train.lr", "gate.gamma", "gate.comet.entropy_weight"}));
  EXPECT_EQ(keys("dselectk", false), (V{"train.lr", "gate.gamma"}));
  EXPECT_EQ(keys("softmax+consistency", false), (V{"train.lr", "train.consistency_alpha"}));
}

TEST(TrainTune, AGateTunedWithAndWithoutLocalSearchGetsItsBudgetRatio) {
  const fs::path dir = fs::path(::testing::TempDir()) / "tune_budget";
  fs::remove_all(dir);
  const auto result = run_tune(tiny_config("  train.lr: [0.001, 0.01]\n"),
                               TuneOptions().gates({"topk", "softmax"}).local_search({false, true})
                                   .trials(3).out_dir(dir.string()));
  ASSERT_EQ(result.budget_ratios.size(), 2u);
  EXPECT_EQ(result.budget_ratios[0].first, "topk");
  std::vector<double> plain, searched;
  for (const auto& t : result.trials) {
    if (t.gate == "topk") (t.local_search ? searched : plain).push_back(t.valid_loss);
  }
  const BudgetRatio expected = budget_ratio(plain, searched, 1000, 0);
  EXPECT_DOUBLE_EQ(result.budget_ratios[0].second.ratio, expected.ratio);
  EXPECT_DOUBLE_EQ(result.budget_ratios[0].second.low, expected.low);
  EXPECT_NE(result.summary.find("## Tuning budget"), std::string::npos);
  ASSERT_EQ(result.expected_best_bands.size(), 4u);
  // The curves' CSV carries each band beside its curve.
  std::ifstream csv(dir / "expected_best.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header.rfind("n,topk,topk low,topk high,topk + LS,", 0), 0u) << header;
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) EXPECT_TRUE(result.plot_written);
}

TEST(TrainTune, ArmsAreWrittenOutOrCrossedWithLocalSearch) {
  const auto arms = study_arms({"softmax", "topk+ls", "random+consistency"}, {false, true});
  std::vector<std::string> labels;
  for (const auto& a : arms) labels.push_back(a.label());
  EXPECT_EQ(labels, (std::vector<std::string>{"softmax", "softmax + LS", "topk + LS",
                                              "random + consistency"}));
  EXPECT_EQ(arms[3].dir_name(), "random-consistency");
  EXPECT_EQ(arms[3].overrides(), (std::vector<std::string>{"gate.name=random",
                                                           "gate.local_search=false",
                                                           "train.consistency=true"}));
  EXPECT_EQ(arms[0].overrides().size(), 2u);  // plain arms keep their requests
  const StudyArm both = parse_study_arm("comet+ls+consistency", "gates");
  EXPECT_TRUE(both.local_search && both.consistency);
  EXPECT_EQ(both.gate, "comet");
  EXPECT_THROW(parse_study_arm("topk+fast", "gates"), Error);
  EXPECT_THROW(parse_study_arm("+ls", "gates"), Error);
}

TEST(TrainTune, AConsistencyArmTrainsWithTwoPassesAndIsItsOwnRow) {
  const auto result = run_tune(tiny_config("  train.lr: [0.001, 0.01]\n  train.consistency_alpha: [0.5, 2.0]\n"),
                               TuneOptions().gates({"random", "random+consistency"}).trials(1));
  ASSERT_EQ(result.trials.size(), 2u);
  EXPECT_FALSE(result.trials[0].consistency);
  EXPECT_TRUE(result.trials[1].consistency);
  EXPECT_EQ(result.trials[0].params.size(), 1u);
  EXPECT_EQ(result.trials[1].params.size(), 2u);
  EXPECT_EQ(result.trials[0].params[0], result.trials[1].params[0]);  // paired lr
  EXPECT_NE(result.trials[0].valid_loss, result.trials[1].valid_loss);
  EXPECT_NE(result.summary.find("| random + consistency |"), std::string::npos) << result.summary;
  EXPECT_NE(runs_csv(result.trials).find("\nrandom + consistency,random,0,1,0,"), std::string::npos)
      << runs_csv(result.trials);
}

TEST(TrainTune, TrialTOfEveryArmSharesTheDrawsAndTheSeed) {
  const auto result = run_tune(
      tiny_config("  train.lr: {low: 0.001, high: 0.05, log: true}\n  gate.noisy: [true, false]\n"),
      TuneOptions().gates({"softmax", "topk"}).trials(2).seed(3));
  ASSERT_EQ(result.trials.size(), 4u);
  for (size_t t = 0; t < 2; ++t) {
    const RunRecord& softmax = result.trials[t];
    const RunRecord& topk = result.trials[2 + t];
    EXPECT_EQ(softmax.seed, topk.seed);
    ASSERT_EQ(softmax.params.size(), 1u);
    ASSERT_EQ(topk.params.size(), 2u);
    EXPECT_EQ(softmax.params[0], topk.params[0]);  // train.lr, paired
    EXPECT_EQ(topk.params[1].first, "gate.noisy");
  }
  EXPECT_NE(result.trials[0].params[0], result.trials[1].params[0]);
}

// The fields a trial's outcome is judged by (its time is not one).
std::vector<std::string> outcomes(const std::vector<RunRecord>& trials) {
  std::vector<std::string> out;
  for (const auto& r : trials) {
    std::string s = fmt::format("{} {} {} {:.9g} {:.9g}", r.gate, r.local_search, r.seed, r.valid_loss,
                                r.test.loss);
    for (const auto& [k, v] : r.params) s += " " + k + "=" + v;
    for (const auto& [k, v] : r.test.values) s += fmt::format(" {}={:.9g}", k, v);
    out.push_back(s);
  }
  return out;
}

TEST(TrainTune, AnArmSettingFixesItsKeyForThatArmAlone) {
  const fs::path dir = fs::path(::testing::TempDir()) / "tune_arm_setting";
  fs::remove_all(dir);
  const Config config = tiny_config("  train.lr: [0.001, 0.01]\n  gate.gamma: {choices: [0.1, 1.0]}\n");
  const auto options = TuneOptions().gates({"comet", "comet+ls"}).trials(2).seed(4);
  const auto fixed = run_tune(config, TuneOptions(options)
                                          .arm_settings(parse_arm_settings({"comet+ls:gate.gamma=10"}, "x"))
                                          .out_dir(dir.string()));
  ASSERT_EQ(fixed.trials.size(), 4u);
  for (size_t t = 0; t < 2; ++t) {
    const RunRecord& plain = fixed.trials[t];
    const RunRecord& searched = fixed.trials[2 + t];
    ASSERT_EQ(plain.params.size(), 2u);
    ASSERT_EQ(searched.params.size(), 2u);
    EXPECT_EQ(plain.params[0], searched.params[0]);  // train.lr stays paired
    EXPECT_NE(plain.params[1].second, "10");          // drawn from {0.1, 1.0}
    EXPECT_EQ(searched.params[1], (std::pair<std::string, std::string>{"gate.gamma", "10"}));
    // The run itself used it, not only its record.
    const Config ran = Config::load((dir / "trials" / fmt::format("comet-ls-trial{}", t) / "request.yaml").string());
    EXPECT_DOUBLE_EQ(ran.section("gate").require<double>("gamma"), 10.0);
  }
  // The plain arm's trials are those of a study without the setting.
  const auto without = run_tune(config, TuneOptions(options).gates({"comet"}));
  EXPECT_EQ(outcomes(without.trials), outcomes({fixed.trials[0], fixed.trials[1]}));
  // A setting for an arm the study does not run changes nothing; an unknown gate is an error.
  const auto other = run_tune(config, TuneOptions(options).gates({"comet"}).arm_settings(
                                          parse_arm_settings({"topk:gate.gamma=10"}, "x")));
  EXPECT_EQ(outcomes(other.trials), outcomes(without.trials));
  EXPECT_THROW(run_tune(config, TuneOptions(options).arm_settings(
                                    parse_arm_settings({"cmoet:gate.gamma=10"}, "x"))),
               Error);
}

TEST(TrainTune, ContinuesFromACommittedTrialsFileWithoutRetraining) {
  const fs::path dir = fs::path(::testing::TempDir()) / "tune_continue";
  fs::remove_all(dir);
  const Config config = tiny_config(kSpace);
  const auto options = TuneOptions().gates({"softmax"}).trials(3).seed(2);
  const auto full = run_tune(config, TuneOptions(options).out_dir((dir / "full").string()));
  // A committed copy of the first two trials' lines, on a "fresh machine" (another folder).
  std::ifstream in(dir / "full" / "trials.jsonl");
  std::string line, first_two;
  for (int i = 0; i < 2 && std::getline(in, line); ++i) first_two += line + "\n";
  fs::create_directories(dir / "committed");
  std::ofstream(dir / "committed" / "trials.jsonl") << first_two;
  const auto continued = run_tune(config, TuneOptions(options)
                                              .out_dir((dir / "fresh").string())
                                              .continue_from((dir / "committed" / "trials.jsonl").string()));
  EXPECT_EQ(outcomes(continued.trials), outcomes(full.trials));
  // Only the third trial was trained here.
  EXPECT_FALSE(fs::exists(dir / "fresh" / "trials" / "softmax-trial0"));
  EXPECT_TRUE(fs::exists(dir / "fresh" / "trials" / "softmax-trial2" / "results.json"));
  // The fresh folder's record holds all three trials.
  std::ifstream all(dir / "fresh" / "trials.jsonl");
  int lines = 0;
  while (std::getline(all, line)) ++lines;
  EXPECT_EQ(lines, 3);
  // A record of another config is not mistaken for this one's.
  const auto other = run_tune(tiny_config(std::string(kSpace) + "  train.weight_decay: [0.0, 0.1]\n"),
                              TuneOptions(options).trials(1).continue_from(
                                  (dir / "committed" / "trials.jsonl").string()));
  EXPECT_EQ(other.trials[0].params.size(), 4u);
}

TEST(TrainTune, ARecordFolderGetsTheSmallFilesAndContinuesTheStudy) {
  const fs::path dir = fs::path(::testing::TempDir()) / "tune_record";
  fs::remove_all(dir);
  const Config config = tiny_config(kSpace);
  const auto options = TuneOptions().gates({"softmax"}).seed(2).record_dir((dir / "record").string());
  const auto first = run_tune(config, TuneOptions(options).trials(2).out_dir((dir / "a").string()));
  for (const char* name : {"trials.jsonl", "tune_summary.md", "tune_trials.csv", "expected_best.csv"}) {
    EXPECT_TRUE(fs::exists(dir / "record" / name)) << name;
  }
  EXPECT_FALSE(fs::exists(dir / "record" / "trials"));  // run folders stay in out_dir
  // Another machine: a new out_dir, the same record; only trial 3 trains.
  const auto more = run_tune(config, TuneOptions(options).trials(3).out_dir((dir / "b").string()));
  EXPECT_FALSE(fs::exists(dir / "b" / "trials" / "softmax-trial1"));
  EXPECT_TRUE(fs::exists(dir / "b" / "trials" / "softmax-trial2" / "results.json"));
  EXPECT_EQ(outcomes({more.trials[0], more.trials[1]}), outcomes(first.trials));
  EXPECT_THROW(run_tune(config, TuneOptions(options).trials(1)), Error);  // record without out_dir
}

TEST(TrainTune, TopTrialsAreSummarisedWithTheirStandardError) {
  const auto result = run_tune(tiny_config(kSpace),
                               TuneOptions().gates({"softmax"}).trials(4).seed(1).top_fraction(0.5));
  std::vector<double> losses;
  for (const auto& t : result.trials) losses.push_back(t.valid_loss);
  const auto top = top_fraction(losses, 0.5);
  ASSERT_EQ(top.size(), 2u);
  const double a = losses[top[0]], b = losses[top[1]];
  const double se = std::abs(a - b) / std::sqrt(2.0) / std::sqrt(2.0);  // sample std / sqrt(n)
  EXPECT_NE(result.summary.find(fmt::format("| softmax | 2 | {:.4f} ± {:.4f} |", (a + b) / 2, se)),
            std::string::npos)
      << result.summary;
}

}  // namespace
}  // namespace moekit::train
