#include "moekit/moe/experts.h"

#include <torch/torch.h>

#include <cmath>

#include "moe/grouped_linear.h"
#include "moekit/core/error.h"
#include "moekit/moe/grouped_gemm.h"

namespace moekit::moe {

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
    // Inference on CPU: each block runs its whole FFN, so the hidden activation
    // exists one block at a time ([rows of a block, hidden] per thread) instead
    // of [A, hidden] for all experts at once.
    const bool relu = options.activation() == "relu";
    return slice_ffn_inference(
        x, w2.size(2), counts, [&](int64_t e, const at::Tensor& x_k, at::Tensor& y_k) {
          at::Tensor h = at::addmm(b1[e], x_k, w1[e]);
          h = relu ? h.relu_() : apply_activation(options.activation(), h);
          at::addmm_out(y_k, b2[e], h, w2[e]);
        });
  }
  if (options.activation() == "relu") {
    const at::Tensor h = grouped_linear(x, w1, b1, counts, /*relu_output=*/true, false);
    return grouped_linear(h, w2, b2, counts, false, /*relu_input=*/true);
  }
  const at::Tensor h = grouped_linear(x, w1, b1, counts, false, false);
  return grouped_linear(apply_activation(options.activation(), h), w2, b2, counts, false, false);
}

std::shared_ptr<Experts> FFNExpertsImpl::slice(int64_t first, int64_t count) const {
  MOEKIT_CHECK(first >= 0 && count >= 1 && first + count <= n_experts(), "experts",
               "cannot take experts [{}, {}) of {}", first, first + count, n_experts());
  auto sliced_options = options;
  sliced_options.n_experts(count);
  auto sliced = std::make_shared<FFNExpertsImpl>(sliced_options);
  torch::NoGradGuard no_grad;
  sliced->w1.copy_(w1.narrow(0, first, count));
  sliced->b1.copy_(b1.narrow(0, first, count));
  sliced->w2.copy_(w2.narrow(0, first, count));
  sliced->b2.copy_(b2.narrow(0, first, count));
  sliced->to(w1.device(), w1.scalar_type());
  return sliced;
}

at::Tensor FFNExpertsImpl::forward_expert(int64_t e, const at::Tensor& x) {
  const at::Tensor h = apply_activation(options.activation(), at::addmm(b1[e], x, w1[e]));
  return at::addmm(b2[e], h, w2[e]);
}

}  // namespace moekit::moe
