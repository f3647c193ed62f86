#include "moekit/core/checkpoint.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "moekit/core/error.h"

namespace moekit {
namespace {
namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/moekit_checkpoint_" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(CoreCheckpoint, ArchiveRoundTripsAndLeavesNoTemporary) {
  const std::string path = fresh_dir("round") + "/c.pt";
  torch::serialize::OutputArchive out;
  out.write("x", torch::arange(5));
  save_archive_atomically(out, path);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  torch::serialize::InputArchive in;
  load_archive(in, path);
  torch::Tensor x;
  in.read("x", x);
  EXPECT_TRUE(torch::equal(x, torch::arange(5)));
}

TEST(CoreCheckpoint, CorruptOrMissingCheckpointNamesTheFile) {
  const std::string dir = fresh_dir("corrupt");
  std::ofstream(dir + "/bad.pt") << "not a zip archive";
  torch::serialize::InputArchive in;
  try {
    load_archive(in, dir + "/bad.pt");
    FAIL() << "expected moekit::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), dir + "/bad.pt");
  }
  EXPECT_THROW(load_archive(in, dir + "/missing.pt"), Error);
}

TEST(CoreCheckpoint, FailedWriteKeepsThePreviousFile) {
  const std::string dir = fresh_dir("keep");
  const std::string path = dir + "/results.json";
  write_text_atomically(path, "first");
  // A non-empty directory squatting on the temporary's name makes the write fail.
  fs::create_directories(path + ".tmp");
  std::ofstream(path + ".tmp/occupied") << "x";
  EXPECT_THROW(write_text_atomically(path, "second"), Error);
  EXPECT_EQ(read(path), "first");
  torch::serialize::OutputArchive out;
  out.write("x", torch::ones(2));
  EXPECT_THROW(save_archive_atomically(out, path), Error);
  EXPECT_EQ(read(path), "first");
}

TEST(CoreCheckpoint, UnwritableDirectoryIsAnError) {
  EXPECT_THROW(write_text_atomically("/nonexistent-dir/x.txt", "x"), Error);
}

}  // namespace
}  // namespace moekit
