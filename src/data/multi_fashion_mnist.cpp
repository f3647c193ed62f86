#include "moekit/data/multi_fashion_mnist.h"

#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include "moekit/core/error.h"
#include "moekit/data/idx_reader.h"

namespace moekit::data {
namespace {

constexpr char kMagic[8] = {'M', 'K', 'M', 'F', 'M', 'N', 'S', 'T'};
constexpr uint32_t kVersion = 1;
constexpr int64_t kHeaderBytes = 8 + 4 * 4 + 8 + 8;
constexpr int64_t kTasks = 2;
constexpr int64_t kClasses = 10;
constexpr int64_t kSide = 28;

// Uniform in [0, n) without modulo bias; std::uniform_int_distribution is
// implementation-defined, and the pairs must not depend on the standard library.
uint64_t draw_below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % n;
  uint64_t r;
  do r = rng(); while (r >= limit);
  return r % n;
}

std::vector<int64_t> shuffled_indices(int64_t n, std::mt19937_64& rng) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[size_t(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(idx[size_t(i)], idx[draw_below(rng, uint64_t(i) + 1)]);
  return idx;
}

at::Tensor index_tensor(const std::vector<int64_t>& v) {
  return at::tensor(at::ArrayRef<int64_t>(v), at::kLong);
}

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}
void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}
uint64_t get_le(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint32_t crc32_of(const uint8_t* p, size_t n, uint32_t crc = 0) {
  while (n > 0) {
    const uInt chunk = uInt(std::min<size_t>(n, 1u << 30));
    crc = uint32_t(crc32(crc, p, chunk));
    p += chunk;
    n -= chunk;
  }
  return crc;
}

}  // namespace

void MultiFashionMNISTOptions::validate() const {
  MOEKIT_CHECK(valid_fraction_ > 0 && valid_fraction_ < 1, "valid_fraction",
               "must be in (0, 1), got {}", valid_fraction_);
  MOEKIT_CHECK(max_source_images_ >= 0, "max_source_images", "must be >= 0, got {}",
               max_source_images_);
}

at::Tensor MultiFashionSplit::float_images() const {
  return images.to(at::kFloat).div_(255.0).unsqueeze(1);
}

at::Tensor combine_pair_images(const at::Tensor& first, const at::Tensor& second) {
  TORCH_INTERNAL_ASSERT(first.dim() == 3 && first.sizes() == second.sizes());
  const int64_t n = first.size(0), h = first.size(1), w = first.size(2);
  TORCH_INTERNAL_ASSERT(h + kMultiFashionShift <= kMultiFashionCanvas &&
                        w + kMultiFashionShift <= kMultiFashionCanvas);
  at::Tensor canvas = at::zeros({n, kMultiFashionCanvas, kMultiFashionCanvas}, first.options());
  canvas.narrow(1, 0, h).narrow(2, 0, w).copy_(first);
  at::Tensor shifted = canvas.narrow(1, kMultiFashionShift, h).narrow(2, kMultiFashionShift, w);
  shifted.copy_(at::maximum(shifted, second));
  return canvas;
}

MultiFashionSplit make_pairs(const at::Tensor& images, const at::Tensor& labels, uint64_t seed) {
  const int64_t m = images.size(0);
  TORCH_INTERNAL_ASSERT(labels.size(0) == m && m >= 2);
  std::mt19937_64 rng(seed);
  // Partner = a different image: offset by 1..m-1 modulo m.
  std::vector<int64_t> partner(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) partner[size_t(i)] = (i + 1 + int64_t(draw_below(rng, uint64_t(m - 1)))) % m;
  const at::Tensor second = index_tensor(partner);
  MultiFashionSplit split;
  split.images = combine_pair_images(images, images.index_select(0, second));
  split.labels = at::stack({labels.to(at::kLong), labels.to(at::kLong).index_select(0, second)}, 1);
  split.seed = int64_t(seed);
  return split;
}

