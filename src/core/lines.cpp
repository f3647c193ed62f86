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

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  MOEKIT_CHECK(in.good(), path, "cannot open for reading");
  std::stringstream text;
  text << in.rdbuf();
  MOEKIT_CHECK(!in.bad(), path, "read failed");
  return text.str();
}

}  // namespace moekit
