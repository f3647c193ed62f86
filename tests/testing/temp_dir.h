// Test helper: an empty folder of the test's own under the GoogleTest temp dir.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace moekit::testing {

/// TempDir()/name, emptied and created afresh.
inline std::filesystem::path fresh_dir(const std::string& name) {
  const std::filesystem::path root = std::filesystem::path(::testing::TempDir()) / name;
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  return root;
}

}  // namespace moekit::testing
