#pragma once
// Per-parameter optimizer state without naming the optimizer, for code that
// moves it between layouts (dist/full_state.h). moekit trains with Adam, and
// Adam is the only optimizer read here: its state layout lives in
// src/core/optimizer_state.cpp and nowhere else.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace torch::optim {
class Optimizer;
}

namespace moekit {

/// One parameter's state: its step count and its state tensors, in the order
/// of optimizer_state_tensors().
struct ParamState {
  int64_t step = 0;
  std::vector<at::Tensor> tensors;
};

/// Names of the per-parameter state tensors (Adam: exp_avg, exp_avg_sq).
const std::vector<std::string>& optimizer_state_tensors();

/// p's state in `optimizer`, or nullopt when it has none yet (no step taken).
/// Throws moekit::Error when the state is not Adam's.
std::optional<ParamState> get_param_state(torch::optim::Optimizer& optimizer, const at::Tensor& p);

/// Replaces p's state (one tensor per optimizer_state_tensors() name).
void set_param_state(torch::optim::Optimizer& optimizer, const at::Tensor& p, ParamState state);

/// Removes p's state: its next step starts afresh.
void erase_param_state(torch::optim::Optimizer& optimizer, const at::Tensor& p);

}  // namespace moekit
