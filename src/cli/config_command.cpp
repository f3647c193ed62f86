// `moekit config CONFIG.yaml [--set key=value ...]`: the resolved config a run
// of CONFIG would use, every key with its doc, type and default.
#include <iostream>

#include "cli/commands.h"
#include "moekit/core/config.h"
#include "moekit/train/experiment_run.h"

namespace moekit::cli {
namespace {

struct ConfigArgs {
  std::string config;
  std::vector<std::string> sets;
};

void run_config(const ConfigArgs& args) {
  Config config = Config::load(args.config);
  for (const auto& s : args.sets) config.set(s);
  train::resolve_experiment(config);
  std::cout << config.annotated_dump();
}

}  // namespace

void add_config_command(CLI::App& app) {
  auto args = std::make_shared<ConfigArgs>();
  auto* cmd = app.add_subcommand("config", "Print the resolved config of a run: every key, its doc and default");
  cmd->add_option("config", args->config, "experiment config (YAML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--set", args->sets, "override a config key: section.key=value (repeatable)");
  cmd->callback([args] { run_config(*args); });
}

}  // namespace moekit::cli
