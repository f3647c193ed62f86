#include "moekit/train/study_log.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "moekit/core/checkpoint.h"
#include "moekit/core/error.h"
#include "moekit/core/lines.h"

namespace moekit::train {
namespace fs = std::filesystem;

std::vector<std::string> split_paths(const std::string& text) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t comma = std::min(text.find(',', begin), text.size());
    if (comma > begin) parts.push_back(text.substr(begin, comma - begin));
    begin = comma + 1;
  }
  return parts;
}

void check_records_exist(const std::string& paths, const std::string& option) {
  for (const auto& path : split_paths(paths)) {
    MOEKIT_CHECK(fs::exists(path), option, "'{}' does not exist", path);
  }
}

void StudyLog::load(const std::string& paths) {
  for (const auto& path : split_paths(paths)) load_file(path);
}

void StudyLog::load_file(const std::string& path) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  MOEKIT_CHECK(in.good(), path, "cannot open the study record");
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    const std::string where = fmt::format("{}:{}", path, n);
    std::string request;
    try {
      request = nlohmann::json::parse(line).at("config").get<std::string>();
    } catch (const nlohmann::json::exception& e) {
      throw Error(where, fmt::format("not a study record line (no config): {}", e.what()));
    }
    if (!find(request)) add(run_record_from_json(line, where), request);
  }
}

const RunRecord* StudyLog::find(const std::string& request) const {
  for (const auto& e : entries_) {
    if (e.request == request) return &e.record;
  }
  return nullptr;
}

void StudyLog::add(const RunRecord& record, const std::string& request) {
  entries_.push_back({request, record});
}

void StudyLog::write(const std::string& path) const {
  std::string text;
  for (const auto& e : entries_) {
    text += run_record_to_json(e.record, nlohmann::json{{"config", e.request}}.dump()) + "\n";
  }
  write_text_atomically(path, text);
}

void copy_study_files(const std::string& from_dir, const std::string& to_dir,
                      const std::vector<std::string>& names) {
  if (to_dir.empty()) return;
  fs::create_directories(to_dir);
  for (const auto& name : names) {
    const fs::path from = fs::path(from_dir) / name;
    if (fs::exists(from)) write_text_atomically((fs::path(to_dir) / name).string(), read_text(from.string()));
  }
}

}  // namespace moekit::train
