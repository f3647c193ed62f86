// Switch gate (Fedus et al. 2021, "Switch Transformers"): top-1 of softmax(W x), weight =
// that probability (eq. 1-2), a per-expert capacity (eq. 3) and the load-balancing loss
// n · Σ_i f_i · P_i (eq. 4-6).
#include <torch/nn/modules/linear.h>

#include <cmath>
#include <tuple>

#include "moekit/core/error.h"
#include "moekit/gates/gate.h"

namespace moekit::gates {
namespace {

class SwitchGate : public Gate {
 public:
  explicit SwitchGate(const GateOptions& options) : Gate("SwitchGate"), options_(options) {
    MOEKIT_CHECK(std::isfinite(options.capacity_factor()), "capacity_factor",
                 "must be finite (<= 0 means unlimited), got {}", options.capacity_factor());
    MOEKIT_CHECK(std::isfinite(options.eval_capacity_fraction()), "eval_capacity_fraction",
                 "must be finite (<= 0 keeps the training capacity), got {}",
                 options.eval_capacity_fraction());
    MOEKIT_CHECK(std::isfinite(options.balance_weight()) && options.balance_weight() >= 0,
                 "balance_weight", "must be finite and >= 0, got {}", options.balance_weight());
    proj_ = register_module(
        "proj", torch::nn::Linear(torch::nn::LinearOptions(options.d_in(), options.n_experts())));
  }

  Routing forward(const GateInput& in) override {
    const int64_t n = options_.n_experts();
    const int64_t rows = in.x.size(0);
    at::Tensor probs = at::softmax(proj_->forward(in.x), /*dim=*/1);  // [T, n]
    at::Tensor top_p, expert;
    std::tie(top_p, expert) = probs.max(/*dim=*/1, /*keepdim=*/true);  // [T, 1]

    at::Tensor chosen = at::zeros({rows, n}, expert.options()).scatter(1, expert, 1);  // [T, n]
    at::Tensor idx = expert;
    at::Tensor w = top_p;
    // Eq. 3: expert capacity = ceil(capacity_factor · T / n); at inference
    // fairseq relaxes it to a fraction of all T tokens (top1gating's eval mode).
    const bool eval_fraction = !is_training() && options_.eval_capacity_fraction() > 0;
    if (eval_fraction || options_.capacity_factor() > 0) {
      // Tokens claim slots in row order; the overflow is dropped and passes
      // through the residual connection.
      const auto capacity = static_cast<int64_t>(
          eval_fraction
              ? std::ceil(options_.eval_capacity_fraction() * static_cast<double>(rows))
              : std::ceil(options_.capacity_factor() * static_cast<double>(rows) / n));
      at::Tensor position = (chosen.cumsum(0) * chosen).sum(1, /*keepdim=*/true) - 1;  // [T, 1]
      at::Tensor keep = position.lt(capacity);
      idx = expert.masked_fill(keep.logical_not(), -1);
      w = top_p * keep.to(top_p.scalar_type());
    }

    // Eq. 4-6: f_i counts every token routed to i, dropped or not; P_i is differentiable.
    at::Tensor aux = at::zeros({}, probs.options());
    if (rows > 0) {
      at::Tensor fraction = chosen.to(probs.scalar_type()).mean(0);
      at::Tensor mean_prob = probs.mean(0);
      aux = options_.balance_weight() * static_cast<double>(n) * (fraction * mean_prob).sum();
    }
    return Routing::from_compact(idx, w, n, aux);
  }

  void pretty_print(std::ostream& stream) const override {
    stream << "SwitchGate(d_in=" << options_.d_in() << ", n_experts=" << options_.n_experts()
           << ", capacity_factor=" << options_.capacity_factor()
           << ", eval_capacity_fraction=" << options_.eval_capacity_fraction()
           << ", balance_weight=" << options_.balance_weight() << ")";
  }

 private:
  GateOptions options_;
  torch::nn::Linear proj_{nullptr};
};

}  // namespace

std::shared_ptr<Gate> make_switch_gate(const GateOptions& options) {
  return std::make_shared<SwitchGate>(options);
}

}  // namespace moekit::gates
