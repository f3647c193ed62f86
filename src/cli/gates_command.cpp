// `moekit gates`: the registered gates, what each is, the options it reads
// with their defaults, and the options every gate shares.
#include <fmt/format.h>

#include <iostream>
#include <map>

#include "cli/commands.h"
#include "moekit/gates/gate.h"

namespace moekit::cli {
namespace {

void print_gates() {
  const gates::GateOptions defaults(0, 0);
  std::map<std::string, std::string> value;
  for (const auto& [name, v] : defaults.values()) value[name] = v;

  std::cout << "Gates (shared options: d_in, n_experts; YAML section `gate:`, `--set gate.KEY=V`)\n\n";
  for (const auto& info : gates::registered_gates()) {
    std::cout << fmt::format("  {:<9} {}\n", info.name, info.summary);
    for (const auto& opt : info.options) {
      std::cout << fmt::format("  {:<9}   {} = {}\n", "", opt, value[opt]);
    }
  }
  std::cout << "\nPermutation local search (wraps any gate; steps are optimiser steps):\n";
  for (const auto& opt : gates::local_search_options()) {
    std::cout << fmt::format("  {} = {}\n", opt, value[opt]);
  }
  std::cout << "\nA config's `gate:` section may hold a section per gate name with options for\n"
               "that gate only, e.g. `topk: {noisy: false, balance_weight: 0}`.\n";
}

}  // namespace

void add_gates_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("gates", "List the gates, their options and defaults");
  cmd->callback(print_gates);
}

}  // namespace moekit::cli
