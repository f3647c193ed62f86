#pragma once
#include <ATen/ATen.h>

#include "moekit/moe/experts.h"

namespace moekit::moe {

/// The naive MoE: every expert on every row, outputs masked by the dense
/// weights [T, n]. What reference gate code does; the baseline that tests and
/// benchmarks hold the dispatch path against.
at::Tensor naive_moe_forward(Experts& experts, const at::Tensor& x, const at::Tensor& weights);

}  // namespace moekit::moe
