#include "moekit/train/finite_guard.h"

#include <torch/torch.h>

#include "moekit/core/error.h"

namespace moekit::train {

bool gradients_finite(torch::nn::Module& model) {
  std::vector<at::Tensor> finite;
  for (const auto& p : model.parameters()) {
    if (p.grad().defined()) finite.push_back(at::isfinite(p.grad()).all());
  }
  return finite.empty() || at::stack(finite).all().item<bool>();
}

void check_finite_gradients(torch::nn::Module& model, const std::string& where) {
  if (gradients_finite(model)) return;
  for (const auto& item : model.named_parameters()) {
    const at::Tensor& g = item.value().grad();
    if (g.defined() && !at::isfinite(g).all().item<bool>()) {
      throw Error(where, fmt::format("gradient of '{}' is NaN/Inf; training stopped, the last "
                                     "good checkpoint is kept",
                                     item.key()));
    }
  }
}

}  // namespace moekit::train
