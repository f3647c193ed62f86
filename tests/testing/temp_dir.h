// Test helpers: an empty folder of the test's own under the GoogleTest temp
// dir, and the text of a file a test wrote.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace moekit::testing {

/// TempDir()/name, emptied and created afresh.
inline std::filesystem::path fresh_dir(const std::string& name) {
  const std::filesystem::path root = std::filesystem::path(::testing::TempDir()) / name;
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  return root;
}

/// The whole text of `path` ("" when it cannot be read).
inline std::string text_of(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace moekit::testing
