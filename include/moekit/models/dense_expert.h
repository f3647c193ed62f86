#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace moekit::models {

/// The recommender expert of the COMET reference: Dense(width) + ReLU +
/// Dropout(dropout), on the flattened features. Each expert draws its own
/// dropout mask, as separate Keras layers do.
class DenseExpertImpl : public torch::nn::Module {
 public:
  DenseExpertImpl(int64_t d_in, int64_t width, double dropout);
  at::Tensor forward(at::Tensor x);  // [B, ...] -> [B, width]

 private:
  torch::nn::Linear fc_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(DenseExpert);

}  // namespace moekit::models
