#include "moekit/train/tune.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <numeric>

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

}  // namespace
}  // namespace moekit::train
