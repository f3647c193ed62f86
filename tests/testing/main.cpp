// The test binary's main: gives every test process its own temporary folder.
// ctest runs tests in parallel processes, and suites that build shared
// fixtures under ::testing::TempDir() (a tokenizer, a corpus) must not race
// on one folder; TempDir() reads TEST_TMPDIR, so each process sets its own.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("moekit-tests-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  ::setenv("TEST_TMPDIR", (dir.string() + "/").c_str(), /*overwrite=*/1);
  ::testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  std::error_code ignored;
  fs::remove_all(dir, ignored);
  return rc;
}
