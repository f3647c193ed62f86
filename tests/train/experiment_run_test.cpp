#include "moekit/train/experiment_run.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include "moekit/core/error.h"
#include "moekit/core/lines.h"
#include "moekit/data/movielens.h"
#include "moekit/data/synth_movielens.h"
#include "moekit/train/compare.h"
#include "moekit/train/experiment.h"
#include "moekit/train/option_tables.h"
#include "moekit/train/translation_experiment.h"
#include "testing/errors.h"
#include "testing/temp_dir.h"
#include "testing/tiny_parallel_corpus.h"

namespace moekit::train {
namespace {
namespace fs = std::filesystem;
using moekit::testing::corpus_dir;
using moekit::testing::run_cli;
using moekit::testing::fresh_dir;


Config tiny_mixture() {
  return Config::parse(R"(
data: {name: mixture, rows: 128, d_in: 8, clusters: 3, teacher_experts: 4}
model: {n_experts: 4, expert_width: 8, tower_hidden: 8}
gate: {name: softmax, k: 2}
train: {lr: 0.01, batch_size: 64, epochs: 3, patience: 3}
)",
                       "tiny.yaml");
}

// A translation config on the tests' tiny corpus (or on `dir`, for tests that only
// resolve it and never read the data): a few steps of a tiny model.
std::string tiny_translation_text(const fs::path& dir = corpus_dir()) {
  return "data:\n  name: parallel\n  dir: " + dir.string() +
         "\n  max_len: 32\nmodel: {d_model: 32, ffn_hidden: 64, heads: 2, encoder_layers: 1,"
         " decoder_layers: 2, dropout: 0.1, n_experts: 2}\ngate: {name: random}\n"
         "train: {lr: 0.003, warmup_steps: 4, max_tokens: 256, max_steps: 8, eval_every: 4,"
         " log_every: 4, bleu_sentences: 6, max_decode_len: 12}\n";
}

TEST(TrainExperimentRun, DataNamePicksTheFamily) {
  EXPECT_EQ(experiment_family(tiny_mixture()), ExperimentFamily::kMultiTask);
  EXPECT_EQ(experiment_family(Config::parse("data: {name: parallel, dir: x}", "t.yaml")),
            ExperimentFamily::kTranslation);
  // No name: the multi-task default, as before families existed.
  EXPECT_EQ(experiment_family(Config::parse("gate: {name: topk}", "t.yaml")),
            ExperimentFamily::kMultiTask);
  moekit::testing::expect_error(
      [] { experiment_family(Config::parse("data: {name: bibel}", "t.yaml")); },
      {"t.yaml: data.name", "bibel", "parallel", "multifashion"});
  // An empty file is not a silent default run.
  moekit::testing::expect_error([] { experiment_family(Config::parse("", "empty.yaml")); },
                                {"empty.yaml", "empty"});
}

TEST(TrainExperimentRun, ResolveChecksEveryKeyWithoutLoadingData) {
  // The MovieLens folder does not exist: resolving never reads it.
  Config config = Config::parse(
      "data: {name: movielens, dir: /nonexistent/ml, negatives: 2}\ngate: {name: topk}\n",
      "ml.yaml");
  resolve_experiment(config);
  const std::string text = config.annotated_dump();
  EXPECT_NE(text.find("negatives: 2"), std::string::npos) << text;
  EXPECT_NE(text.find("# unrated items drawn per rating"), std::string::npos) << text;
  // Every key a run uses is there with its default, even ones the file left out.
  EXPECT_NE(text.find("expert: mlp"), std::string::npos) << text;
  EXPECT_NE(text.find("[int, default 512]"), std::string::npos) << text;  // train.batch_size
  EXPECT_NE(text.find("permutation_init: 0.05"), std::string::npos) << text;

  // Errors name file, section and key, for both families.
  // Resolving reads no data, so these need no tokenizer (the sanitizer build has none).
  Config bad_lr = Config::parse(tiny_translation_text("/nonexistent/corpus"), "mt.yaml");
  bad_lr.set("train.lr=0");
  moekit::testing::expect_error([&] { resolve_experiment(bad_lr); }, {"mt.yaml: train.lr", "> 0"});
  Config bad_dropout = tiny_mixture();
  bad_dropout.set("model.expert=rnn");
  moekit::testing::expect_error([&] { resolve_experiment(bad_dropout); },
                                {"tiny.yaml: model.expert", "rnn"});
  Config typo = Config::parse(tiny_translation_text("/nonexistent/corpus"), "mt.yaml");
  typo.set("model.d_modle=64");
  moekit::testing::expect_error([&] { resolve_experiment(typo); }, {"mt.yaml: model.d_modle", "unknown"});
  // Task weights are checked against the data set's tasks, naming them.
  Config weights = Config::parse("data: {name: movielens, dir: /nonexistent/ml}\ntrain: {task_weights: [1, 2, 3]}\n",
                                 "ml.yaml");
  moekit::testing::expect_error([&] { resolve_experiment(weights); },
                                {"ml.yaml: train.task_weights", "3 weights for 2 tasks (watch, rating)"});
  Config ids = Config::parse("data: {name: movielens, dir: /nonexistent/ml, features: both}\n", "ml.yaml");
  moekit::testing::expect_error([&] { resolve_experiment(ids); }, {"ml.yaml: data.features", "side or ids"});
}

TEST(TrainExperimentRun, RecommenderFeaturesAreSideFeaturesOrIdsAlone) {
  const auto dir = moekit::testing::fresh_dir("moekit_recsys_features");
  data::write_movielens_1m(
      data::generate_synth_movielens(data::SynthMovieLensOptions().users(40).items(60).mean_ratings(25))
          .data,
      (dir / "ml").string());
  const auto load = [&](const std::string& features) {
    return load_experiment(Config::parse(
        "data: {name: movielens, dir: " + (dir / "ml").string() + ", features: " + features + "}\n",
        "ml.yaml"));
  };
  const MultiTaskExperiment side = load("side"), ids = load("ids");
  EXPECT_EQ(side.train.input.size(1), 29 + 18);  // user attributes + genres
  EXPECT_EQ(ids.train.input.size(1), 0);
  EXPECT_EQ(ids.train.size(), side.train.size());
  EXPECT_TRUE(ids.train.categorical.equal(side.train.categorical));  // the ids the embeddings read
  EXPECT_EQ(ids.model_options.categorical_sizes(), (std::vector<int64_t>{40, 60}));
}

TEST(TrainExperimentRun, TranslationDefaultsAreTheOptionsStructsOwn) {
  const Config config = Config::parse("data: {name: parallel, dir: corpus}\ngate: {name: random}", "mt.yaml");
  const TranslationExperiment ex = load_translation_experiment(config);
  const models::TransformerOptions reference(1);
  EXPECT_EQ(ex.model.d_model(), reference.d_model());
  EXPECT_EQ(ex.model.encoder_layers(), reference.encoder_layers());
  EXPECT_EQ(ex.model.decoder_layers(), reference.decoder_layers());
  EXPECT_EQ(ex.model.dropout(), reference.dropout());
  EXPECT_EQ(ex.model.pre_norm(), reference.pre_norm());
  // The consistency term is the config's choice, whatever the gate is called.
  EXPECT_EQ(ex.trainer.consistency(), TranslationTrainerOptions().consistency());
  EXPECT_EQ(ex.tokenizer_path, (fs::path("corpus") / "spm.model").string());
  EXPECT_EQ(ex.directions.size(), 2u);
}

// Each table's keys print their struct's default and read it back unchanged;
// text that does not parse names the key.
template <typename Options>
void expect_round_trip(const OptionTable<Options>& table, const Options& defaults) {
  for (const auto& field : table) {
    Options copy = defaults;
    field.set(copy, field.get(defaults));
    EXPECT_EQ(field.get(copy), field.get(defaults)) << field.key;
    EXPECT_FALSE(field.doc.empty()) << field.key;
    if (field.type == "text") continue;
    try {
      field.set(copy, "not-a-number");
      ADD_FAILURE() << field.key << " accepted not-a-number";
    } catch (const Error& e) {
      EXPECT_EQ(e.where(), field.key);
    }
  }
}

TEST(TrainExperimentRun, EveryTableKeyRoundTripsItsDefault) {
  expect_round_trip(transformer_option_table(), models::TransformerOptions(1));
  expect_round_trip(translation_trainer_option_table(), TranslationTrainerOptions());
  expect_round_trip(multi_task_model_option_table(), models::MultiTaskModelOptions({1}, {}));
  expect_round_trip(trainer_option_table(), TrainerOptions());
  expect_round_trip(gates::gate_option_table(), gates::GateOptions(0, 0));
  expect_round_trip(mixture_option_table(), data::SyntheticMixtureOptions());
  expect_round_trip(recsys_option_table(), data::RecsysOptions());
  expect_round_trip(multifashion_option_table(), data::MultiFashionMNISTOptions());
  // The config key may differ from the member it sets.
  data::SyntheticMixtureOptions m;
  set_option(mixture_option_table(), m, "clusters", "5");
  EXPECT_EQ(m.n_clusters(), 5);
  moekit::testing::expect_error([&] { set_option(mixture_option_table(), m, "clusters", "0"); },
                                {"clusters", ">= 1"});
}

TEST(TrainExperimentRun, RunOnceWithARunDirReusesFinishedRunsAndResumesOthers) {
  const fs::path root = fresh_dir("moekit_run_once");
  const std::string dir = (root / "softmax-seed0").string();
  const RunRecord first = run_once(tiny_mixture(), {"train.seed=0"}, dir);
  for (const char* f : {"request.yaml", "config.yaml", "checkpoint.pt", "results.json"}) {
    EXPECT_TRUE(fs::exists(fs::path(dir) / f)) << f;
  }
  // A finished run is read back, not trained again.
  const auto written = fs::last_write_time(fs::path(dir) / "results.json");
  const RunRecord again = run_once(tiny_mixture(), {"train.seed=0"}, dir);
  EXPECT_EQ(fs::last_write_time(fs::path(dir) / "results.json"), written);
  EXPECT_EQ(again.valid_loss, first.valid_loss);
  EXPECT_EQ(again.test.values, first.test.values);
  EXPECT_EQ(again.epochs, first.epochs);
  EXPECT_EQ(again.gate, "softmax");
  // An interrupted run (no results.json) continues from its checkpoint and
  // ends where the uninterrupted one did.
  fs::remove(fs::path(dir) / "results.json");
  const RunRecord resumed = run_once(tiny_mixture(), {"train.seed=0"}, dir);
  EXPECT_EQ(resumed.epochs, first.epochs);
  EXPECT_DOUBLE_EQ(resumed.valid_loss, first.valid_loss);
  // The folder of another config's run is never mixed up with this one.
  moekit::testing::expect_error([&] { run_once(tiny_mixture(), {"train.seed=1"}, dir); },
                                {dir, "another config"});
}

TEST(TrainExperimentRun, CompareRunsATranslationConfigWithTestBleu) {
  MOEKIT_REQUIRE_TOKENIZER();
  const fs::path out = fresh_dir("moekit_compare_mt");
  const Config config = Config::parse(tiny_translation_text(), "mt.yaml");
  const auto result = run_compare(config, CompareOptions().gates({"random", "switch"}).out_dir(out.string()));
  ASSERT_TRUE(result.failures.empty()) << result.failures.front();
  ASSERT_EQ(result.runs.size(), 2u);
  EXPECT_NE(result.table.find("test bleu"), std::string::npos) << result.table;
  for (const auto& r : result.runs) {
    EXPECT_EQ(r.epochs, 8);  // optimiser steps
    EXPECT_TRUE(std::isfinite(r.test.loss) && r.test.loss > 0) << r.gate;
    EXPECT_GE(r.test.get("bleu"), 0.0) << r.gate;
    EXPECT_TRUE(fs::exists(out / "runs" / (r.gate + "-seed0") / "best.pt")) << r.gate;
  }
}

TEST(TrainExperimentRun, TrainAndConfigCommandsServeBothFamilies) {
  MOEKIT_REQUIRE_TOKENIZER();
  const fs::path root = fresh_dir("moekit_train_family");
  const fs::path config = root / "mt.yaml";
  std::ofstream(config) << tiny_translation_text();
  const std::string log = " 2>>" + (root / "log.txt").string();
  ASSERT_EQ(run_cli("config " + config.string() + " > " + (root / "resolved.txt").string() + log), 0);
  const std::string resolved = read_text((root / "resolved.txt").string());
  EXPECT_NE(resolved.find("d_model: 32"), std::string::npos) << resolved;
  EXPECT_NE(resolved.find("# model width [int, default 512]"), std::string::npos) << resolved;

  ASSERT_EQ(run_cli("train " + config.string() + " --out " + (root / "run").string() + " > " +
                    (root / "r.json").string() + log),
            0);
  const auto results = nlohmann::json::parse(read_text((root / "r.json").string()));
  EXPECT_EQ(results["family"], "translation");
  EXPECT_EQ(results["steps"], 8);
  EXPECT_TRUE(results["test"].contains("bleu")) << results.dump();
  EXPECT_EQ(nlohmann::json::parse(read_text((root / "run" / "results.json").string())), results);

  std::ofstream(root / "empty.yaml") << "# nothing here\n";
  const int status = run_cli("train " + (root / "empty.yaml").string() + " --out " +
                             (root / "none").string() + log);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  EXPECT_FALSE(fs::exists(root / "none" / "results.json"));
}

}  // namespace
}  // namespace moekit::train
