#include "moekit/data/multi_fashion_mnist.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <set>

#include "data/idx_test_files.h"
#include "moekit/core/error.h"
#include "testing/errors.h"

namespace moekit::data {
namespace {

// Each source image carries its own index: pixel (0, 0) = index + 1 and
// pixel (27, 27) = index + 101, so a pair's sources can be read off the canvas.
at::Tensor tagged_images(int64_t m) {
  at::Tensor images = at::zeros({m, 28, 28}, at::kByte);
  for (int64_t i = 0; i < m; ++i) {
    images[i][0][0] = i + 1;
    images[i][27][27] = i + 101;
  }
  return images;
}

std::string write_fashion_dir(const std::string& name, int64_t n_train, int64_t n_test) {
  const std::string dir = ::testing::TempDir() + "moekit_mfm_" + name;
  std::filesystem::create_directories(dir);
  auto write_split = [&](const std::string& prefix, int64_t m) {
    const at::Tensor images = tagged_images(m).contiguous();
    const uint8_t* p = images.data_ptr<uint8_t>();
    testing::write_gz(dir + "/" + prefix + "-images-idx3-ubyte.gz",
                      testing::idx_bytes({uint32_t(m), 28, 28}, std::vector<uint8_t>(p, p + images.numel())));
    std::vector<uint8_t> labels(static_cast<size_t>(m));
    for (int64_t i = 0; i < m; ++i) labels[size_t(i)] = uint8_t((i * 7) % 10);
    testing::write_gz(dir + "/" + prefix + "-labels-idx1-ubyte.gz", testing::idx_bytes({uint32_t(m)}, labels));
  };
  write_split("train", n_train);
  write_split("t10k", n_test);
  return dir;
}

TEST(DataMultiFashionMnist, CanvasPlacesFirstTopLeftSecondAtEightEightWithMax) {
  torch::manual_seed(0);
  const at::Tensor a = torch::randint(0, 256, {3, 28, 28}, torch::kLong).to(at::kByte);
  const at::Tensor b = torch::randint(0, 256, {3, 28, 28}, torch::kLong).to(at::kByte);
  const at::Tensor c = combine_pair_images(a, b);
  ASSERT_EQ(c.sizes(), at::IntArrayRef({3, 36, 36}));
  auto ca = c.accessor<uint8_t, 3>();
  auto aa = a.accessor<uint8_t, 3>();
  auto ba = b.accessor<uint8_t, 3>();
  for (int64_t n = 0; n < 3; ++n) {
    for (int64_t y = 0; y < 36; ++y) {
      for (int64_t x = 0; x < 36; ++x) {
        const bool in_a = y < 28 && x < 28, in_b = y >= 8 && x >= 8;
        const int expected = std::max(in_a ? int(aa[n][y][x]) : 0, in_b ? int(ba[n][y - 8][x - 8]) : 0);
        ASSERT_EQ(int(ca[n][y][x]), expected) << "pair " << n << " pixel (" << y << ", " << x << ")";
      }
    }
  }
}

TEST(DataMultiFashionMnist, PairsCarryTheLabelsOfTheirTwoImages) {
  const int64_t m = 40;
  const at::Tensor labels = torch::arange(m, torch::kLong) % 10;
  const MultiFashionSplit split = make_pairs(tagged_images(m), labels, 7);
  ASSERT_EQ(split.images.sizes(), at::IntArrayRef({m, 36, 36}));
  ASSERT_EQ(split.labels.sizes(), at::IntArrayRef({m, 2}));
  for (int64_t i = 0; i < m; ++i) {
    const int64_t first = split.images[i][0][0].item<int64_t>() - 1;
    const int64_t second = split.images[i][35][35].item<int64_t>() - 101;
    EXPECT_EQ(first, i);  // every image is the first of exactly one pair
    EXPECT_NE(second, first);
    ASSERT_GE(second, 0);
    EXPECT_EQ(split.labels[i][0].item<int64_t>(), labels[first].item<int64_t>());
    EXPECT_EQ(split.labels[i][1].item<int64_t>(), labels[second].item<int64_t>());
  }
}

TEST(DataMultiFashionMnist, BuildsDisjointTrainAndValidFromTrainSplit) {
  const std::string dir = write_fashion_dir("build", 50, 20);
  const auto data = build_multi_fashion_mnist(MultiFashionMNISTOptions().source_dir(dir).seed(3));
  EXPECT_EQ(data.train.size(), 45);
  EXPECT_EQ(data.valid.size(), 5);
  EXPECT_EQ(data.test.size(), 20);
  EXPECT_EQ(data.train.float_images().sizes(), at::IntArrayRef({45, 1, 36, 36}));
  std::set<int64_t> train_sources, valid_sources, test_sources;
  auto collect = [](const MultiFashionSplit& s, std::set<int64_t>& out, int64_t m) {
    for (int64_t i = 0; i < s.size(); ++i) {
      const int64_t first = s.images[i][0][0].item<int64_t>() - 1;
      const int64_t second = s.images[i][35][35].item<int64_t>() - 101;
      out.insert(first);
      out.insert(second);
      EXPECT_EQ(s.labels[i][0].item<int64_t>(), (first * 7) % 10);
      EXPECT_EQ(s.labels[i][1].item<int64_t>(), (second * 7) % 10);
      EXPECT_TRUE(first >= 0 && first < m && second >= 0 && second < m);
    }
  };
  collect(data.train, train_sources, 50);
  collect(data.valid, valid_sources, 50);
  collect(data.test, test_sources, 20);
  EXPECT_EQ(train_sources.size(), 45u);
  EXPECT_EQ(valid_sources.size(), 5u);
  for (int64_t v : valid_sources) EXPECT_EQ(train_sources.count(v), 0u) << "image " << v << " leaks";
}

TEST(DataMultiFashionMnist, SameSeedSamePairsOtherSeedOtherPairs) {
  const std::string dir = write_fashion_dir("seed", 60, 30);
  auto build = [&](int64_t seed) {
    return build_multi_fashion_mnist(MultiFashionMNISTOptions().source_dir(dir).seed(seed));
  };
  const auto a = build(1), b = build(1), c = build(2);
  EXPECT_TRUE(torch::equal(a.train.images, b.train.images));
  EXPECT_TRUE(torch::equal(a.valid.labels, b.valid.labels));
  EXPECT_TRUE(torch::equal(a.test.images, b.test.images));
  EXPECT_FALSE(torch::equal(a.train.images, c.train.images));
  EXPECT_FALSE(torch::equal(a.test.images, c.test.images));
}

TEST(DataMultiFashionMnist, CacheRoundTripIsExact) {
  const std::string dir = write_fashion_dir("cache_src", 30, 10);
  const auto data = build_multi_fashion_mnist(MultiFashionMNISTOptions().source_dir(dir).seed(9));
  const std::string cache = ::testing::TempDir() + "moekit_mfm_cache";
  save_multi_fashion_mnist(data, cache);
  const auto back = load_multi_fashion_mnist(cache);
  EXPECT_TRUE(torch::equal(back.train.images, data.train.images));
  EXPECT_TRUE(torch::equal(back.train.labels, data.train.labels));
  EXPECT_TRUE(torch::equal(back.valid.images, data.valid.images));
  EXPECT_TRUE(torch::equal(back.test.labels, data.test.labels));
  EXPECT_EQ(back.test.seed, 9);
  EXPECT_EQ(back.train.labels.scalar_type(), at::kLong);
}

TEST(DataMultiFashionMnist, RejectsCorruptedCache) {
  const MultiFashionSplit split = make_pairs(tagged_images(12), torch::arange(12, torch::kLong) % 10, 1);
  const std::string path = ::testing::TempDir() + "moekit_mfm_corrupt.mfmnist";
  save_multi_fashion_split(split, path);
  const auto good = testing::read_file(path);

  auto flipped = good;
  flipped[40 + 5 * 36 * 36 + 17] ^= 0x01;  // one pixel bit
  testing::write_file(path, flipped);
  moekit::testing::expect_error([&] { load_multi_fashion_split(path); }, {path, "checksum", "CRC-32 mismatch"});

  auto truncated = good;
  truncated.resize(good.size() - 100);
  testing::write_file(path, truncated);
  moekit::testing::expect_error([&] { load_multi_fashion_split(path); }, {path, "count", "12 pairs need"});

  auto magic = good;
  magic[0] = 'X';
  testing::write_file(path, magic);
  moekit::testing::expect_error([&] { load_multi_fashion_split(path); }, {path, "byte 0", "bad magic"});

  auto version = good;
  version[8] = 7;
  testing::write_file(path, version);
  moekit::testing::expect_error([&] { load_multi_fashion_split(path); }, {path, "version", "unsupported version 7"});

  testing::write_file(path, std::vector<uint8_t>(good.begin(), good.begin() + 20));
  moekit::testing::expect_error([&] { load_multi_fashion_split(path); }, {path, "truncated"});

  testing::write_file(path, good);
  EXPECT_NO_THROW(load_multi_fashion_split(path));
}

TEST(DataMultiFashionMnist, BuildsFromInstalledFashionMnistSlice) {
  const std::string source = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(source + "/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  const auto data = build_multi_fashion_mnist(MultiFashionMNISTOptions().max_source_images(200));
  EXPECT_EQ(data.train.size(), 180);
  EXPECT_EQ(data.valid.size(), 20);
  EXPECT_EQ(data.test.size(), 200);
  EXPECT_GE(data.train.labels.min().item<int64_t>(), 0);
  EXPECT_LE(data.train.labels.max().item<int64_t>(), 9);
  // Real clothes cover the centre of both placed images.
  EXPECT_GT(data.test.images.select(1, 14).select(1, 14).to(at::kFloat).mean().item<float>(), 20.0f);
}

TEST(DataMultiFashionMnist, RejectsMissingSourceNamingTheFile) {
  moekit::testing::expect_error(
      [] { build_multi_fashion_mnist(MultiFashionMNISTOptions().source_dir("/nonexistent/fm")); },
      {"/nonexistent/fm/train-images-idx3-ubyte.gz", "cannot open"});
}

}  // namespace
}  // namespace moekit::data
