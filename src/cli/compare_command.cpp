// `moekit compare CONFIG.yaml --gates a,b --seeds N [--local-search|--both]
// [--from-tune DIR] [--pairs A:B,...] [--set key=value ...] [--out DIR]
// [--continue-from runs.jsonl] [--record DIR] [--arm-set ARM:key=value ...]`:
// gates x seeds, mean ± std of test metrics and paired differences.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "moekit/core/config.h"
#include "moekit/core/error.h"
#include "moekit/train/compare.h"

namespace moekit::cli {
namespace fs = std::filesystem;
namespace {

struct CompareArgs {
  std::string config;
  std::vector<std::string> gates{"softmax", "topk", "hash", "dselectk", "comet"};
  int64_t seeds = 5;
  bool local_search = false;
  bool both = false;
  bool gates_given = false;
  std::string from_tune;
  std::vector<std::string> pairs;
  std::vector<std::string> sets;
  std::string out;
  std::string continue_from;
  std::string record;
  std::vector<std::string> arm_sets;
};

// "A:B" -> {A, B}; arms are group labels such as "comet + LS".
std::vector<std::vector<std::string>> parse_pairs(const std::vector<std::string>& specs) {
  if (specs.empty()) return train::default_pairs();
  std::vector<std::vector<std::string>> pairs;
  for (const auto& spec : specs) {
    const auto colon = spec.find(':');
    MOEKIT_CHECK(colon != std::string::npos && colon > 0 && colon + 1 < spec.size(), "--pairs",
                 "expected ARM:ARM such as 'comet + LS:dselectk', got '{}'", spec);
    pairs.push_back({spec.substr(0, colon), spec.substr(colon + 1)});
  }
  return pairs;
}

void run_compare_command(const CompareArgs& args) {
  MOEKIT_CHECK(!(args.local_search && args.both), "--local-search/--both", "give at most one");
  Config config = Config::load(args.config);
  for (const auto& s : args.sets) config.set(s);
  const std::string out =
      args.out.empty() ? (fs::path("runs") / ("compare-" + fs::path(args.config).stem().string())).string()
                       : args.out;
  // With --from-tune the tune record gives the arms; --gates then filters them.
  const bool filter = args.from_tune.empty() || args.gates_given;
  const auto options = train::CompareOptions()
                           .gates(filter ? args.gates : std::vector<std::string>{})
                           .from_tune(args.from_tune)
                           .pairs(parse_pairs(args.pairs))
                           .continue_from(args.continue_from)
                           .record_dir(args.record)
                           .arm_settings(train::parse_arm_settings(args.arm_sets, "--arm-set"))
                           .seeds(args.seeds)
                           .local_search(args.both ? std::vector<bool>{false, true}
                                                   : std::vector<bool>{args.local_search})
                           .out_dir(out);
  const auto result = train::run_compare(config, options, [](const std::string& line) {
    std::cerr << line << std::endl;
  });
  if (!result.runs.empty()) {
    std::cout << result.table;
    if (!result.plot_written) {
      std::cerr << "warning: gnuplot is missing or failed; no compare.svg written" << std::endl;
    }
    std::cerr << fmt::format("wrote {0}/compare.md, compare.csv, compare_summary.csv, runs.jsonl{1}", out,
                             result.plot_written ? ", compare.svg" : "")
              << std::endl;
  }
  if (!result.failures.empty()) {
    std::string what = fmt::format("{} gate setting(s) failed and were skipped:", result.failures.size());
    for (const auto& f : result.failures) what += "\n  " + f;
    throw Error("compare", what);
  }
}

}  // namespace

void add_compare_command(CLI::App& app) {
  auto args = std::make_shared<CompareArgs>();
  auto* cmd = app.add_subcommand("compare", "Train and test gates x seeds; mean ± std table");
  cmd->add_option("config", args->config, "experiment config (YAML)")->required()->check(CLI::ExistingFile);
  cmd->add_option_function<std::vector<std::string>>(
         "--gates",
         [args](const std::vector<std::string>& gates) {
           args->gates = gates;
           args->gates_given = true;
         },
         "comma-separated arms: gate names, crossed with --local-search/--both, or written "
         "out (topk+ls, random+consistency); default softmax,topk,hash,dselectk,comet; with "
         "--from-tune: every tuned arm")
      ->delimiter(',');
  cmd->add_option("--from-tune", args->from_tune,
                  "tune folders or trials.jsonl files, comma-separated: rerun each arm's best "
                  "trial (by validation loss)");
  cmd->add_option("--pairs", args->pairs,
                  "arms compared seed by seed, A:B,... (default: comet + LS:dselectk, "
                  "dselectk:topk, dselectk:hash, comet:topk)")
      ->delimiter(',');
  cmd->add_option("--continue-from", args->continue_from,
                  "runs.jsonl files (comma-separated) whose runs are taken as done (e.g. a committed copy)");
  cmd->add_option("--record", args->record,
                  "a folder kept in git (e.g. docs/results/<study>/compare): the study continues from "
                  "its runs.jsonl and copies its tables, runs.jsonl and plot there as they are written");
  cmd->add_option("--seeds", args->seeds, "seeds per gate (0..N-1)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_flag("--local-search", args->local_search, "run every gate with the local-search wrapper");
  cmd->add_flag("--both", args->both, "run every gate without and with local search");
  cmd->add_option("--set", args->sets, "override a config key: section.key=value (repeatable)");
  cmd->add_option("--arm-set", args->arm_sets,
                  "fix a config key for one arm: ARM:section.key=value, e.g. comet+ls:gate.gamma=10 "
                  "(repeatable; arms the study does not run ignore it)");
  cmd->add_option("--out", args->out, "output directory (default runs/compare-<config name>)");
  cmd->callback([args] { run_compare_command(*args); });
}

}  // namespace moekit::cli
