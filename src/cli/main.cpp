#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/commands.h"
#include "moekit/core/error.h"
#include "moekit/core/threads.h"

int main(int argc, char** argv) {
  // Logs and progress go to stderr; stdout carries results only.
  spdlog::set_default_logger(spdlog::stderr_color_mt("moekit"));
  spdlog::set_pattern("[%H:%M:%S] %v");
  CLI::App app{"moekit: sparse Mixture-of-Experts training and serving on LibTorch", "moekit"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "moekit 0.1.0");
  int threads = 0;
  app.add_option("--threads", threads, "intra-op CPU threads (0 = all cores)")->capture_default_str();
  app.parse_complete_callback([&threads] { moekit::configure_threads(threads); });
  moekit::cli::register_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const moekit::Error& e) {
    std::cerr << "moekit: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    // Anything else that escapes is a missing check; still never abort.
    std::cerr << "moekit: internal error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
