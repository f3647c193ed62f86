#pragma once
#include <torch/nn/module.h>

#include <string>

namespace moekit::train {

/// Throws moekit::Error at `where` (e.g. "step 12 (epoch 1, batch 12)") naming the
/// first parameter whose gradient holds a NaN or Inf. Costs one host sync per call;
/// the names are looked up only when something is wrong.
void check_finite_gradients(torch::nn::Module& model, const std::string& where);

/// Whether every gradient of `model` is finite (one host sync).
bool gradients_finite(torch::nn::Module& model);

}  // namespace moekit::train
