#include "moekit/core/lines.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "moekit/core/error.h"

namespace moekit {
namespace {

TEST(CoreLines, ReadsLinesAndNamesAMissingFile) {
  EXPECT_THROW(read_lines("/nonexistent/ref.txt"), Error);
  const auto path = std::filesystem::path(::testing::TempDir()) / "moekit_lines.txt";
  std::ofstream(path) << "one\n\nthree\n";
  EXPECT_EQ(read_lines(path.string()), (std::vector<std::string>{"one", "", "three"}));
  std::ofstream(path) << "no final newline";
  EXPECT_EQ(read_lines(path.string()), (std::vector<std::string>{"no final newline"}));
}

}  // namespace
}  // namespace moekit
