// The `moekit` subcommands. Each add_* function declares one subcommand, its
// options and its callback on the app; callbacks throw moekit::Error on bad input.
// Adding a command = one src/cli/<name>_command.cpp + a declaration and a call here.
#pragma once
#include <CLI/CLI.hpp>

namespace moekit::cli {

/// The `moekit data` parent command, created on first use, so each data set's
/// command file adds its own `moekit data <name>` subcommand.
inline CLI::App* data_command(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_name() == "data") return sub;
  }
  CLI::App* data = app.add_subcommand("data", "Prepare a data set");
  data->require_subcommand(1);
  return data;
}

void add_gates_command(CLI::App& app);
void add_demo_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_config_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_data_multifashion_command(CLI::App& app);
void add_data_movielens_command(CLI::App& app);
void add_data_bible_command(CLI::App& app);
void add_bleu_command(CLI::App& app);
void add_chrf_command(CLI::App& app);
void add_compare_command(CLI::App& app);
void add_tune_command(CLI::App& app);
void add_translate_commands(CLI::App& app);
void add_moefy_command(CLI::App& app);
void add_launch_command(CLI::App& app);

inline void register_commands(CLI::App& app) {
  add_gates_command(app);
  add_demo_command(app);
  add_train_command(app);
  add_config_command(app);
  add_bench_command(app);
  add_data_multifashion_command(app);
  add_data_movielens_command(app);
  add_data_bible_command(app);
  add_bleu_command(app);
  add_chrf_command(app);
  add_compare_command(app);
  add_tune_command(app);
  add_translate_commands(app);
  add_moefy_command(app);
  add_launch_command(app);
}

}  // namespace moekit::cli
