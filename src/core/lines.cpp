#include "moekit/core/lines.h"

#include <fstream>

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

}  // namespace moekit
