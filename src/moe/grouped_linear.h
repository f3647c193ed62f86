#pragma once
// Private to src/moe: the grouped linear op under FFNExperts (experts.cpp).
// grouped_linear.cpp holds the op (its autograd node and the choice between
// `_grouped_mm` and the slice loop); grouped_linear_slices.cpp the slice loop,
// one GEMM per expert slice, run as parallel blocks on CPU.
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace moekit::moe {

/// One grouped linear layer x [A, K] · w[e] + b[e] for rows of expert e (at
/// [offsets[e], offsets[e] + counts[e])) as one autograd node; relu in place
/// on the output when `relu_output`; `relu_input`: x is a relu output that
/// nothing else reads, its gradient is masked here (see grouped_linear.cpp).
at::Tensor grouped_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                          const std::vector<int64_t>& counts, bool relu_output, bool relu_input);

/// The slice loop: y = x[slice e] · w[e] + b[e] per expert, relu in place when `relu`.
at::Tensor slice_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                        const std::vector<int64_t>& counts, bool relu);

/// Gradients of a grouped linear layer from gy [A, N]; any may be skipped (undefined).
struct GroupedLinearGrads {
  at::Tensor x, w, b;
};
GroupedLinearGrads slice_linear_backward(const at::Tensor& x, const at::Tensor& w,
                                         const at::Tensor& gy, const std::vector<int64_t>& counts,
                                         bool need_x, bool need_w, bool need_b, bool relu_input);

/// Inference without an autograd graph, the slice loop's way: each block of
/// rows runs the whole FFN `expert(e, x_block)` into its rows of an [A, width]
/// output, so the hidden activation exists one block at a time.
at::Tensor slice_ffn_inference(
    const at::Tensor& x, int64_t width, const std::vector<int64_t>& counts,
    const std::function<void(int64_t e, const at::Tensor& x_block, at::Tensor& y_block)>& expert);

}  // namespace moekit::moe
