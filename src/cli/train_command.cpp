// `moekit train CONFIG.yaml [--set key=value ...] [--out RUN] [--resume]
// [--init RUN2] [--teacher RUN]` trains either model family (data.name picks
// it; `train-mt` is the same command with data.name defaulting to parallel;
// --init and --teacher are translation's train.init and distill.teacher) and `moekit eval RUN [--split test]`
// evaluates a multi-task run's best weights.
#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "moekit/core/checkpoint.h"
#include "moekit/core/config.h"
#include "moekit/core/error.h"
#include "moekit/dist/process_group.h"
#include "moekit/train/experiment.h"
#include "moekit/train/experiment_run.h"

namespace moekit::cli {
namespace fs = std::filesystem;
namespace {

struct TrainArgs {
  std::string config;
  std::vector<std::string> sets;
  std::string out;
  bool resume = false;
  std::string init, teacher;  // shorthands for train.init and distill.teacher
  std::string default_data;  // data.name when the config has none ("" = the multi-task default)
};

void run_train(const TrainArgs& args) {
  const std::string run =
      args.out.empty() ? (fs::path("runs") / fs::path(args.config).stem()).string() : args.out;
  const std::string resolved = (fs::path(run) / "config.yaml").string();
  // A resumed run continues under the config it started with.
  Config config = Config::load(args.resume && fs::exists(resolved) ? resolved : args.config);
  if (!args.default_data.empty() && !config.keys().empty() && !config.section("data").has("name")) {
    config.set("data.name=" + args.default_data);
  }
  if (!args.init.empty()) config.set("train.init=" + args.init);
  if (!args.teacher.empty()) config.set("distill.teacher=" + args.teacher);
  for (const auto& s : args.sets) config.set(s);
  train::RunOptions options;
  options.run_dir = run;
  options.resume = args.resume;
  // Under `moekit launch` (or torchrun-style variables) this process is one rank.
  options.group = dist::default_group();
  std::string results;
  train::run_experiment(config, options, &results);
  if (options.group->rank() == 0) std::cout << results;
}

struct EvalArgs {
  std::string run;
  std::string split = "test";
};

nlohmann::ordered_json to_json(const train::Metrics& m) {
  nlohmann::ordered_json j;
  j["loss"] = m.loss;
  for (const auto& [name, value] : m.values) j[name] = value;
  j["active_experts"] = m.active_experts;
  return j;
}

void run_eval(const EvalArgs& args) {
  const std::string resolved = (fs::path(args.run) / "config.yaml").string();
  MOEKIT_CHECK(fs::exists(resolved), args.run, "not a run directory (no config.yaml)");
  Config config = Config::load(resolved);
  MOEKIT_CHECK(train::experiment_family(config) == train::ExperimentFamily::kMultiTask, args.run,
               "a translation run: decode it with `moekit translate {}`", args.run);
  train::MultiTaskExperiment ex = train::load_experiment(config);
  models::MultiTaskModel model = [&] {
    try {
      return models::MultiTaskModel(ex.model_options);
    } catch (const Error& e) {
      throw e.with_prefix(config.where());
    }
  }();
  load_module_weights(*model, (fs::path(args.run) / "best.pt").string());
  train::MultiTaskTrainer trainer(model, ex.trainer_options);
  const data::MultiTaskDataset& rows =
      args.split == "train" ? ex.train : args.split == "valid" ? ex.valid : ex.test;
  nlohmann::ordered_json j = to_json(trainer.evaluate(rows));
  j["split"] = args.split;
  std::cout << j.dump(2) << "\n";
}

void add_train(CLI::App& app, const std::string& name, const std::string& about,
               const std::string& default_data) {
  auto args = std::make_shared<TrainArgs>();
  args->default_data = default_data;
  auto* cmd = app.add_subcommand(name, about);
  cmd->add_option("config", args->config, "experiment config (YAML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--set", args->sets, "override a config key: section.key=value (repeatable)");
  cmd->add_option("--out", args->out, "run directory (default runs/<config name>)");
  cmd->add_flag("--resume", args->resume, "continue from RUN/checkpoint.pt");
  cmd->add_option("--init", args->init,
                  "translation: start from these weights (a run, e.g. moekit moefy's output, or a "
                  ".pt file); sets train.init");
  cmd->add_option("--teacher", args->teacher,
                  "translation: distil this run's model into the one trained; sets distill.teacher");
  cmd->callback([args] { run_train(*args); });
}

}  // namespace

void add_train_command(CLI::App& app) {
  add_train(app, "train", "Train a model from a YAML config (data.name picks the family)", "");
  add_train(app, "train-mt", "Alias of train for translation configs (data.name defaults to parallel)",
            "parallel");

  auto eval_args = std::make_shared<EvalArgs>();
  auto* eval = app.add_subcommand("eval", "Evaluate a multi-task run's best weights");
  eval->add_option("run", eval_args->run, "run directory")->required();
  eval->add_option("--split", eval_args->split, "train | valid | test")
      ->capture_default_str()
      ->check(CLI::IsMember({"train", "valid", "test"}));
  eval->callback([eval_args] { run_eval(*eval_args); });
}

}  // namespace moekit::cli
