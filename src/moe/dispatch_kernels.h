#pragma once
// Private to src/moe: the per-device kernels behind dispatch.h's gather_rows
// and combine. dispatch.cpp checks arguments and picks one; without a kernel
// for a device and dtype it runs ATen ops, which serve every device (there is
// no hand-written CUDA kernel: none has paid for itself yet, STYLE.md).
#include <ATen/ATen.h>

#include "moekit/moe/dispatch.h"

namespace moekit::moe {

/// dispatch_cpu.cpp, for CPU float and double tensors and a plan with its
/// by-row index (index_plan_by_row). Each is one autograd node whose gradient
/// sums each row's assignments, every output row written by one thread.
/// x [T, ...] -> [A, ...] in plan order.
at::Tensor gather_rows_cpu(const at::Tensor& x, const DispatchPlan& plan);
/// y [A, ...], weight [A] in y's dtype -> [T, ...]: out[token] += weight · y.
at::Tensor combine_cpu(const at::Tensor& y, const at::Tensor& weight, const DispatchPlan& plan);

}  // namespace moekit::moe
