#include "moekit/train/run_dir.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <utility>

#include "moekit/core/checkpoint.h"
#include "moekit/core/error.h"

namespace moekit::train {
namespace fs = std::filesystem;

RunDir::RunDir(std::string dir, bool writer) : dir_(std::move(dir)), writer_(writer) {}

std::string RunDir::path(const std::string& name) const { return (fs::path(dir_) / name).string(); }

void RunDir::create() const {
  if (!writer()) return;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  MOEKIT_CHECK(!ec, dir_, "cannot create the run directory: {}", ec.message());
}

void RunDir::start_metrics() const {
  if (writer()) write_text_atomically(metrics_path(), "");
}

void RunDir::truncate_metrics(const std::string& key, int64_t last) const {
  if (!writer()) return;
  std::ifstream in(metrics_path());
  std::string kept, line;
  int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty()) continue;
    // NOTE: only a kill mid-append tears a line, and then it is the last one;
    // the checkpoint was written after the previous line, so dropping it loses
    // nothing the resumed run will not log again.
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains(key) || !j[key].is_number_integer()) {
      spdlog::warn("{}: line {} is incomplete or not a metrics line; dropped on resume",
                   metrics_path(), line_number);
      continue;
    }
    if (j[key].get<int64_t>() <= last) kept += line + "\n";
  }
  in.close();
  write_text_atomically(metrics_path(), kept);
}

void RunDir::append_metrics(const std::string& json_line) const {
  if (!writer()) return;
  std::ofstream out(metrics_path(), std::ios::app);
  out << json_line << "\n";
  // Flush before checking: a full disk shows up only when the buffer is written.
  out.flush();
  MOEKIT_CHECK(out.good(), metrics_path(), "cannot append metrics (disk full or directory gone?)");
}

void RunDir::save(torch::serialize::OutputArchive& archive, const std::string& name) const {
  if (writer()) save_archive_atomically(archive, path(name));
}

void RunDir::write_text(const std::string& name, const std::string& text) const {
  if (writer()) write_text_atomically(path(name), text);
}

}  // namespace moekit::train
