// The grouped linear op of FFNExperts: one autograd node per layer, running
// its GEMMs as `_grouped_mm` calls (moe/grouped_gemm.h) or as the slice loop
// (grouped_linear_slices.cpp), whichever the forward chose.
#include "moe/grouped_linear.h"

#include <torch/torch.h>

#include "moekit/moe/grouped_gemm.h"

namespace moekit::moe {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Expert of each grouped row, [A] int64 on `device`, for the bias of the
// _grouped_mm path (which takes none).
// NOTE: not at::repeat_interleave(repeats, rows): that overload resolution picks
// (self, int64_t repeats) and repeats every count `rows` times.
at::Tensor row_experts(const std::vector<int64_t>& counts, const at::Device& device) {
  const at::Tensor repeats = at::tensor(counts, at::TensorOptions(at::kLong)).to(device, true);
  int64_t rows = 0;
  for (int64_t c : counts) rows += c;
  const auto n = static_cast<int64_t>(counts.size());
  return at::arange(n, repeats.options()).repeat_interleave(repeats, /*dim=*/0, /*output_size=*/rows);
}

// x [A, K], w [E, K, N], b [E, N] -> [A, N] as one _grouped_mm plus the bias.
at::Tensor grouped_mm_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                             const std::vector<int64_t>& counts, bool relu) {
  at::Tensor y = grouped_mm(x, w, counts);
  y.add_(b.index_select(0, row_experts(counts, x.device())));
  return relu ? y.relu_() : y;
}

GroupedLinearGrads grouped_mm_linear_backward(const at::Tensor& x, const at::Tensor& w,
                                              const at::Tensor& gy,
                                              const std::vector<int64_t>& counts, bool need_x,
                                              bool need_w, bool need_b, bool relu_input) {
  GroupedLinearGrads g;
  if (need_x) {
    g.x = grouped_mm_input_grad(gy, w, counts);
    if (relu_input) at::threshold_backward_out(g.x, g.x, x, 0);
  }
  if (need_w) g.w = grouped_mm_weight_grad(x, gy, counts);
  if (need_b) {
    // Per slice, as the loop does: sums in the accumulation type (bf16 sums
    // in fp32), deterministic, no [A, N] temporary.
    g.b = at::zeros({w.size(0), gy.size(1)}, gy.options());
    int64_t offset = 0;
    for (size_t e = 0; e < counts.size(); ++e) {
      if (counts[e] > 0) {
        at::Tensor gb_e = g.b[static_cast<int64_t>(e)];
        at::sum_out(gb_e, gy.narrow(0, offset, counts[e]), at::IntArrayRef{0});
      }
      offset += counts[e];
    }
  }
  return g;
}

// One grouped linear layer as one autograd node. NOTE: autograd through w[e]
// would give every expert a SelectBackward that materialises a full-size zero
// gradient of w and adds it up: E full-size allocations per weight per step.
// Here each expert's gradient is one GEMM into its slice of a single [E, ...]
// gradient. The FFN is two such nodes with the activation between them (not
// one node), so the engine accumulates w2's gradient and frees it before w1's
// is computed: peak memory as in a dense FFN's backward.
//
// ReLU is fused across the pair: the first node applies it in place to its output
// (`relu_output`), the second, whose input that output is (`relu_input`), masks
// its input gradient by input > 0 in place, block by block. NOTE: so the first
// node receives the gradient of its pre-activation and the second returns no
// gradient of the post-activation: right only because FFNExpertsImpl::forward
// hands the hidden activation to nothing else. It saves two [A, hidden]
// tensors (the activation and its gradient) and two passes over them.
struct GroupedLinearFunction : torch::autograd::Function<GroupedLinearFunction> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w,
                               const at::Tensor& b, const std::vector<int64_t>& counts,
                               bool relu_output, bool relu_input) {
    // The backward takes the forward's path, whatever the choice is by then.
    const bool grouped = uses_grouped_mm(x, w);
    ctx->save_for_backward({x, w});
    ctx->saved_data["counts"] = counts;
    ctx->saved_data["relu_input"] = relu_input;
    ctx->saved_data["grouped"] = grouped;
    return {grouped ? grouped_mm_linear(x, w, b, counts, relu_output)
                    : slice_linear(x, w, b, counts, relu_output)};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const std::vector<int64_t> counts = ctx->saved_data["counts"].toIntVector();
    const auto backward = ctx->saved_data["grouped"].toBool() ? grouped_mm_linear_backward
                                                              : slice_linear_backward;
    GroupedLinearGrads g =
        backward(saved[0], saved[1], grad_outputs[0].contiguous(), counts,
                 ctx->needs_input_grad(0), ctx->needs_input_grad(1), ctx->needs_input_grad(2),
                 ctx->saved_data["relu_input"].toBool());
    return {g.x, g.w, g.b, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor grouped_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                          const std::vector<int64_t>& counts, bool relu_output, bool relu_input) {
  return GroupedLinearFunction::apply(x, w, b, counts, relu_output, relu_input)[0];
}

}  // namespace moekit::moe
