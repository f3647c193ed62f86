#include "moekit/core/optimizer_state.h"

#include <torch/optim/adam.h>

#include <memory>

#include "moekit/core/error.h"
#include "moekit/core/torch_compat.h"

namespace moekit {

const std::vector<std::string>& optimizer_state_tensors() {
  static const std::vector<std::string> names{"exp_avg", "exp_avg_sq"};
  return names;
}

std::optional<ParamState> get_param_state(torch::optim::Optimizer& optimizer, const at::Tensor& p) {
  auto it = optimizer.state().find(compat::optimizer_state_key(p));
  if (it == optimizer.state().end()) return std::nullopt;
  const auto* adam = dynamic_cast<const torch::optim::AdamParamState*>(it->second.get());
  MOEKIT_CHECK(adam != nullptr, "optimizer", "full-state checkpoints support Adam only");
  return ParamState{adam->step(), {adam->exp_avg(), adam->exp_avg_sq()}};
}

void set_param_state(torch::optim::Optimizer& optimizer, const at::Tensor& p, ParamState state) {
  TORCH_INTERNAL_ASSERT(state.tensors.size() == optimizer_state_tensors().size());
  auto adam = std::make_unique<torch::optim::AdamParamState>();
  adam->step(state.step);
  adam->exp_avg(std::move(state.tensors[0]));
  adam->exp_avg_sq(std::move(state.tensors[1]));
  optimizer.state()[compat::optimizer_state_key(p)] = std::move(adam);
}

void erase_param_state(torch::optim::Optimizer& optimizer, const at::Tensor& p) {
  optimizer.state().erase(compat::optimizer_state_key(p));
}

}  // namespace moekit
