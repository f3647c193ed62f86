// Replays mutated IDX files: each must load or throw moekit::Error naming the file.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "data/idx_test_files.h"
#include "moekit/data/idx_reader.h"
#include "testing/errors.h"
#include "testing/mutate.h"

namespace moekit::data {
namespace {

using moekit::testing::Bytes;

Bytes valid_images() {
  std::vector<uint8_t> payload(3 * 4 * 5);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = uint8_t(i * 7);
  return testing::idx_bytes({3, 4, 5}, payload);
}

moekit::testing::MutateOptions idx_options(uint64_t seed) {
  moekit::testing::MutateOptions o;
  o.seed = seed;
  o.utf8 = 0;
  o.numbers = 0;
  for (size_t offset : {4, 8, 12}) o.size_fields.push_back({offset, 4, /*big_endian=*/true});
  return o;
}

TEST(ReliabilityIdxMutations, PlainMutantsLoadOrNameTheFile) {
  const std::string path = ::testing::TempDir() + "moekit_idx_mutant";
  const Bytes valid = valid_images();
  moekit::testing::write_bytes(path, valid);
  ASSERT_EQ(read_idx_images(path).sizes(), at::IntArrayRef({3, 4, 5}));
  const auto mutants = moekit::testing::make_mutants(valid, idx_options(11));
  ASSERT_GE(mutants.size(), 200u);
  const auto counts = moekit::testing::replay_mutants(mutants, path, [&] {
    read_idx_images(path);
    read_idx_labels(path, 10, 2);
  });
  EXPECT_GT(counts.rejected, int(mutants.size()) / 2);
}

TEST(ReliabilityIdxMutations, GzipMutantsLoadOrNameTheFile) {
  const std::string path = ::testing::TempDir() + "moekit_idx_mutant.gz";
  testing::write_gz(path, valid_images());
  const Bytes valid = moekit::testing::read_bytes(path);
  ASSERT_EQ(read_idx_images(path).sizes(), at::IntArrayRef({3, 4, 5}));
  const auto mutants = moekit::testing::make_mutants(valid, idx_options(12));
  const auto counts = moekit::testing::replay_mutants(mutants, path, [&] { read_idx(path); });
  EXPECT_GT(counts.rejected, int(mutants.size()) / 2);
}

// A tiny file whose header declares 16 GiB must be rejected by reading, not
// by first allocating what the header asks for.
TEST(ReliabilityIdxMutations, HugeDeclaredSizeFailsWithoutAllocatingIt) {
  const std::string path = ::testing::TempDir() + "moekit_idx_huge";
  testing::write_file(path, testing::idx_bytes({16, 1024, 1024, 1024}, {1, 2, 3}));
  moekit::testing::AllocationCap cap;
  moekit::testing::expect_error([&] { read_idx(path); }, {path, "truncated data", "file ends after 3"});
}

TEST(ReliabilityIdxMutations, DimensionProductOverflowIsAnError) {
  const std::string path = ::testing::TempDir() + "moekit_idx_overflow";
  testing::write_file(path, testing::idx_bytes({1, 0xffffffffu, 0xffffffffu}, {}));
  moekit::testing::expect_error([&] { read_idx(path); }, {path, "dimension 2", "implausibly large"});
}

}  // namespace
}  // namespace moekit::data