MultiFashionMNIST build_multi_fashion_mnist(const MultiFashionMNISTOptions& o) {
  o.validate();
  const std::string dir = o.source_dir() + "/";
  auto read_split = [&](const std::string& prefix, at::Tensor& images, at::Tensor& labels) {
    const std::string image_path = dir + prefix + "-images-idx3-ubyte.gz";
    const std::string label_path = dir + prefix + "-labels-idx1-ubyte.gz";
    images = read_idx_images(image_path, o.max_source_images());
    labels = read_idx_labels(label_path, kClasses, o.max_source_images());
    MOEKIT_CHECK(images.size(1) == kSide && images.size(2) == kSide, image_path,
                 "expected {}x{} images, got {}x{}", kSide, kSide, images.size(1), images.size(2));
    MOEKIT_CHECK(images.size(0) == labels.size(0), label_path,
                 "{} labels for {} images in {}", labels.size(0), images.size(0), image_path);
  };
  at::Tensor train_images, train_labels, test_images, test_labels;
  read_split("train", train_images, train_labels);
  read_split("t10k", test_images, test_labels);

  // Each split gets its own stream, derived from the seed, so changing one
  // split's size leaves the others' pairs unchanged.
  std::mt19937_64 split_rng(uint64_t(o.seed()));
  const std::vector<int64_t> order = shuffled_indices(train_images.size(0), split_rng);
  const int64_t n_valid = int64_t(double(train_images.size(0)) * o.valid_fraction());
  MOEKIT_CHECK(n_valid >= 2 && train_images.size(0) - n_valid >= 2, "valid_fraction",
               "{} of {} train images leaves a split with fewer than 2 images", o.valid_fraction(),
               train_images.size(0));
  const at::Tensor perm = index_tensor(order);
  const at::Tensor valid_idx = perm.narrow(0, 0, n_valid);
  const at::Tensor train_idx = perm.narrow(0, n_valid, perm.size(0) - n_valid);
  MOEKIT_CHECK(test_images.size(0) >= 2, dir, "t10k split needs at least 2 images");

  std::seed_seq seq{uint64_t(o.seed()), uint64_t(0x6d666d6e)};
  std::vector<uint64_t> seeds(3);
  seq.generate(seeds.begin(), seeds.end());
  MultiFashionMNIST out;
  out.train = make_pairs(train_images.index_select(0, train_idx), train_labels.index_select(0, train_idx), seeds[0]);
  out.valid = make_pairs(train_images.index_select(0, valid_idx), train_labels.index_select(0, valid_idx), seeds[1]);
  out.test = make_pairs(test_images, test_labels, seeds[2]);
  out.train.seed = out.valid.seed = out.test.seed = o.seed();
  return out;
}

