// COMET gate (Ibrahim et al., KDD 2023): k soft binary trees whose splits use
// the smooth-step, so once every split saturates each tree routes a row to one
// leaf and at most k experts are active.
#include <torch/nn/init.h>

#include <cmath>
#include <limits>
#include <ostream>

#include "moekit/core/error.h"
#include "moekit/gates/gate.h"
#include "moekit/gates/smooth_step.h"

namespace moekit::gates {
namespace {

int64_t tree_depth(int64_t n) {
  int64_t depth = 0;
  while ((int64_t{1} << depth) < n) ++depth;
  return std::max<int64_t>(1, depth);
}

class CometGate : public Gate {
 public:
  explicit CometGate(const GateOptions& options)
      : Gate("CometGate"),
        options_(options),
        depth_(tree_depth(options.n_experts())),
        n_leaves_(int64_t{1} << depth_) {
    MOEKIT_CHECK(options.k() >= 1, "k", "comet needs k >= 1 trees, got {}", options.k());
    MOEKIT_CHECK(options.gamma() > 0, "gamma", "must be > 0, got {}", options.gamma());
    MOEKIT_CHECK(options.entropy_weight() >= 0, "entropy_weight", "must be >= 0, got {}",
                 options.entropy_weight());
    reset();
  }

  void reset() {
    const int64_t k = options_.k(), d = options_.d_in(), n_internal = n_leaves_ - 1;
    // Splits start in U(-γ/100, γ/100) (COMET's init): inside the smooth-step
    // band, so every leaf is reachable and trains before the trees commit.
    const double r = options_.gamma() / 100;
    torch::NoGradGuard no_grad;
    split_weight_ =
        register_parameter("split_weight", torch::empty({k, n_internal, d}).uniform_(-r, r));
    split_bias_ = register_parameter("split_bias", torch::empty({k, n_internal}).uniform_(-r, r));
    leaf_weight_ =
        register_parameter("leaf_weight", torch::empty({k, n_leaves_, d}).uniform_(-0.05, 0.05));
    leaf_bias_ = register_parameter("leaf_bias", torch::zeros({k, n_leaves_}));
  }

  Routing forward(const GateInput& in) override {
    const at::Tensor& x = in.x;
    MOEKIT_CHECK(x.dim() == 2 && x.size(1) == options_.d_in(), "x",
                 "gate input must be [T, d_in={}], got {}", options_.d_in(), c10::str(x.sizes()));
    const int64_t T = x.size(0), k = options_.k(), n = options_.n_experts();

    // s_q = S_γ(w_q·x + b_q) for every tree and internal node at once.
    const at::Tensor pre = at::einsum("td,kqd->tkq", {x, split_weight_}) + split_bias_;
    const at::Tensor s = smooth_step(pre, options_.gamma());  // [T, k, n_internal]

    // P_t(x→ℓ): breadth-first nodes of level l are [2^l - 1, 2^(l+1) - 1); the
    // children 2q+1 (left, prob s_q) and 2q+2 (right, 1 - s_q) of the level's
    // p-th node are the next level's nodes 2p and 2p+1.
    at::Tensor p = at::ones({T, k, 1}, s.options());
    for (int64_t level = 0; level < depth_; ++level) {
      const int64_t width = int64_t{1} << level;
      const at::Tensor sl = s.narrow(2, width - 1, width);
      p = at::stack({p * sl, p * (1 - sl)}, /*dim=*/3).view({T, k, 2 * width});
    }  // p: [T, k, n_leaves]

    // Joint softmax over all k·2^D scores o_{t,ℓ} + log P_t(x→ℓ). Unreachable
    // leaves get -inf (weight exactly 0); the clamp keeps log finite so their
    // masked-out branch carries a 0 gradient, not NaN.
    const at::Tensor o = at::einsum("td,kld->tkl", {x, leaf_weight_}) + leaf_bias_;
    const double tiny = std::numeric_limits<float>::min();
    const at::Tensor log_p = p.clamp_min(tiny).log().masked_fill(p.eq(0), -INFINITY);
    const at::Tensor share = at::softmax((o + log_p).view({T, k * n_leaves_}), /*dim=*/1);

    // Expert weight = sum of the shares of its leaves, over all trees.
    const at::Tensor per_leaf = share.view({T, k, n_leaves_}).sum(1);  // [T, n_leaves]
    at::Tensor weights = per_leaf;
    if (n_leaves_ != n) {
      // Leaf ℓ serves expert ℓ mod n, so every expert has a leaf when n < 2^D.
      const at::Tensor leaf_expert = at::arange(n_leaves_, x.options().dtype(at::kLong)) % n;
      weights = at::zeros({T, n}, per_leaf.options()).index_add(1, leaf_expert, per_leaf);
    }

    // λ · mean over trees and rows of H(P_t(x→·)): pushes each tree to one leaf.
    const at::Tensor p_log_p = p * at::where(p > 0, p, at::ones_like(p)).log();
    const at::Tensor aux = -p_log_p.sum(2).mean() * options_.entropy_weight();
    return Routing::from_dense(weights, aux);
  }

  void pretty_print(std::ostream& stream) const override {
    stream << "CometGate(d_in=" << options_.d_in() << ", n_experts=" << options_.n_experts()
           << ", k=" << options_.k() << ", depth=" << depth_ << ", gamma=" << options_.gamma()
           << ", entropy_weight=" << options_.entropy_weight() << ")";
  }

 private:
  GateOptions options_;
  int64_t depth_, n_leaves_;
  at::Tensor split_weight_, split_bias_, leaf_weight_, leaf_bias_;
};

}  // namespace

std::shared_ptr<Gate> make_comet_gate(const GateOptions& options) {
  return std::make_shared<CometGate>(options);
}

}  // namespace moekit::gates
