#include "cli/commands.h"
namespace moekit::cli {
void add_demo_command(CLI::App& app) {}
}  // namespace moekit::cli
