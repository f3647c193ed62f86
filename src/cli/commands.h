// The `moekit` subcommands. Each add_* function declares one subcommand, its
// options and its callback on the app; callbacks throw moekit::Error on bad input.
#pragma once
#include <CLI/CLI.hpp>

namespace moekit::cli {

void add_gates_command(CLI::App& app);
void add_demo_command(CLI::App& app);

inline void register_commands(CLI::App& app) {
  add_gates_command(app);
  add_demo_command(app);
}

}  // namespace moekit::cli
