#include "moekit/data/idx_reader.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "data/idx_test_files.h"
#include "moekit/core/error.h"
#include "testing/errors.h"

namespace moekit::data {
namespace {

using testing::idx_bytes;
using testing::write_gz;

const std::string kFashionDir = "/usr/share/datasets/fashion-mnist/";

std::string temp_path(const std::string& name) { return ::testing::TempDir() + "moekit_idx_" + name; }

std::vector<uint8_t> counting_bytes(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t((i * 37 + 11) % 251);
  return v;
}

TEST(DataIdxReader, ReadsGzipImagesExactly) {
  const auto payload = counting_bytes(3 * 2 * 4);
  const std::string path = temp_path("images.gz");
  write_gz(path, idx_bytes({3, 2, 4}, payload));
  const IdxArray a = read_idx(path, 3);
  EXPECT_EQ(a.dims, (std::vector<int64_t>{3, 2, 4}));
  ASSERT_EQ(a.data.sizes(), at::IntArrayRef({3, 2, 4}));
  ASSERT_EQ(a.data.scalar_type(), at::kByte);
  for (size_t i = 0; i < payload.size(); ++i) EXPECT_EQ(a.data.data_ptr<uint8_t>()[i], payload[i]);
}

TEST(DataIdxReader, ReadsPlainUncompressedFile) {
  const std::string path = temp_path("labels_plain");
  testing::write_file(path, idx_bytes({4}, {3, 1, 4, 1}));
  EXPECT_TRUE(torch::equal(read_idx_labels(path, 10), torch::tensor({3, 1, 4, 1}, torch::kLong)));
}

TEST(DataIdxReader, MaxItemsReadsOnlyTheFirstItems) {
  const auto payload = counting_bytes(5 * 3 * 3);
  const std::string path = temp_path("first.gz");
  write_gz(path, idx_bytes({5, 3, 3}, payload));
  const at::Tensor first = read_idx_images(path, 2);
  EXPECT_EQ(first.sizes(), at::IntArrayRef({2, 3, 3}));
  EXPECT_TRUE(torch::equal(first, read_idx_images(path).narrow(0, 0, 2)));
}

TEST(DataIdxReader, RejectsTruncatedFile) {
  const std::string path = temp_path("truncated.gz");
  write_gz(path, idx_bytes({3, 2, 4}, counting_bytes(2 * 2 * 4 + 5)));
  moekit::testing::expect_error([&] { read_idx_images(path); }, {path, "byte 37", "truncated data", "24 bytes"});
}

TEST(DataIdxReader, RejectsTruncatedHeader) {
  const std::string path = temp_path("short_header.gz");
  write_gz(path, {0, 0, 8, 3, 0, 0, 0, 2, 0});
  moekit::testing::expect_error([&] { read_idx_images(path); }, {path, "truncated header"});
  write_gz(path, {0, 0});
  moekit::testing::expect_error([&] { read_idx_images(path); }, {path, "byte 0", "truncated header"});
}

TEST(DataIdxReader, RejectsCutGzipStream) {
  const std::string path = temp_path("cut.gz");
  write_gz(path, idx_bytes({40, 5, 5}, counting_bytes(40 * 25)));
  auto bytes = testing::read_file(path);
  bytes.resize(bytes.size() / 2);
  testing::write_file(path, bytes);
  moekit::testing::expect_error([&] { read_idx_images(path); }, {path});
}

TEST(DataIdxReader, RejectsCorruptedGzipStream) {
  const std::string path = temp_path("corrupt.gz");
  write_gz(path, idx_bytes({40, 5, 5}, counting_bytes(40 * 25)));
  auto bytes = testing::read_file(path);
  for (size_t i = bytes.size() / 3; i < bytes.size() / 3 + 8; ++i) bytes[i] ^= 0x5a;
  testing::write_file(path, bytes);
  moekit::testing::expect_error([&] { read_idx_images(path); }, {path});
}

TEST(DataIdxReader, RejectsBadMagicNumber) {
  const std::string path = temp_path("magic.gz");
  auto bytes = idx_bytes({2}, {1, 2});
  bytes[1] = 0x07;
  write_gz(path, bytes);
  moekit::testing::expect_error([&] { read_idx_labels(path); }, {path, "byte 0", "bad magic number"});
}

TEST(DataIdxReader, RejectsNonByteTypeCode) {
  const std::string path = temp_path("float.gz");
  write_gz(path, idx_bytes({1}, {0, 0, 0, 0}, 0x0D));
  moekit::testing::expect_error([&] { read_idx_labels(path); }, {path, "byte 2", "type code 0x0d"});
}

TEST(DataIdxReader, RejectsWrongDimensionCount) {
  const std::string path = temp_path("labels_as_images.gz");
  write_gz(path, idx_bytes({4}, {1, 2, 3, 4}));
  moekit::testing::expect_error([&] { read_idx_images(path); }, {path, "byte 3", "expected 3 dimensions"});
}

TEST(DataIdxReader, RejectsZeroDimension) {
  const std::string path = temp_path("zero_dim.gz");
  write_gz(path, idx_bytes({2, 0, 3}, {}));
  moekit::testing::expect_error([&] { read_idx_images(path); }, {path, "dimension 1", "must be > 0"});
}

TEST(DataIdxReader, RejectsTrailingData) {
  const std::string path = temp_path("trailing.gz");
  write_gz(path, idx_bytes({2}, {1, 2, 3}));
  moekit::testing::expect_error([&] { read_idx_labels(path); }, {path, "byte 10", "trailing data"});
}

TEST(DataIdxReader, RejectsLabelOutOfRange) {
  const std::string path = temp_path("label_range.gz");
  write_gz(path, idx_bytes({3}, {1, 12, 2}));
  moekit::testing::expect_error([&] { read_idx_labels(path, 10); }, {path, "item 1", "label 12"});
}

TEST(DataIdxReader, RejectsMissingFile) {
  const std::string path = temp_path("does_not_exist.gz");
  moekit::testing::expect_error([&] { read_idx_images(path); }, {path, "cannot open"});
}

TEST(DataIdxReader, ReadsFirstItemsOfInstalledFashionMnist) {
  if (!std::filesystem::exists(kFashionDir + "train-labels-idx1-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  const IdxArray images = read_idx(kFashionDir + "train-images-idx3-ubyte.gz", 3, 4);
  EXPECT_EQ(images.dims, (std::vector<int64_t>{60000, 28, 28}));
  EXPECT_EQ(images.data.sizes(), at::IntArrayRef({4, 28, 28}));
  EXPECT_GT(images.data.to(at::kLong).sum().item<int64_t>(), 0);
  // Well-known first labels: ankle boot, T-shirt, T-shirt, dress, T-shirt / ankle boot, pullover.
  EXPECT_TRUE(torch::equal(read_idx_labels(kFashionDir + "train-labels-idx1-ubyte.gz", 10, 5),
                           torch::tensor({9, 0, 0, 3, 0}, torch::kLong)));
  EXPECT_TRUE(torch::equal(read_idx_labels(kFashionDir + "t10k-labels-idx1-ubyte.gz", 10, 2),
                           torch::tensor({9, 2}, torch::kLong)));
  EXPECT_EQ(read_idx(kFashionDir + "t10k-images-idx3-ubyte.gz", 3, 1).dims,
            (std::vector<int64_t>{10000, 28, 28}));
}

}  // namespace
}  // namespace moekit::data
