#pragma once
#include <ATen/ATen.h>
#include <torch/arg.h>

#include <cstdint>
#include <string>

namespace moekit::data {

/// The two-image MultiFashionMNIST of the DSelect-k / COMET experiments.
struct MultiFashionMNISTOptions {
  /// Folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (Debian dataset-fashion-mnist).
  TORCH_ARG(std::string, source_dir) = "/usr/share/datasets/fashion-mnist";
  TORCH_ARG(int64_t, seed) = 0;
  /// Share of the train split's images held out to form validation pairs.
  TORCH_ARG(double, valid_fraction) = 0.1;
  /// Read only the first N images of each source split (0 = all); for tests and quick runs.
  TORCH_ARG(int64_t, max_source_images) = 0;

 public:
  void validate() const;  // throws moekit::Error naming the field
};

/// One split of pairs.
struct MultiFashionSplit {
  at::Tensor images;  // [N, 36, 36] uint8, pixel-wise max of the two placed images
  at::Tensor labels;  // [N, 2] int64: task 1 = top-left image's class, task 2 = bottom-right's
  int64_t seed = 0;   // the seed the pairs were drawn from

  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  /// images as float in [0, 1], [N, 1, 36, 36], ready for a conv net.
  at::Tensor float_images() const;
};

struct MultiFashionMNIST {
  MultiFashionSplit train, valid, test;
};

constexpr int64_t kMultiFashionCanvas = 36;
constexpr int64_t kMultiFashionShift = 8;

/// Places `first` [N, 28, 28] at the top-left and `second` at (8, 8) on a
/// 36x36 canvas, combined by pixel-wise max -> [N, 36, 36] uint8.
at::Tensor combine_pair_images(const at::Tensor& first, const at::Tensor& second);

/// Builds the pairs from source images [M, 28, 28] uint8 and labels [M]: every
/// image is the first of one pair, its partner a different image drawn from
/// `seed` (std::mt19937_64, so the pairs do not depend on the torch version).
MultiFashionSplit make_pairs(const at::Tensor& images, const at::Tensor& labels, uint64_t seed);

/// Reads the Fashion-MNIST files and builds all three splits. The train
/// split's images are shuffled from the seed and split before pairing, so no
/// image appears in both train and validation pairs; test pairs come from t10k.
MultiFashionMNIST build_multi_fashion_mnist(const MultiFashionMNISTOptions& options);

/// Cache format (little-endian): "MKMFMNST", u32 version, u32 canvas side,
/// u32 tasks, u32 reserved, u64 seed, u64 N, N*36*36 image bytes, N*2 label
/// bytes, then u32 CRC-32 of everything before it.
void save_multi_fashion_split(const MultiFashionSplit& split, const std::string& path);

/// Validates magic, version, sizes against the file length, labels and the
/// checksum; throws moekit::Error naming the file and the fault.
MultiFashionSplit load_multi_fashion_split(const std::string& path);

/// Writes DIR/{train,valid,test}.mfmnist.
void save_multi_fashion_mnist(const MultiFashionMNIST& data, const std::string& dir);
MultiFashionMNIST load_multi_fashion_mnist(const std::string& dir);

}  // namespace moekit::data
