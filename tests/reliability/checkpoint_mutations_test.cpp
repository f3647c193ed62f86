// Replays mutated checkpoints through load_archive: each must load or throw
// moekit::Error naming the file, before torch's reader sees a corrupt byte.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "moekit/core/checkpoint.h"
#include "testing/errors.h"
#include "testing/mutate.h"

namespace moekit {
namespace {

std::string write_checkpoint(const std::string& path) {
  torch::serialize::OutputArchive archive;
  archive.write("step", torch::tensor(int64_t(7)));
  archive.write("weight", torch::arange(6, torch::kFloat).view({3, 2}));
  save_archive_atomically(archive, path);
  return path;
}

void load(const std::string& path) {
  torch::serialize::InputArchive archive;
  load_archive(archive, path);
}

TEST(ReliabilityCheckpointMutations, MutantsAreRejectedBeforeTorchReadsThem) {
  const std::string path = write_checkpoint(::testing::TempDir() + "moekit_mutant.pt");
  const auto valid = moekit::testing::read_bytes(path);
  torch::serialize::InputArchive archive;
  load_archive(archive, path);
  torch::Tensor weight;
  archive.read("weight", weight);
  ASSERT_TRUE(torch::equal(weight, torch::arange(6, torch::kFloat).view({3, 2})));
  moekit::testing::MutateOptions o;
  o.seed = 61;
  o.utf8 = 10;
  o.numbers = 0;
  o.size_fields = {{8, 4}, {12, 4}, {16, 8}};
  const auto mutants = moekit::testing::make_mutants(valid, o);
  ASSERT_GE(mutants.size(), 200u);
  const auto counts = moekit::testing::replay_mutants(mutants, path, [&] { load(path); });
  EXPECT_EQ(counts.loaded, 0);
}

TEST(ReliabilityCheckpointMutations, HugeDeclaredLengthIsRejectedBeforeAllocating) {
  const std::string path = write_checkpoint(::testing::TempDir() + "moekit_huge.pt");
  auto bytes = moekit::testing::read_bytes(path);
  bytes[16 + 5] = 0x10;  // archive length + 2^44
  moekit::testing::write_bytes(path, bytes);
  moekit::testing::AllocationCap cap;
  moekit::testing::expect_error([&] { load(path); }, {path, "byte 16", "archive bytes"});
}

TEST(ReliabilityCheckpointMutations, FlippedArchiveByteFailsTheChecksum) {
  const std::string path = write_checkpoint(::testing::TempDir() + "moekit_flip.pt");
  auto bytes = moekit::testing::read_bytes(path);
  bytes[bytes.size() / 2] ^= 0x04;
  moekit::testing::write_bytes(path, bytes);
  moekit::testing::expect_error([&] { load(path); }, {path, "CRC-32 mismatch"});
}

// A bare torch archive (moekit's format before the header) is refused with a
// reason: torch's reader segfaults on some corrupted ones, found by fuzzing.
TEST(ReliabilityCheckpointMutations, PlainTorchArchiveIsRefusedWithAReason) {
  const std::string path = ::testing::TempDir() + "moekit_plain.pt";
  torch::serialize::OutputArchive archive;
  archive.write("x", torch::arange(4));
  archive.save_to(path);
  moekit::testing::expect_error([&] { load(path); }, {path, "without moekit's integrity header"});
}

}  // namespace
}  // namespace moekit
