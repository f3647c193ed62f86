// DSelect-k gate (Hazimeh et al., NeurIPS 2021): k differentiable selectors,
// each a binary code over m = ceil(log2 n) smooth-step bits, mixed by softmax(α).
#include <torch/nn/init.h>
#include <torch/nn/modules/linear.h>

#include <cmath>
#include <ostream>

#include "moekit/core/error.h"
#include "moekit/gates/gate.h"
#include "moekit/gates/smooth_step.h"

namespace moekit::gates {
namespace {

int64_t code_bits(int64_t n) {
  int64_t m = 0;
  while ((int64_t{1} << m) < n) ++m;
  return std::max<int64_t>(1, m);
}

// x·log x with 0·log 0 = 0 and a gradient of exactly 0 (not NaN) at x = 0.
at::Tensor x_log_x(const at::Tensor& p) { return p * at::where(p > 0, p, at::ones_like(p)).log(); }

class DSelectKGate : public Gate {
 public:
  explicit DSelectKGate(const GateOptions& options)
      : Gate("DSelectKGate"), options_(options), m_(code_bits(options.n_experts())) {
    MOEKIT_CHECK(options.k() >= 1, "k", "dselectk needs k >= 1 selectors, got {}", options.k());
    MOEKIT_CHECK(options.gamma() > 0, "gamma", "must be > 0, got {}", options.gamma());
    MOEKIT_CHECK(options.entropy_weight() >= 0, "entropy_weight", "must be >= 0, got {}",
                 options.entropy_weight());
    MOEKIT_CHECK(options.invalid_weight() >= 0, "invalid_weight", "must be >= 0, got {}",
                 options.invalid_weight());
    reset();
  }

  void reset() {
    const int64_t k = options_.k();
    // Selector logits start in U(-γ/100, γ/100) (as in DSelect-k): deep inside the
    // smooth-step band, so every bit is near 1/2, every code gets similar mass
    // and gradients reach all experts before the selectors commit.
    const double r = options_.gamma() / 100;
    torch::NoGradGuard no_grad;
    if (options_.per_example()) {
      z_proj_ = register_module(
          "z_proj", torch::nn::Linear(torch::nn::LinearOptions(options_.d_in(), k * m_)));
      alpha_proj_ = register_module(
          "alpha_proj", torch::nn::Linear(torch::nn::LinearOptions(options_.d_in(), k)));
      z_proj_->weight.uniform_(-r, r);
      z_proj_->bias.uniform_(-r, r);
    } else {
      z_ = register_parameter("z", torch::empty({k, m_}).uniform_(-r, r));
      alpha_ = register_parameter("alpha", torch::zeros({k}));
    }
  }

  Routing forward(const GateInput& in) override {
    const at::Tensor& x = in.x;
    MOEKIT_CHECK(x.dim() == 2 && x.size(1) == options_.d_in(), "x",
                 "gate input must be [T, d_in={}], got {}", options_.d_in(), c10::str(x.sizes()));
    const int64_t T = x.size(0), k = options_.k(), n = options_.n_experts();

    at::Tensor z, alpha;  // [T, k, m], [T, k]
    if (options_.per_example()) {
      z = z_proj_->forward(x).view({T, k, m_});
      alpha = alpha_proj_->forward(x);
    } else {
      z = z_.unsqueeze(0).expand({T, k, m_});
      alpha = alpha_.unsqueeze(0).expand({T, k});
    }

    // DSelect-k's single-expert selector r(z): code j gets Π_b (bit_b(j) ? S(z_b) : 1 - S(z_b)).
    // Built one bit at a time: after bit b the codes [0, 2^b) have bit b clear and [2^b, 2^(b+1))
    // have it set, which is the binary order of j.
    const at::Tensor s = smooth_step(z, options_.gamma());
    at::Tensor q = at::ones({T, k, 1}, z.options());
    for (int64_t b = 0; b < m_; ++b) {
      const at::Tensor sb = s.select(2, b).unsqueeze(2);
      q = at::cat({q * (1 - sb), q * sb}, /*dim=*/2);
    }  // q: [T, k, 2^m], each selector's distribution over codes

    // Selector outputs on the n codes that have an expert. When n is not a
    // power of two, mass on codes >= n is lost (rows may sum to less than 1),
    // as in the reference: no renormalisation; the reciprocal penalty below
    // keeps every selector on valid codes.
    const at::Tensor valid = q.narrow(2, 0, n);               // [T, k, n]
    const at::Tensor mix = at::softmax(alpha, /*dim=*/1);     // [T, k]
    const at::Tensor weights = (mix.unsqueeze(2) * valid).sum(1);  // [T, n]

    // DSelect-k's entropy regulariser: λ · mean over rows of Σ over selectors and
    // experts of -r log r, on the valid codes (the reference's selector outputs).
    at::Tensor aux = -x_log_x(valid).sum({1, 2}).mean() * options_.entropy_weight();
    if (q.size(2) > n) {
      // The reference's penalty ζ · Σ 1 / (1e-6 + Σ_{j<n} r_j): one term per
      // selector, and per row for per-example selectors (static selectors are
      // the same in every row, so they count once).
      const at::Tensor reach = valid.sum(2);  // [T, k]
      const at::Tensor recip = options_.per_example() || T == 0
                                   ? (1.0 / (reach + 1e-6)).sum()
                                   : (1.0 / (reach[0] + 1e-6)).sum();
      aux = aux + recip * options_.invalid_weight();
    }
    return Routing::from_dense(weights, aux);
  }

  void pretty_print(std::ostream& stream) const override {
    stream << "DSelectKGate(d_in=" << options_.d_in() << ", n_experts=" << options_.n_experts()
           << ", k=" << options_.k() << ", gamma=" << options_.gamma()
           << ", per_example=" << (options_.per_example() ? "true" : "false")
           << ", entropy_weight=" << options_.entropy_weight()
           << ", invalid_weight=" << options_.invalid_weight() << ")";
  }

 private:
  GateOptions options_;
  int64_t m_;  // code bits
  torch::nn::Linear z_proj_{nullptr}, alpha_proj_{nullptr};
  at::Tensor z_, alpha_;
};

}  // namespace

std::shared_ptr<Gate> make_dselect_k_gate(const GateOptions& options) {
  return std::make_shared<DSelectKGate>(options);
}

}  // namespace moekit::gates
