// Noisy top-k gate (Shazeer et al. 2017, "Outrageously Large Neural Networks").
// H = W x + N(0,1)·softplus(W_noise x) in training (eq. 4), keep the top k of H and
// softmax over them (eq. 3, 5). Aux loss = balance_weight · (CV²(importance) + CV²(load))
// (eq. 6, 7 and appendix A, eq. 8-11).
#include <torch/nn/modules/linear.h>

#include <cmath>
#include <tuple>

#include "moekit/core/error.h"
#include "moekit/gates/gate.h"

namespace moekit::gates {
namespace {

// Squared coefficient of variation over experts. Population variance, as in the
// authors' tensor2tensor `cv_squared`; 0 for a single expert (nothing to balance).
at::Tensor cv_squared(const at::Tensor& x) {
  if (x.numel() <= 1) return at::zeros({}, x.options());
  constexpr double kEps = 1e-10;
  at::Tensor mean = x.mean();
  return (x - mean).pow(2).mean() / (mean * mean + kEps);
}

class TopKGate : public Gate {
 public:
  explicit TopKGate(const GateOptions& options) : Gate("TopKGate"), options_(options) {
    MOEKIT_CHECK(options.k() >= 1 && options.k() <= options.n_experts(), "k",
                 "must lie in [1, n_experts = {}], got {}", options.n_experts(), options.k());
    MOEKIT_CHECK(std::isfinite(options.balance_weight()) && options.balance_weight() >= 0,
                 "balance_weight", "must be finite and >= 0, got {}", options.balance_weight());
    const auto linear = torch::nn::LinearOptions(options.d_in(), options.n_experts());
    proj_ = register_module("proj", torch::nn::Linear(linear));
    // NOTE: noise_proj exists only when noisy, so a noisy=false gate has no unused
    // parameters; the two variants therefore have different checkpoint keys.
    if (options.noisy()) noise_proj_ = register_module("noise_proj", torch::nn::Linear(linear));
  }

  Routing forward(const GateInput& in) override {
    const int64_t n = options_.n_experts();
    const int64_t k = options_.k();
    at::Tensor clean = proj_->forward(in.x);  // [T, n]
    const bool add_noise = is_training() && options_.noisy();
    at::Tensor noisy = clean;
    at::Tensor noise_std;
    if (add_noise) {
      noise_std = at::softplus(noise_proj_->forward(in.x));  // eq. 4
      noisy = clean + at::randn_like(clean) * noise_std;
    }
    // The smooth load estimator needs the (k+1)-th largest logit too.
    const bool smooth_load = add_noise && k < n;
    at::Tensor top_values, top_idx;
    std::tie(top_values, top_idx) = noisy.topk(smooth_load ? k + 1 : k, /*dim=*/1);
    at::Tensor idx = top_idx.narrow(1, 0, k).contiguous();              // [T, k]
    at::Tensor w = at::softmax(top_values.narrow(1, 0, k), /*dim=*/1);  // [T, k]
    Routing routing = Routing::from_compact(idx, w, n, at::Tensor());

    at::Tensor importance = routing.weights.sum(0);  // eq. 6
    at::Tensor load = smooth_load ? smooth_load_estimate(clean, noise_std, top_values, idx)
                                  : at::zeros({n}, clean.options())
                                        .scatter_add(0, idx.reshape(-1),
                                                     at::ones({idx.numel()}, clean.options()));
    routing.aux_loss = options_.balance_weight() * (cv_squared(importance) + cv_squared(load));
    return routing;
  }

  void pretty_print(std::ostream& stream) const override {
    stream << "TopKGate(d_in=" << options_.d_in() << ", n_experts=" << options_.n_experts()
           << ", k=" << options_.k() << ", noisy=" << (options_.noisy() ? "true" : "false")
           << ", balance_weight=" << options_.balance_weight() << ")";
  }

 private:
  // Appendix A, eq. 8-10: P(x, i) = Φ((clean_i - kth_excluding(H, k, i)) / noise_std_i), the
  // probability that expert i stays in the top k when only its own noise is re-drawn.
  // Excluding i, the k-th largest of H is the (k+1)-th largest when i is itself in the
  // top k, and the k-th largest otherwise. load_i = Σ_rows P(x, i).
  static at::Tensor smooth_load_estimate(const at::Tensor& clean, const at::Tensor& noise_std,
                                         const at::Tensor& top_values, const at::Tensor& idx) {
    const int64_t k = idx.size(1);
    at::Tensor threshold_if_in = top_values.narrow(1, k, 1);       // [T, 1]
    at::Tensor threshold_if_out = top_values.narrow(1, k - 1, 1);  // [T, 1]
    at::Tensor in_top =
        at::zeros_like(clean, clean.options().dtype(at::kBool)).scatter(1, idx, true);
    at::Tensor threshold = at::where(in_top, threshold_if_in, threshold_if_out);
    // softplus can underflow to 0 in float; the clamp keeps the ratio finite.
    at::Tensor z = (clean - threshold) / noise_std.clamp_min(1e-9);
    at::Tensor prob = 0.5 * at::erfc(-z * M_SQRT1_2);  // Φ(z)
    return prob.sum(0);
  }

  GateOptions options_;
  torch::nn::Linear proj_{nullptr};
  torch::nn::Linear noise_proj_{nullptr};
};

}  // namespace

std::shared_ptr<Gate> make_top_k_gate(const GateOptions& options) {
  return std::make_shared<TopKGate>(options);
}

}  // namespace moekit::gates
