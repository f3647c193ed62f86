#include "moekit/models/cnn_expert.h"

#include <torch/torch.h>

#include "moekit/core/error.h"

namespace moekit::models {

CnnExpertImpl::CnnExpertImpl(std::vector<int64_t> input_shape, int64_t width) {
  MOEKIT_CHECK(input_shape.size() == 3, "input_shape", "the cnn expert needs {{C, H, W}}, got {} dims",
               input_shape.size());
  const int64_t h = ((input_shape[1] - 4) / 2 - 4) / 2;
  const int64_t w = ((input_shape[2] - 4) / 2 - 4) / 2;
  MOEKIT_CHECK(h > 0 && w > 0, "input_shape", "images of {}x{} are too small for the cnn expert",
               input_shape[1], input_shape[2]);
  conv1_ = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(input_shape[0], 10, 5)));
  conv2_ = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(10, 20, 5)));
  fc1_ = register_module("fc1", torch::nn::Linear(20 * h * w, width));
  fc2_ = register_module("fc2", torch::nn::Linear(width, width));
}

at::Tensor CnnExpertImpl::forward(at::Tensor x) {
  x = torch::max_pool2d(torch::relu(conv1_(x)), 2);
  x = torch::max_pool2d(torch::relu(conv2_(x)), 2);
  x = torch::relu(fc1_(x.flatten(1)));
  return torch::relu(fc2_(x));
}

}  // namespace moekit::models
