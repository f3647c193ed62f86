#include "moekit/moe/experts.h"

#include <torch/torch.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "moekit/core/error.h"
#include "moekit/moe/grouped_gemm.h"

namespace moekit::moe {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// A piece of one expert's GEMM: rows [begin, begin + size) of that expert's
// slice, or (for weight gradients) rows [begin, begin + size) of w[e].
struct Block {
  int64_t expert, offset, count;  // the expert's slice of the grouped rows
  int64_t begin, size;
};

// Rows per block: at most 2 blocks per thread's share, so that static scheduling
// stays balanced when one expert gets most rows; no fewer than 256, since each
// block repacks its expert's whole weight and small GEMMs waste that.
int64_t block_rows(int64_t total_rows) {
  const int64_t pieces = 2 * static_cast<int64_t>(at::get_num_threads());
  return std::max<int64_t>(256, (total_rows + pieces - 1) / pieces);
}

// Splits each expert's slice into blocks over `extent(e, count)` rows of
// output, as many as its slice has blocks of block_rows rows.
template <typename Extent>
std::vector<Block> make_blocks(const std::vector<int64_t>& counts, Extent&& extent) {
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  const int64_t rows = block_rows(total);
  std::vector<Block> blocks;
  int64_t offset = 0;
  for (int64_t e = 0; e < static_cast<int64_t>(counts.size()); ++e) {
    const int64_t c = counts[e];
    if (c > 0) {
      const int64_t length = extent(c);
      const int64_t pieces = std::min(length, (c + rows - 1) / rows);
      const int64_t step = (length + pieces - 1) / pieces;
      for (int64_t begin = 0; begin < length; begin += step) {
        blocks.push_back(Block{e, offset, c, begin, std::min(step, length - begin)});
      }
    }
    offset += c;
  }
  return blocks;
}

// NOTE: on CPU the blocks run in one parallel region, each GEMM single-threaded
// (BLAS does not fork inside a parallel region): one fork/join per grouped GEMM
// instead of one per expert, which is what small expert GEMMs lose time to
// when the cores are shared. The threads take blocks from a shared counter
// rather than a fixed half each: on shared cores a descheduled thread would
// otherwise hold back its whole share (measured: 2 threads twice as slow as 1
// under load). Other devices run them in order.
template <typename F>
void run_blocks(const at::Tensor& x, const std::vector<Block>& blocks, F&& f) {
  if (!x.is_cpu()) {
    for (const Block& block : blocks) f(block);
    return;
  }
  const auto n = static_cast<int64_t>(blocks.size());
  std::atomic<int64_t> next{0};
  at::parallel_for(0, n, 1, [&](int64_t, int64_t) {
    for (int64_t i = next++; i < n; i = next++) f(blocks[i]);
  });
}

// Weight gradients of experts with no rows are zero; the per-slice GEMMs write
// every other slice, so only these need clearing.
void zero_empty_experts(const std::vector<int64_t>& counts, const at::Tensor& grad) {
  for (int64_t e = 0; e < static_cast<int64_t>(counts.size()); ++e) {
    if (counts[e] == 0) grad[e].zero_();
  }
}

// --- grouped GEMM: y[slice e] = x[slice e] · w[e] (+ b[e]) -----------------------

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

// x [A, K], w [E, K, N], b [E, N] -> [A, N]; relu(...) in place when `relu`, on
// each block while it is still in cache. `grouped`: one _grouped_mm (when
// uses_grouped_mm said so), else the slice loop.
at::Tensor grouped_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                          const std::vector<int64_t>& counts, bool relu, bool grouped) {
  if (grouped) {
    at::Tensor y = grouped_mm(x, w, counts);
    y.add_(b.index_select(0, row_experts(counts, x.device())));
    return relu ? y.relu_() : y;
  }
  at::Tensor y = at::empty({x.size(0), w.size(2)}, x.options());
  const auto blocks = make_blocks(counts, [](int64_t c) { return c; });
  run_blocks(x, blocks, [&](const Block& k) {
    at::Tensor y_k = y.narrow(0, k.offset + k.begin, k.size);
    at::addmm_out(y_k, b[k.expert], x.narrow(0, k.offset + k.begin, k.size), w[k.expert]);
    if (relu) y_k.relu_();
  });
  return y;
}