void save_multi_fashion_split(const MultiFashionSplit& split, const std::string& path) {
  const int64_t n = split.size();
  TORCH_INTERNAL_ASSERT(split.images.sizes() ==
                        at::IntArrayRef({n, kMultiFashionCanvas, kMultiFashionCanvas}));
  TORCH_INTERNAL_ASSERT(split.labels.sizes() == at::IntArrayRef({n, kTasks}));
  std::string header(kMagic, sizeof(kMagic));
  put_u32(header, kVersion);
  put_u32(header, uint32_t(kMultiFashionCanvas));
  put_u32(header, uint32_t(kTasks));
  put_u32(header, 0);
  put_u64(header, uint64_t(split.seed));
  put_u64(header, uint64_t(n));
  const at::Tensor images = split.images.contiguous();
  const at::Tensor labels = split.labels.to(at::kByte).contiguous();
  uint32_t crc = crc32_of(reinterpret_cast<const uint8_t*>(header.data()), header.size());
  crc = crc32_of(images.data_ptr<uint8_t>(), size_t(images.numel()), crc);
  crc = crc32_of(labels.data_ptr<uint8_t>(), size_t(labels.numel()), crc);
  std::string trailer;
  put_u32(trailer, crc);

  // Written to a temporary name and renamed, so a crash never leaves a half cache.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    MOEKIT_CHECK(out.good(), tmp, "cannot open for writing");
    out.write(header.data(), std::streamsize(header.size()));
    out.write(reinterpret_cast<const char*>(images.data_ptr<uint8_t>()), std::streamsize(images.numel()));
    out.write(reinterpret_cast<const char*>(labels.data_ptr<uint8_t>()), std::streamsize(labels.numel()));
    out.write(trailer.data(), std::streamsize(trailer.size()));
    out.close();
    MOEKIT_CHECK(out.good(), tmp, "write failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  MOEKIT_CHECK(!ec, path, "cannot rename {} into place: {}", tmp, ec.message());
}

MultiFashionSplit load_multi_fashion_split(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  MOEKIT_CHECK(in.good(), path, "cannot open file");
  const int64_t file_bytes = int64_t(in.tellg());
  in.seekg(0);
  MOEKIT_CHECK(file_bytes >= kHeaderBytes + 4, path,
               "truncated: {} bytes, a cache file has at least {}", file_bytes, kHeaderBytes + 4);
  uint8_t h[kHeaderBytes];
  in.read(reinterpret_cast<char*>(h), kHeaderBytes);
  MOEKIT_CHECK(std::memcmp(h, kMagic, sizeof(kMagic)) == 0, path + ": byte 0",
               "bad magic: not a moekit MultiFashionMNIST cache file");
  const uint64_t version = get_le(h + 8, 4);
  MOEKIT_CHECK(version == kVersion, path + ": byte 8 (version)",
               "unsupported version {}, this build reads version {}", version, kVersion);
  const uint64_t side = get_le(h + 12, 4), tasks = get_le(h + 16, 4);
  MOEKIT_CHECK(side == uint64_t(kMultiFashionCanvas), path + ": byte 12 (canvas side)",
               "expected {}, got {}", kMultiFashionCanvas, side);
  MOEKIT_CHECK(tasks == uint64_t(kTasks), path + ": byte 16 (tasks)", "expected {}, got {}", kTasks, tasks);
  const uint64_t seed = get_le(h + 24, 8), count = get_le(h + 32, 8);
  const int64_t per_item = kMultiFashionCanvas * kMultiFashionCanvas + kTasks;
  // Compare the count with the file length before allocating anything.
  MOEKIT_CHECK(count <= uint64_t(file_bytes) / per_item &&
                   kHeaderBytes + int64_t(count) * per_item + 4 == file_bytes,
               path + ": byte 32 (count)", "{} pairs need {} bytes, file has {}", count,
               count <= uint64_t(file_bytes) ? std::to_string(kHeaderBytes + int64_t(count) * per_item + 4)
                                            : std::string("more than that"),
               file_bytes);
  const int64_t n = int64_t(count);
  MultiFashionSplit split;
  split.seed = int64_t(seed);
  split.images = at::empty({n, kMultiFashionCanvas, kMultiFashionCanvas}, at::kByte);
  at::Tensor labels = at::empty({n, kTasks}, at::kByte);
  uint8_t trailer[4];
  in.read(reinterpret_cast<char*>(split.images.data_ptr<uint8_t>()), std::streamsize(split.images.numel()));
  in.read(reinterpret_cast<char*>(labels.data_ptr<uint8_t>()), std::streamsize(labels.numel()));
  in.read(reinterpret_cast<char*>(trailer), 4);
  MOEKIT_CHECK(in.good(), path, "read failed");
  uint32_t crc = crc32_of(h, kHeaderBytes);
  crc = crc32_of(split.images.data_ptr<uint8_t>(), size_t(split.images.numel()), crc);
  crc = crc32_of(labels.data_ptr<uint8_t>(), size_t(labels.numel()), crc);
  const uint32_t stored = uint32_t(get_le(trailer, 4));
  MOEKIT_CHECK(crc == stored, fmt::format("{}: byte {} (checksum)", path, file_bytes - 4),
               "CRC-32 mismatch: stored {:08x}, contents give {:08x}; the file is corrupt", stored, crc);
  const auto bad = (labels >= kClasses).nonzero();
  MOEKIT_CHECK(bad.size(0) == 0, fmt::format("{}: pair {}", path, bad.size(0) ? bad[0][0].item<int64_t>() : 0),
               "label is not in [0, {})", kClasses);
  split.labels = labels.to(at::kLong);
  return split;
}

void save_multi_fashion_mnist(const MultiFashionMNIST& data, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  MOEKIT_CHECK(!ec, dir, "cannot create folder: {}", ec.message());
  save_multi_fashion_split(data.train, dir + "/train.mfmnist");
  save_multi_fashion_split(data.valid, dir + "/valid.mfmnist");
  save_multi_fashion_split(data.test, dir + "/test.mfmnist");
}

MultiFashionMNIST load_multi_fashion_mnist(const std::string& dir) {
  return MultiFashionMNIST{load_multi_fashion_split(dir + "/train.mfmnist"),
                           load_multi_fashion_split(dir + "/valid.mfmnist"),
                           load_multi_fashion_split(dir + "/test.mfmnist")};
}

}  // namespace moekit::data
