#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <vector>

namespace moekit::models {

/// The MultiFashionMNIST expert of the DSelect-k/COMET protocol:
/// conv5x5(10)-maxpool-conv5x5(20)-maxpool-dense(width)-dense(width), ReLU.
class CnnExpertImpl : public torch::nn::Module {
 public:
  /// input_shape = {C, H, W}; H and W must be >= 16 (two valid 5x5 convs and two 2x2 pools).
  CnnExpertImpl(std::vector<int64_t> input_shape, int64_t width);
  at::Tensor forward(at::Tensor x);  // [B, C, H, W] -> [B, width]

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(CnnExpert);

}  // namespace moekit::models
