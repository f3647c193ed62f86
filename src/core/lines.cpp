#include "moekit/core/lines.h"

#include <fstream>
#include <sstream>

#include "moekit/core/error.h"

namespace moekit {

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  MOEKIT_CHECK(in.good(), path, "cannot open for reading");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  MOEKIT_CHECK(in.eof(), path, "read failed after line {}", lines.size());
  return lines;
}

std::vector<std::string> read_lines_like(const std::string& path, const std::string& reference_path,
                                         size_t reference_lines) {
  auto lines = read_lines(path);
  MOEKIT_CHECK(lines.size() == reference_lines, path, "{} lines, but the reference {} has {}",
               lines.size(), reference_path, reference_lines);
  return lines;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  MOEKIT_CHECK(in.good(), path, "cannot open for reading");
  std::stringstream text;
  text << in.rdbuf();
  MOEKIT_CHECK(!in.bad(), path, "read failed");
  return text.str();
}

}  // namespace moekit
