// `moekit tune CONFIG.yaml --trials N [--gates a,b] [--local-search|--both]
// [--seed S] [--set key=value ...] [--out DIR] [--continue-from trials.jsonl]
// [--record DIR] [--arm-set ARM:key=value ...]`:
// random search over `search:`, paired across arms, resumable.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "moekit/core/config.h"
#include "moekit/core/error.h"
#include "moekit/train/tune.h"

namespace moekit::cli {
namespace fs = std::filesystem;
namespace {

struct TuneArgs {
  std::string config;
  int64_t trials = 10;
  std::vector<std::string> gates{"softmax", "topk", "dselectk", "comet"};
  bool local_search = false;
  bool both = false;
  uint64_t seed = 0;
  double top_fraction = 0.05;
  std::vector<std::string> sets;
  std::string out;
  std::string continue_from;
  std::string record;
  std::vector<std::string> arm_sets;
};

void run_tune_command(const TuneArgs& args) {
  MOEKIT_CHECK(!(args.local_search && args.both), "--local-search/--both", "give at most one");
  Config config = Config::load(args.config);
  for (const auto& s : args.sets) config.set(s);
  const std::string out =
      args.out.empty() ? (fs::path("runs") / ("tune-" + fs::path(args.config).stem().string())).string()
                       : args.out;
  const auto options = train::TuneOptions()
                           .gates(args.gates)
                           .trials(args.trials)
                           .seed(args.seed)
                           .top_fraction(args.top_fraction)
                           .local_search(args.both ? std::vector<bool>{false, true}
                                                   : std::vector<bool>{args.local_search})
                           .out_dir(out)
                           .continue_from(args.continue_from)
                           .record_dir(args.record)
                           .arm_settings(train::parse_arm_settings(args.arm_sets, "--arm-set"));
  const auto result = train::run_tune(config, options, [](const std::string& line) {
    std::cerr << line << std::endl;
  });
  std::cout << result.summary;
  if (!result.plot_written) {
    std::cerr << "warning: gnuplot is missing or failed; no expected_best.svg written" << std::endl;
  }
  std::cerr << fmt::format("wrote {}/tune_trials.csv, trials.jsonl, tune_summary.md, expected_best.csv{}", out,
                           result.plot_written ? ", expected_best.svg" : "")
            << std::endl;
}

}  // namespace

void add_tune_command(CLI::App& app) {
  auto args = std::make_shared<TuneArgs>();
  auto* cmd = app.add_subcommand("tune", "Random search over the config's search: space, per gate");
  cmd->add_option("config", args->config, "experiment config with a search: section (YAML)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--trials", args->trials, "trials per gate")->required()->check(CLI::PositiveNumber);
  cmd->add_option("--gates", args->gates,
                  "comma-separated arms: gate names, crossed with --local-search/--both, or written "
                  "out (topk+ls, random+consistency)")->delimiter(',')->capture_default_str();
  cmd->add_flag("--local-search", args->local_search, "run every gate with the local-search wrapper");
  cmd->add_flag("--both", args->both, "run every gate without and with local search");
  cmd->add_option("--seed", args->seed, "the sampler's seed")->capture_default_str();
  cmd->add_option("--top", args->top_fraction, "fraction of trials reported (by validation loss)")
      ->capture_default_str()
      ->check(CLI::Range(1e-9, 1.0));
  cmd->add_option("--set", args->sets, "override a config key: section.key=value (repeatable)");
  cmd->add_option("--arm-set", args->arm_sets,
                  "fix a config key for one arm: ARM:section.key=value, e.g. comet+ls:gate.gamma=10 "
                  "(repeatable; arms the study does not run ignore it)");
  cmd->add_option("--out", args->out,
                  "output directory (default runs/tune-<config name>); rerunning continues it");
  cmd->add_option("--continue-from", args->continue_from,
                  "trials.jsonl files (comma-separated) whose trials are taken as done (e.g. a committed copy)");
  cmd->add_option("--record", args->record,
                  "a folder kept in git (e.g. docs/results/<study>/tune): the study continues from "
                  "its trials.jsonl and copies its tables, trials.jsonl and plot there as they are written");
  cmd->callback([args] { run_tune_command(*args); });
}

}  // namespace moekit::cli
