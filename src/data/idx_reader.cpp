#include "moekit/data/idx_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>

#include "moekit/core/error.h"

namespace moekit::data {
namespace {

constexpr int kUnsignedByte = 0x08;
// Larger than any IDX data set we read; guards allocations against a corrupt header.
constexpr int64_t kMaxBytes = int64_t(1) << 34;

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// Reads up to `n` bytes; returns how many were read. Throws on a gzip stream error.
int64_t read_bytes(gzFile f, uint8_t* out, int64_t n, const std::string& path, int64_t offset) {
  int64_t done = 0;
  while (done < n) {
    const unsigned chunk = unsigned(std::min<int64_t>(n - done, 1 << 30));
    const int got = gzread(f, out + done, chunk);
    if (got < 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      throw Error(fmt::format("{}: byte {}", path, offset + done),
                  fmt::format("corrupt compressed data ({})", msg ? msg : "gzread failed"));
    }
    if (got == 0) break;
    done += got;
  }
  return done;
}

}  // namespace

IdxArray read_idx(const std::string& path, int64_t expected_ndim, int64_t max_items) {
  GzFile file(gzopen(path.c_str(), "rb"));
  MOEKIT_CHECK(file != nullptr, path, "cannot open file");

  uint8_t magic[4];
  const int64_t got_magic = read_bytes(file.get(), magic, 4, path, 0);
  MOEKIT_CHECK(got_magic == 4, path + ": byte 0",
               "truncated header: {} of 4 magic-number bytes present", got_magic);
  MOEKIT_CHECK(magic[0] == 0 && magic[1] == 0, path + ": byte 0",
               "bad magic number {:02x}{:02x}{:02x}{:02x}: an IDX file starts with two zero bytes",
               magic[0], magic[1], magic[2], magic[3]);
  MOEKIT_CHECK(magic[2] == kUnsignedByte, path + ": byte 2",
               "unsupported IDX type code 0x{:02x}; only unsigned bytes (0x08) are read", magic[2]);
  const int64_t ndim = magic[3];
  MOEKIT_CHECK(ndim >= 1, path + ": byte 3", "IDX file declares 0 dimensions");
  MOEKIT_CHECK(expected_ndim <= 0 || ndim == expected_ndim, path + ": byte 3",
               "expected {} dimensions, header declares {}", expected_ndim, ndim);

  std::vector<uint8_t> raw_dims(size_t(4 * ndim));
  const int64_t got_dims = read_bytes(file.get(), raw_dims.data(), 4 * ndim, path, 4);
  MOEKIT_CHECK(got_dims == 4 * ndim, fmt::format("{}: byte {}", path, 4 + got_dims),
               "truncated header: {} dimensions need {} bytes, file ends after {}", ndim, 4 * ndim,
               got_dims);
  IdxArray out;
  int64_t item_bytes = 1;
  for (int64_t d = 0; d < ndim; ++d) {
    const uint8_t* b = raw_dims.data() + 4 * d;
    const int64_t size =
        (int64_t(b[0]) << 24) | (int64_t(b[1]) << 16) | (int64_t(b[2]) << 8) | int64_t(b[3]);
    MOEKIT_CHECK(size > 0, fmt::format("{}: byte {} (dimension {})", path, 4 + 4 * d, d),
                 "size must be > 0, got {}", size);
    out.dims.push_back(size);
    // Checked before multiplying: the product of two 32-bit dimensions can overflow int64.
    MOEKIT_CHECK(d == 0 || size <= kMaxBytes / item_bytes, fmt::format("{}: dimension {}", path, d),
                 "item size {} x {} bytes is implausibly large", item_bytes, size);
    if (d > 0) item_bytes *= size;
  }
  MOEKIT_CHECK(out.dims[0] <= kMaxBytes / item_bytes, path + ": dimension 0",
               "{} items of {} bytes is implausibly large", out.dims[0], item_bytes);

  const int64_t items = max_items > 0 ? std::min(max_items, out.dims[0]) : out.dims[0];
  const int64_t header_bytes = 4 + 4 * ndim;
  const int64_t payload = items * item_bytes;
  std::vector<int64_t> shape = out.dims;
  shape[0] = items;
  // NOTE: the header's size is not trusted for allocation: a 20-byte file may
  // declare 16 GiB (and a gzip stream's length is unknown until read). The
  // payload is read in bounded chunks, so memory grows only with bytes present.
  constexpr int64_t kChunk = int64_t(1) << 24;
  std::vector<uint8_t> buffer;
  int64_t got = 0;
  while (got < payload) {
    const int64_t want = std::min(payload - got, kChunk);
    buffer.resize(size_t(got + want));
    const int64_t n = read_bytes(file.get(), buffer.data() + got, want, path, header_bytes + got);
    got += n;
    if (n < want) break;
  }
  MOEKIT_CHECK(got == payload, fmt::format("{}: byte {}", path, header_bytes + got),
               "truncated data: header declares {} items of {} bytes ({} bytes), file ends after {}",
               out.dims[0], item_bytes, out.dims[0] * item_bytes, got);
  out.data = at::empty(shape, at::TensorOptions().dtype(at::kByte));
  if (payload > 0) std::memcpy(out.data.data_ptr<uint8_t>(), buffer.data(), size_t(payload));
  if (items == out.dims[0]) {
    uint8_t extra;
    MOEKIT_CHECK(read_bytes(file.get(), &extra, 1, path, header_bytes + payload) == 0,
                 fmt::format("{}: byte {}", path, header_bytes + payload),
                 "trailing data after the {} items the header declares", out.dims[0]);
  }
  return out;
}

at::Tensor read_idx_images(const std::string& path, int64_t max_items) {
  return read_idx(path, 3, max_items).data;
}

at::Tensor read_idx_labels(const std::string& path, int64_t n_classes, int64_t max_items) {
  at::Tensor labels = read_idx(path, 1, max_items).data;
  if (n_classes > 0 && labels.numel() > 0) {
    const auto bad = (labels >= n_classes).nonzero();
    if (bad.size(0) > 0) {
      const int64_t i = bad[0][0].item<int64_t>();
      throw Error(fmt::format("{}: item {} (byte {})", path, i, 8 + i),
                  fmt::format("label {} is not in [0, {})", labels[i].item<int64_t>(), n_classes));
    }
  }
  return labels.to(at::kLong);
}

}  // namespace moekit::data
