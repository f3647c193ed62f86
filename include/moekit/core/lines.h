#pragma once
#include <string>
#include <vector>

namespace moekit {

/// The lines of a text file ('\n'-separated; a final newline ends the last
/// line; bytes are kept as they are). Throws moekit::Error naming the file
/// when it cannot be read.
std::vector<std::string> read_lines(const std::string& path);

/// read_lines of a hypothesis file that must have as many lines as its
/// reference (`reference_lines`, read from `reference_path`); throws
/// moekit::Error naming both files when the counts differ.
std::vector<std::string> read_lines_like(const std::string& path, const std::string& reference_path,
                                         size_t reference_lines);

/// The whole file as bytes. Throws moekit::Error naming the file when it
/// cannot be read.
std::string read_text(const std::string& path);

}  // namespace moekit