// Gradients of grouped_linear from gy [A, N]: any of the three may be skipped.
struct GroupedLinearGrads {
  at::Tensor x, w, b;
};
GroupedLinearGrads grouped_linear_backward(const at::Tensor& x, const at::Tensor& w,
                                           const at::Tensor& gy,
                                           const std::vector<int64_t>& counts, bool need_x,
                                           bool need_w, bool need_b, bool relu_input,
                                           bool grouped) {
  GroupedLinearGrads g;
  const int64_t n = w.size(0);
  if (grouped) {
    if (need_x) {
      g.x = grouped_mm_input_grad(gy, w, counts);
      if (relu_input) at::threshold_backward_out(g.x, g.x, x, 0);
    }
    if (need_w) g.w = grouped_mm_weight_grad(x, gy, counts);
    if (need_b) {
      // Per slice, as the loop does: sums in the accumulation type (bf16 sums
      // in fp32), deterministic, no [A, N] temporary.
      g.b = at::zeros({n, gy.size(1)}, gy.options());
      int64_t offset = 0;
      for (int64_t e = 0; e < n; ++e) {
        if (counts[e] > 0) {
          at::Tensor gb_e = g.b[e];
          at::sum_out(gb_e, gy.narrow(0, offset, counts[e]), at::IntArrayRef{0});
        }
        offset += counts[e];
      }
    }
    return g;
  }
  if (need_x) g.x = at::empty_like(x);
  if (need_w) g.w = at::empty_like(w);
  if (need_b) g.b = at::empty({n, gy.size(1)}, gy.options());
  if (need_x) {
    const auto blocks = make_blocks(counts, [](int64_t c) { return c; });
    run_blocks(x, blocks, [&](const Block& k) {
      at::Tensor gx_k = g.x.narrow(0, k.offset + k.begin, k.size);
      at::mm_out(gx_k, gy.narrow(0, k.offset + k.begin, k.size), w[k.expert].t());
      if (relu_input) {
        at::threshold_backward_out(gx_k, gx_k, x.narrow(0, k.offset + k.begin, k.size), 0);
      }
    });
  }
  if (need_w || need_b) {
    // Blocks over the rows of w[e] (x's columns): each writes its own rows of
    // the gradient, so no two blocks add into the same memory.
    const int64_t in_features = w.size(1);
    const auto blocks = make_blocks(counts, [&](int64_t) { return in_features; });
    run_blocks(x, blocks, [&](const Block& k) {
      const at::Tensor gy_e = gy.narrow(0, k.offset, k.count);
      if (need_w) {
        at::Tensor gw_k = g.w[k.expert].narrow(0, k.begin, k.size);
        at::mm_out(gw_k, x.narrow(0, k.offset, k.count).narrow(1, k.begin, k.size).t(), gy_e);
      }
      if (need_b && k.begin == 0) {
        at::Tensor gb_e = g.b[k.expert];
        at::sum_out(gb_e, gy_e, at::IntArrayRef{0});
      }
    });
  }
  if (need_w) zero_empty_experts(counts, g.w);
  if (need_b) zero_empty_experts(counts, g.b);
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
    return {grouped_linear(x, w, b, counts, relu_output, grouped)};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const std::vector<int64_t> counts = ctx->saved_data["counts"].toIntVector();
    GroupedLinearGrads g = grouped_linear_backward(
        saved[0], saved[1], grad_outputs[0].contiguous(), counts, ctx->needs_input_grad(0),
        ctx->needs_input_grad(1), ctx->needs_input_grad(2),
        ctx->saved_data["relu_input"].toBool(), ctx->saved_data["grouped"].toBool());
    return {g.x, g.w, g.b, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// Inference (no autograd graph) on CPU: each block runs its whole FFN, so the
// hidden activation exists one block at a time ([rows of a block, hidden] per
// thread) instead of [A, hidden] for all experts at once.
at::Tensor grouped_ffn_inference(const at::Tensor& x, const FFNExpertsImpl& f,
                                 const std::vector<int64_t>& counts) {
  at::Tensor y = at::empty({x.size(0), f.w2.size(2)}, x.options());
  const auto blocks = make_blocks(counts, [](int64_t c) { return c; });
  run_blocks(x, blocks, [&](const Block& k) {
    const at::Tensor x_k = x.narrow(0, k.offset + k.begin, k.size);
    at::Tensor h = at::addmm(f.b1[k.expert], x_k, f.w1[k.expert]);
    h = f.options.activation() == "relu" ? h.relu_() : apply_activation(f.options.activation(), h);
    at::Tensor y_k = y.narrow(0, k.offset + k.begin, k.size);
    at::addmm_out(y_k, f.b2[k.expert], h, f.w2[k.expert]);
  });
  return y;
}

}  // namespace

at::Tensor Experts::forward(const at::Tensor& x_grouped, const std::vector<int64_t>& counts) {
  MOEKIT_CHECK(static_cast<int64_t>(counts.size()) == n_experts(), "counts",
               "expected {} experts, got {}", n_experts(), counts.size());
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  MOEKIT_CHECK(total == x_grouped.size(0), "counts", "counts sum to {}, rows are {}", total,
               x_grouped.size(0));
  std::vector<at::Tensor> outputs;
  int64_t offset = 0;
  for (int64_t e = 0; e < n_experts(); ++e) {
    if (counts[e] == 0) continue;  // an expert never runs on rows it does not serve
    outputs.push_back(forward_expert(e, x_grouped.narrow(0, offset, counts[e])));
    offset += counts[e];
  }
  if (outputs.empty()) {
    // No rows at all: the output width is unknown without running an expert, so
    // run expert 0 on the empty input to get a correctly shaped empty tensor.
    return forward_expert(0, x_grouped);
  }
  return outputs.size() == 1 ? outputs.front() : at::cat(outputs, 0);
}

void FFNExpertsOptions::validate() const {
  MOEKIT_CHECK(n_experts_ > 0, "n_experts", "must be > 0, got {}", n_experts_);
  MOEKIT_CHECK(d_in_ > 0, "d_in", "must be > 0, got {}", d_in_);
  MOEKIT_CHECK(hidden_ > 0, "hidden", "must be > 0, got {}", hidden_);
  MOEKIT_CHECK(d_out_ >= 0, "d_out", "must be >= 0 (0 = d_in), got {}", d_out_);
  MOEKIT_CHECK(activation_ == "relu" || activation_ == "gelu" || activation_ == "silu" ||
                   activation_ == "tanh",
               "activation", "unknown activation '{}'; expected relu, gelu, silu or tanh",
               activation_);
}

at::Tensor apply_activation(const std::string& name, const at::Tensor& x) {
  if (name == "relu") return at::relu(x);
  if (name == "gelu") return at::gelu(x);
  if (name == "silu") return at::silu(x);
  if (name == "tanh") return at::tanh(x);
  throw Error("activation", fmt::format("unknown activation '{}'", name));
}

FFNExpertsImpl::FFNExpertsImpl(FFNExpertsOptions options_) : options(std::move(options_)) {
  options.validate();
  reset();
}

void FFNExpertsImpl::reset() {
  const int64_t n = options.n_experts(), d = options.d_in(), h = options.hidden();
  const int64_t d_out = options.resolved_d_out();
  w1 = register_parameter("w1", torch::empty({n, d, h}));
  b1 = register_parameter("b1", torch::empty({n, h}));
  w2 = register_parameter("w2", torch::empty({n, h, d_out}));
  b2 = register_parameter("b2", torch::empty({n, d_out}));
  reset_parameters();
}

void FFNExpertsImpl::reset_parameters() {
  // torch::nn::Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) per expert.
  torch::NoGradGuard no_grad;
  const double bound1 = 1.0 / std::sqrt(static_cast<double>(options.d_in()));
  const double bound2 = 1.0 / std::sqrt(static_cast<double>(options.hidden()));
  w1.uniform_(-bound1, bound1);
  b1.uniform_(-bound1, bound1);
  w2.uniform_(-bound2, bound2);
  b2.uniform_(-bound2, bound2);
}

void FFNExpertsImpl::pretty_print(std::ostream& stream) const {
  stream << "moekit::FFNExperts(n_experts=" << options.n_experts() << ", d_in=" << options.d_in()
         << ", hidden=" << options.hidden() << ", d_out=" << options.resolved_d_out()
         << ", activation=" << options.activation() << ")";
}

at::Tensor FFNExpertsImpl::forward(const at::Tensor& x_grouped,
                                   const std::vector<int64_t>& counts) {
  MOEKIT_CHECK(static_cast<int64_t>(counts.size()) == n_experts(), "counts",
               "expected {} experts, got {}", n_experts(), counts.size());
  int64_t total = 0;
  for (int64_t c : counts) {
    MOEKIT_CHECK(c >= 0, "counts", "must be >= 0, got {}", c);
    total += c;
  }
  MOEKIT_CHECK(x_grouped.dim() == 2 && x_grouped.size(0) == total && x_grouped.size(1) == options.d_in(),
               "x", "expected [{}, {}] (rows = sum of counts), got {}", total, options.d_in(),
               c10::str(x_grouped.sizes()));
  const at::Tensor x = x_grouped.contiguous();
  const bool graph = at::GradMode::is_enabled() &&
                     (x.requires_grad() || w1.requires_grad() || b1.requires_grad() ||
                      w2.requires_grad() || b2.requires_grad());
  if (!graph && x.is_cpu() && !uses_grouped_mm(x, w1)) {
    return grouped_ffn_inference(x, *this, counts);
  }
  if (options.activation() == "relu") {
    const at::Tensor h = GroupedLinearFunction::apply(x, w1, b1, counts, true, false)[0];
    return GroupedLinearFunction::apply(h, w2, b2, counts, false, true)[0];
  }
  const at::Tensor h = GroupedLinearFunction::apply(x, w1, b1, counts, false, false)[0];
  return GroupedLinearFunction::apply(apply_activation(options.activation(), h), w2, b2, counts,
                                      false, false)[0];
}

at::Tensor FFNExpertsImpl::forward_expert(int64_t e, const at::Tensor& x) {
  const at::Tensor h = apply_activation(options.activation(), at::addmm(b1[e], x, w1[e]));
  return at::addmm(b2[e], h, w2[e]);
}

}  // namespace moekit::moe
