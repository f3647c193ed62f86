#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace moekit::data {

/// An IDX array (the MNIST / Fashion-MNIST file format) of unsigned bytes.
struct IdxArray {
  std::vector<int64_t> dims;  // as stored in the header; dims[0] = items in the file
  at::Tensor data;            // [items read, dims[1:]...] uint8
};

/// Reads an IDX file of unsigned bytes (type code 0x08), gzip'd or plain
/// (zlib reads plain files transparently). Checks the magic number (two zero
/// bytes, type 0x08, `expected_ndim` dimensions when > 0), that every dimension
/// is positive and the total size sane, and that the payload has exactly the
/// size the header promises. `max_items` > 0 reads only the first items (then
/// trailing data is not checked). Throws moekit::Error naming the file and the
/// byte offset or field that is wrong.
IdxArray read_idx(const std::string& path, int64_t expected_ndim = 0, int64_t max_items = 0);

/// Images: a 3-d IDX file -> [N, rows, cols] uint8.
at::Tensor read_idx_images(const std::string& path, int64_t max_items = 0);

/// Labels: a 1-d IDX file -> [N] int64. Throws when a label is >= `n_classes`
/// (when `n_classes` > 0), naming the item.
at::Tensor read_idx_labels(const std::string& path, int64_t n_classes = 0, int64_t max_items = 0);

}  // namespace moekit::data
