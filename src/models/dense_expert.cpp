#include "moekit/models/dense_expert.h"

#include <torch/torch.h>

namespace moekit::models {

DenseExpertImpl::DenseExpertImpl(int64_t d_in, int64_t width, double dropout) {
  fc_ = register_module("fc", torch::nn::Linear(d_in, width));
  dropout_ = register_module("dropout", torch::nn::Dropout(dropout));
}

at::Tensor DenseExpertImpl::forward(at::Tensor x) {
  return dropout_->forward(torch::relu(fc_->forward(x.flatten(1))));
}

}  // namespace moekit::models
