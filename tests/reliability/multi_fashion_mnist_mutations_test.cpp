// Replays mutated .mfmnist cache files: each must load or throw moekit::Error naming the file.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "moekit/data/multi_fashion_mnist.h"
#include "testing/errors.h"
#include "testing/mutate.h"

namespace moekit::data {
namespace {

std::string write_valid_split(const std::string& path) {
  MultiFashionSplit split;
  split.images = torch::arange(3 * 36 * 36, torch::kLong).remainder(256).to(torch::kByte).view({3, 36, 36});
  split.labels = torch::tensor({1, 2, 3, 4, 9, 0}, torch::kLong).view({3, 2});
  split.seed = 4;
  save_multi_fashion_split(split, path);
  return path;
}

TEST(ReliabilityMultiFashionMutations, MutantsLoadOrNameTheFile) {
  const std::string path = write_valid_split(::testing::TempDir() + "moekit_mutant.mfmnist");
  const auto valid = moekit::testing::read_bytes(path);
  ASSERT_EQ(load_multi_fashion_split(path).size(), 3);
  moekit::testing::MutateOptions o;
  o.seed = 21;
  o.utf8 = 0;
  o.numbers = 0;
  o.size_fields = {{8, 4}, {12, 4}, {16, 4}, {32, 8}, {valid.size() - 4, 4}};
  const auto mutants = moekit::testing::make_mutants(valid, o);
  ASSERT_GE(mutants.size(), 200u);
  const auto counts =
      moekit::testing::replay_mutants(mutants, path, [&] { load_multi_fashion_split(path); });
  // Only the CRC-checked payload may be touched without a rejection; nothing here keeps the CRC.
  EXPECT_EQ(counts.loaded, 0);
}

TEST(ReliabilityMultiFashionMutations, HugePairCountIsRejectedBeforeAllocating) {
  const std::string path = write_valid_split(::testing::TempDir() + "moekit_huge.mfmnist");
  auto bytes = moekit::testing::read_bytes(path);
  for (int i = 0; i < 8; ++i) bytes[32 + size_t(i)] = i == 5 ? 0x01 : 0x00;  // 2^40 pairs
  moekit::testing::write_bytes(path, bytes);
  moekit::testing::AllocationCap cap;
  moekit::testing::expect_error([&] { load_multi_fashion_split(path); }, {path, "byte 32 (count)"});
}

}  // namespace
}  // namespace moekit::data
