// COMET gate (Ibrahim et al., KDD 2023): k soft binary trees whose splits use
// the smooth-step, so once every split saturates each tree routes a row to one
// leaf and at most k experts are active.
#include <torch/nn/init.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "moekit/core/error.h"
#include "moekit/gates/gate.h"
#include "moekit/gates/smooth_step.h"

namespace moekit::gates {
namespace {

// The reference's tree (mazumder-lab/COMET, comet.py) for any n: nodes in heap
// order 0..2n-2, node q internal iff q < n - 1, children 2q + 1 (left, taken
// with probability s_q) and 2q + 2 (right, 1 - s_q). It has exactly n leaves;
// expert j is the j-th leaf from the left. Such a tree is complete, so its
// leaves lie on the last two levels: the last level's nodes (leftmost), then
// the leaves of the level above. For n = 2^D it is the perfect tree of depth D.
struct TreeShape {
  // Per level: the first node index and how many nodes exist / are internal.
  std::vector<int64_t> first, width, internal;
};

TreeShape tree_shape(int64_t n) {
  TreeShape t;
  int64_t first = 0, width = 1;
  while (width > 0) {
    const int64_t internal = std::max<int64_t>(0, std::min(width, n - 1 - first));
    t.first.push_back(first);
    t.width.push_back(width);
    t.internal.push_back(internal);
    first = 2 * first + 1;
    width = 2 * internal;
  }
  return t;
}

class CometGate : public Gate {
 public:
  explicit CometGate(const GateOptions& options)
      : Gate("CometGate"), options_(options), shape_(tree_shape(options.n_experts())) {
    MOEKIT_CHECK(options.k() >= 1, "k", "comet needs k >= 1 trees, got {}", options.k());
    MOEKIT_CHECK(options.gamma() > 0, "gamma", "must be > 0, got {}", options.gamma());
    MOEKIT_CHECK(options.entropy_weight() >= 0, "entropy_weight", "must be >= 0, got {}",
                 options.entropy_weight());
    reset();
  }

  void reset() {
    const int64_t k = options_.k(), d = options_.d_in(), n = options_.n_experts();
    // Splits start in U(-γ/100, γ/100) (COMET's init): inside the smooth-step
    // band, so every leaf is reachable and trains before the trees commit.
    // Leaves start in U(-0.05, 0.05), weights and biases (Keras RandomUniform).
    const double r = options_.gamma() / 100;
    torch::NoGradGuard no_grad;
    split_weight_ =
        register_parameter("split_weight", torch::empty({k, n - 1, d}).uniform_(-r, r));
    split_bias_ = register_parameter("split_bias", torch::empty({k, n - 1}).uniform_(-r, r));
    leaf_weight_ =
        register_parameter("leaf_weight", torch::empty({k, n, d}).uniform_(-0.05, 0.05));
    leaf_bias_ = register_parameter("leaf_bias", torch::empty({k, n}).uniform_(-0.05, 0.05));
  }

  /// P_t(x→ℓ) [T, k, n]: each leaf's reach probability, leaves left to right.
  at::Tensor leaf_probabilities(const at::Tensor& x) const {
    const int64_t T = x.size(0), k = options_.k();
    // s_q = S_γ(w_q·x + b_q) for every tree and internal node at once.
    const at::Tensor pre = at::einsum("td,kqd->tkq", {x, split_weight_}) + split_bias_;
    const at::Tensor s = smooth_step(pre, options_.gamma());  // [T, k, n - 1]
    // Level by level: the internal nodes of a level are its first ones, and
    // their children (left, right interleaved) make up the next level.
    at::Tensor p = at::ones({T, k, 1}, x.options());
    std::vector<at::Tensor> leaves;  // right to left by level
    for (size_t l = 0; l < shape_.first.size(); ++l) {
      const int64_t internal = shape_.internal[l];
      if (internal < shape_.width[l]) leaves.push_back(p.narrow(2, internal, shape_.width[l] - internal));
      if (internal == 0) break;
      const at::Tensor pl = p.narrow(2, 0, internal);
      const at::Tensor sl = s.narrow(2, shape_.first[l], internal);
      p = at::stack({pl * sl, pl * (1 - sl)}, /*dim=*/3).view({T, k, 2 * internal});
    }
    std::reverse(leaves.begin(), leaves.end());  // the deepest level is leftmost
    return leaves.size() == 1 ? leaves.front() : at::cat(leaves, /*dim=*/2);
  }

  Routing forward(const GateInput& in) override {
    const at::Tensor& x = in.x;
    MOEKIT_CHECK(x.dim() == 2 && x.size(1) == options_.d_in(), "x",
                 "gate input must be [T, d_in={}], got {}", options_.d_in(), c10::str(x.sizes()));
    const int64_t T = x.size(0), k = options_.k(), n = options_.n_experts();
    const at::Tensor p = leaf_probabilities(x);  // [T, k, n]

    // Joint softmax over all k·n scores o_{t,ℓ} + log P_t(x→ℓ). Unreachable
    // leaves get -inf (weight exactly 0); the clamp keeps log finite so their
    // masked-out branch carries a 0 gradient, not NaN.
    const at::Tensor o = at::einsum("td,kld->tkl", {x, leaf_weight_}) + leaf_bias_;
    const double tiny = std::numeric_limits<float>::min();
    const at::Tensor log_p = p.clamp_min(tiny).log().masked_fill(p.eq(0), -INFINITY);
    const at::Tensor share = at::softmax((o + log_p).view({T, k * n}), /*dim=*/1);
    // Expert weight = sum of its leaves' shares over the k trees.
    const at::Tensor weights = share.view({T, k, n}).sum(1);

    // λ · Σ_t H(P_t(x→·)), averaged over the rows and summed over the k trees
    // as both reference codes do: pushes each tree to one leaf.
    const at::Tensor p_log_p = p * at::where(p > 0, p, at::ones_like(p)).log();
    const at::Tensor aux = -p_log_p.sum({1, 2}).mean() * options_.entropy_weight();
    return Routing::from_dense(weights, aux);
  }

  /// A checkpoint whose tree has another shape (COMET before it built the
  /// reference's n-leaf tree for n not a power of two had 2^D leaves) is
  /// refused: torch's loader would silently take the stored shapes.
  void load(torch::serialize::InputArchive& archive) override {
    std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
    for (const auto& item : named_parameters(/*recurse=*/false)) {
      expected.emplace_back(item.key(), item.value().sizes().vec());
    }
    Gate::load(archive);
    for (const auto& [name, sizes] : expected) {
      const auto got = named_parameters(/*recurse=*/false)[name].sizes().vec();
      MOEKIT_CHECK(got == sizes, "comet." + name,
                   "the checkpoint holds shape {}, this gate (n_experts={}, k={}) needs {}; a "
                   "checkpoint from before COMET's tree had exactly n leaves (n not a power of "
                   "two) cannot be loaded: train again",
                   c10::str(got), options_.n_experts(), options_.k(), c10::str(sizes));
    }
  }

  void pretty_print(std::ostream& stream) const override {
    stream << "CometGate(d_in=" << options_.d_in() << ", n_experts=" << options_.n_experts()
           << ", k=" << options_.k() << ", gamma=" << options_.gamma()
           << ", entropy_weight=" << options_.entropy_weight() << ")";
  }

 private:
  GateOptions options_;
  TreeShape shape_;
  at::Tensor split_weight_, split_bias_, leaf_weight_, leaf_bias_;
};

}  // namespace

std::shared_ptr<Gate> make_comet_gate(const GateOptions& options) {
  return std::make_shared<CometGate>(options);
}

}  // namespace moekit::gates
