// libFuzzer harness: YAML run configs plus `--set` overrides. The input is
// YAML, optionally followed by a "%%\n" line and one `key=value` per line.
// Every key is read the ways the loaders read keys (section, string, integer,
// number, flag), then unused keys are checked and the config dumped.
#include <functional>
#include <sstream>
#include <string_view>

#include "fuzz_common.h"
#include "moekit/core/config.h"

namespace {

void read_all(const moekit::Config& c, int depth) {
  if (depth > 6) return;
  for (const auto& key : c.keys()) {
    const std::string file = "fuzz.yaml";
    moekit::fuzz::expect_clean([&] { read_all(c.section(key), depth + 1); }, file);
    moekit::fuzz::expect_clean([&] { c.get<std::string>(key, "x"); }, file);
    moekit::fuzz::expect_clean([&] { c.get<int64_t>(key, 0); }, file);
    moekit::fuzz::expect_clean([&] { c.get<double>(key, 0.5); }, file);
    moekit::fuzz::expect_clean([&] { c.require<bool>(key); }, file);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace moekit;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t sep = input.find("%%\n");
  const std::string yaml(input.substr(0, sep));
  const std::string file = "fuzz.yaml";
  try {
    Config config = Config::parse(yaml, file);
    if (sep != std::string_view::npos) {
      std::istringstream lines(std::string(input.substr(sep + 3)));
      std::string line;
      while (std::getline(lines, line)) {
        fuzz::expect_clean([&] { config.set(line); }, "");
      }
    }
    fuzz::expect_clean([&] { config.check_all_used(); }, file);
    read_all(config, 0);
    fuzz::expect_clean([&] { config.check_all_used(); }, file);
    config.dump();
  } catch (const Error& e) {
    if (std::string(e.what()).find(file) == std::string::npos) std::abort();
  }
  return 0;
}
