#include "moekit/train/study_log.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "moekit/core/checkpoint.h"
#include "moekit/core/error.h"

namespace moekit::train {
namespace fs = std::filesystem;

void StudyLog::load(const std::string& path) {
  if (path.empty() || !fs::exists(path)) return;
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

}  // namespace moekit::train
