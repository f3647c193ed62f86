// `moekit train CONFIG.yaml [--set key=value ...] [--out RUN] [--resume]` and
// `moekit eval RUN [--split test]` for the multi-task experiments.
#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "moekit/core/checkpoint.h"
#include "moekit/core/config.h"
#include "moekit/core/error.h"
#include "moekit/dist/expert_parallel.h"
#include "moekit/dist/process_group.h"
#include "moekit/train/experiment.h"

namespace moekit::cli {
namespace fs = std::filesystem;
namespace {

struct TrainArgs {
  std::string config;
  std::vector<std::string> sets;
  std::string out;
  bool resume = false;
};

nlohmann::ordered_json to_json(const train::Metrics& m) {
  nlohmann::ordered_json j;
  j["loss"] = m.loss;
  for (const auto& [name, value] : m.values) j[name] = value;
  j["active_experts"] = m.active_experts;
  return j;
}

// Option errors raised while building name the config they came from.
models::MultiTaskModel build_model(const train::MultiTaskExperiment& ex, const Config& config) {
  try {
    return models::MultiTaskModel(ex.model_options);
  } catch (const Error& e) {
    throw e.with_prefix(config.where());
  }
}

void run_train(const TrainArgs& args) {
  const std::string run =
      args.out.empty() ? (fs::path("runs") / fs::path(args.config).stem()).string() : args.out;
  const std::string resolved = (fs::path(run) / "config.yaml").string();
  // A resumed run continues under the config it started with.
  Config config = Config::load(args.resume && fs::exists(resolved) ? resolved : args.config);
  for (const auto& s : args.sets) config.set(s);
  train::MultiTaskExperiment ex = train::load_experiment(config);
  // Under `moekit launch` (or torchrun-style variables) this process is one rank.
  const std::shared_ptr<dist::Group> group = dist::default_group();
  const bool writer = group->rank() == 0;
  fs::create_directories(run);
  if (writer) write_text_atomically(resolved, config.dump());

  torch::manual_seed(ex.trainer_options.seed());
  models::MultiTaskModel model = build_model(ex, config);
  dist::broadcast_module(*group, *model);
  dist::shard_moe_experts(group, *model);
  train::MultiTaskTrainer trainer(model, ex.trainer_options.run_dir(run), group);
  const auto start = std::chrono::steady_clock::now();
  const train::FitResult fit = trainer.fit(ex.train, ex.valid, args.resume);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const train::Metrics test = trainer.evaluate(ex.test);

  nlohmann::ordered_json results;
  results["epochs"] = fit.epochs_run;
  results["best_epoch"] = fit.best_epoch;
  results["early_stopped"] = fit.early_stopped;
  results["train_seconds"] = seconds;
  results["valid"] = to_json(fit.best_valid);
  results["test"] = to_json(test);
  if (!writer) return;
  results["world_size"] = group->world_size();
  write_text_atomically((fs::path(run) / "results.json").string(), results.dump(2) + "\n");
  std::cout << results.dump(2) << "\n";
}

struct EvalArgs {
  std::string run;
  std::string split = "test";
};

void run_eval(const EvalArgs& args) {
  const std::string resolved = (fs::path(args.run) / "config.yaml").string();
  MOEKIT_CHECK(fs::exists(resolved), args.run, "not a run directory (no config.yaml)");
  Config config = Config::load(resolved);
  train::MultiTaskExperiment ex = train::load_experiment(config);
  models::MultiTaskModel model = build_model(ex, config);
  torch::serialize::InputArchive archive;
  load_archive(archive, (fs::path(args.run) / "best.pt").string());
  try {
    model->load(archive);
  } catch (const c10::Error& e) {
    throw Error((fs::path(args.run) / "best.pt").string(),
                "does not match the run's config: " + std::string(e.what_without_backtrace()));
  }
  train::MultiTaskTrainer trainer(model, ex.trainer_options);
  const data::MultiTaskDataset& rows =
      args.split == "train" ? ex.train : args.split == "valid" ? ex.valid : ex.test;
  nlohmann::ordered_json j = to_json(trainer.evaluate(rows));
  j["split"] = args.split;
  std::cout << j.dump(2) << "\n";
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "Train a model from a YAML config");
  cmd->add_option("config", args->config, "experiment config (YAML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--set", args->sets, "override a config key: section.key=value (repeatable)");
  cmd->add_option("--out", args->out, "run directory (default runs/<config name>)");
  cmd->add_flag("--resume", args->resume, "continue from RUN/checkpoint.pt");
  cmd->callback([args] { run_train(*args); });

  auto eval_args = std::make_shared<EvalArgs>();
  auto* eval = app.add_subcommand("eval", "Evaluate a trained run's best weights");
  eval->add_option("run", eval_args->run, "run directory")->required();
  eval->add_option("--split", eval_args->split, "train | valid | test")
      ->capture_default_str()
      ->check(CLI::IsMember({"train", "valid", "test"}));
  eval->callback([eval_args] { run_eval(*eval_args); });
}

}  // namespace moekit::cli
