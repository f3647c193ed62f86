#pragma once
#include <string>
#include <vector>

namespace moekit {

/// The lines of a text file ('\n'-separated; a final newline ends the last
/// line; bytes are kept as they are). Throws moekit::Error naming the file
/// when it cannot be read.
std::vector<std::string> read_lines(const std::string& path);

/// The whole file as bytes. Throws moekit::Error naming the file when it
/// cannot be read.
std::string read_text(const std::string& path);

}  // namespace moekit
