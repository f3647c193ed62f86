#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <set>
#include <sstream>

#include "moekit/core/error.h"
#include "moekit/gates/gate.h"
#include "testing/gradcheck.h"

namespace moekit::gates {
namespace {

// S_1(±0.25) = 1/2 ± (3/2·0.25 - 2·0.25³) = 0.84375 / 0.15625.
constexpr double kHi = 0.84375, kLo = 0.15625;

std::shared_ptr<Gate> make(int64_t d, int64_t n, int64_t k, double gamma,
                           double entropy_weight = 0) {
  return make_gate("comet", GateOptions(d, n).k(k).gamma(gamma).entropy_weight(entropy_weight));
}

void set_param(Gate& gate, const std::string& name, const torch::Tensor& value) {
  torch::NoGradGuard no_grad;
  auto p = gate.named_parameters()[name];
  ASSERT_EQ(p.sizes(), value.sizes()) << name;
  p.copy_(value.to(p.scalar_type()));
}

double entropy(const std::vector<double>& p) {
  double h = 0;
  for (double v : p) h -= v > 0 ? v * std::log(v) : 0.0;
  return h;
}

TEST(GateComet, MatchesHandComputedValues) {
  auto gate = make(2, 4, 1, 1.0, /*entropy_weight=*/0.2);
  // Row 0, x = (1, 2): root w·x = 0.25 -> s0 = 0.84375; node 1: s1 = 1/2; node
  // 2: w·x = -0.25 -> s2 = 0.15625. Leaf 1 has logit ln 2·x_0 = ln 2.
  set_param(*gate, "split_weight", torch::tensor({{{0.05, 0.1}, {0.0, 0.0}, {-0.25, 0.0}}}));
  set_param(*gate, "split_bias", torch::zeros({1, 3}));
  auto leaf_weight = torch::zeros({1, 4, 2});
  leaf_weight[0][1][0] = std::log(2.0);
  set_param(*gate, "leaf_weight", leaf_weight);
  set_param(*gate, "leaf_bias", torch::zeros({1, 4}));
  // Row 1, x = 0: every split is 1/2 and every logit 0.
  Routing r = gate->forward({torch::tensor({{1.0, 2.0}, {0.0, 0.0}}), {}, {}});

  const std::vector<double> p{kHi * 0.5, kHi * 0.5, kLo * kLo, kLo * kHi};
  const double z = p[0] + 2 * p[1] + p[2] + p[3];
  auto expected =
      torch::tensor({{p[0] / z, 2 * p[1] / z, p[2] / z, p[3] / z}, {0.25, 0.25, 0.25, 0.25}});
  EXPECT_TRUE(torch::allclose(r.weights, expected, 1e-6, 1e-7)) << r.weights;
  EXPECT_EQ(r.idx[0][0].item<int64_t>(), 1);
  EXPECT_NEAR(r.aux_loss.item<double>(), 0.2 * (entropy(p) + std::log(4.0)) / 2, 1e-6);
}

TEST(GateComet, NonPowerOfTwoUsesTheReferenceTreeWithNLeaves) {
  // n = 3, the reference's heap tree: root 0 -> node 1 (left), leaf 2 (right);
  // node 1 -> leaves 3, 4. Experts are the leaves left to right: 3, 4, 2.
  auto gate = make(1, 3, 2, 1.0, /*entropy_weight=*/1.0);
  set_param(*gate, "split_weight", torch::zeros({2, 2, 1}));
  // Tree 0: root right -> leaf 2 = expert 2. Tree 1: left, then right -> leaf 4 = expert 1.
  set_param(*gate, "split_bias", torch::tensor({{-5.0, 0.1}, {5.0, -5.0}}));
  set_param(*gate, "leaf_weight", torch::full({2, 3, 1}, 0.3));
  auto leaf_bias = torch::zeros({2, 3});
  leaf_bias[0][2] = std::log(3.0);
  set_param(*gate, "leaf_bias", leaf_bias);
  auto x = torch::tensor({{0.0}, {0.0}});
  Routing r = gate->forward({x, {}, {}});
  EXPECT_TRUE(torch::allclose(r.weights, torch::tensor({0.0, 0.25, 0.75}).expand({2, 3}), 1e-6))
      << r.weights;
  EXPECT_EQ(r.weights.select(1, 0).abs().max().item<float>(), 0.0f);  // exact zero
  EXPECT_EQ(r.k_eff(), 2);
  EXPECT_EQ(r.aux_loss.item<float>(), 0.0f);  // one leaf per tree: no entropy
}

TEST(GateComet, RegistersNamedParametersWithPaperInit) {
  const double gamma = 0.5;
  auto gate = make(3, 6, 2, gamma);
  auto params = gate->named_parameters();
  // n = 6: the reference's tree has n - 1 = 5 splits and n = 6 leaves.
  EXPECT_EQ(params["split_weight"].sizes(), torch::IntArrayRef({2, 5, 3}));
  EXPECT_EQ(params["split_bias"].sizes(), torch::IntArrayRef({2, 5}));
  EXPECT_EQ(params["leaf_weight"].sizes(), torch::IntArrayRef({2, 6, 3}));
  EXPECT_EQ(params["leaf_bias"].sizes(), torch::IntArrayRef({2, 6}));
  EXPECT_LE(params["split_weight"].abs().max().item<double>(), gamma / 100);
  EXPECT_LE(params["split_bias"].abs().max().item<double>(), gamma / 100);
  for (const char* name : {"leaf_weight", "leaf_bias"}) {
    EXPECT_LE(params[name].abs().max().item<double>(), 0.05) << name;
    EXPECT_GT(params[name].abs().max().item<double>(), 0.0) << name;
  }
  EXPECT_EQ(gate->parameters().size(), 4u);
  std::ostringstream out;
  gate->pretty_print(out);
  EXPECT_NE(out.str().find("CometGate("), std::string::npos);
}

// ---- an independent port of the reference (comet.py), in double ----
// The reference builds the tree recursively: node q is a leaf when q >= n - 1,
// else it splits with s_q = S_γ(w_q·x + b_q), left child 2q+1 with s_q. Each leaf
// scores a_ℓ + log(P + 1e-8); the gate is a softmax over the k·n scores, the
// expert weight the sum over trees; the regulariser λ · mean_rows Σ_leaves Σ_trees
// -P log(P + 1e-6).
struct ReferenceComet {
  torch::Tensor split_w, split_b, leaf_w, leaf_b;  // [k, n-1, d], [k, n-1], [k, n, d], [k, n]
  int64_t n;
  double gamma, lambda;

  double smooth(double t) const {
    if (t <= -gamma / 2) return 0;
    if (t >= gamma / 2) return 1;
    return -2 / (gamma * gamma * gamma) * t * t * t + 3 / (2 * gamma) * t + 0.5;
  }
  // Leaves left to right as (probability) for tree `tree`, row `x`.
  void walk(int64_t q, double p, int64_t tree, const torch::Tensor& x,
            std::vector<double>& leaves) const {
    if (q >= n - 1) {
      leaves.push_back(p);
      return;
    }
    const double s = smooth((split_w[tree][q] * x).sum().item<double>() +
                            split_b[tree][q].item<double>());
    walk(2 * q + 1, p * s, tree, x, leaves);
    walk(2 * q + 2, p * (1 - s), tree, x, leaves);
  }
  std::pair<torch::Tensor, double> operator()(const torch::Tensor& x) const {
    const int64_t T = x.size(0), k = split_w.size(0);
    auto weights = torch::zeros({T, n}, torch::kDouble);
    double reg = 0;
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> scores;
      std::vector<std::vector<double>> probs(k);
      for (int64_t tree = 0; tree < k; ++tree) {
        walk(0, 1.0, tree, x[t], probs[tree]);
        for (int64_t l = 0; l < n; ++l) {
          const double a = (leaf_w[tree][l] * x[t]).sum().item<double>() + leaf_b[tree][l].item<double>();
          const double p = probs[tree][l];
          scores.push_back(a + (p <= 0 ? -1e30 : std::log(p + 1e-8)));
          reg += -p * std::log(p + 1e-6) / T;
        }
      }
      const double top = *std::max_element(scores.begin(), scores.end());
      double z = 0;
      for (double v : scores) z += std::exp(v - top);
      for (int64_t tree = 0; tree < k; ++tree)
        for (int64_t l = 0; l < n; ++l)
          weights[t][l] += std::exp(scores[tree * n + l] - top) / z;
    }
    return {weights, lambda * reg};
  }
};

TEST(GateComet, MatchesReferencePort) {
  for (int64_t n : {4, 8, 6, 5}) {
    SCOPED_TRACE("n=" + std::to_string(n));
    torch::manual_seed(n);
    const double gamma = 1.0, lambda = 0.3;
    auto gate = make(3, n, 2, gamma, lambda);
    gate->to(torch::kDouble);
    auto params = gate->named_parameters();
    {
      torch::NoGradGuard no_grad;  // spread the splits: some saturated, some in the band
      params["split_weight"].uniform_(-1, 1);
      params["split_bias"].uniform_(-0.5, 0.5);
      params["leaf_weight"].uniform_(-0.5, 0.5);
    }
    ReferenceComet ref{params["split_weight"].detach(), params["split_bias"].detach(),
                       params["leaf_weight"].detach(), params["leaf_bias"].detach(), n, gamma,
                       lambda};
    auto x = torch::randn({6, 3}, torch::kDouble);
    auto [expected, reg] = ref(x);
    Routing r = gate->forward({x, {}, {}});
    EXPECT_TRUE(torch::allclose(r.weights, expected, 1e-6, 1e-7)) << r.weights << expected;
    EXPECT_NEAR(r.aux_loss.item<double>(), reg, 1e-4 * lambda);
  }
}

TEST(GateComet, EntropyRegulariserSumsOverTreesAndAveragesOverRows) {
  // k = 2 trees on n = 2 experts, one split each: tree 0 undecided (1/2, 1/2),
  // tree 1 at S(0.25) = (0.84375, 0.15625); two rows alike. The reference
  // sums the trees' entropies: λ · (log 2 + H(0.84375, 0.15625)) — not the mean.
  auto gate = make(1, 2, 2, 1.0, /*entropy_weight=*/0.5);
  set_param(*gate, "split_weight", torch::zeros({2, 1, 1}));
  set_param(*gate, "split_bias", torch::tensor({{0.0}, {0.25}}));
  Routing r = gate->forward({torch::zeros({2, 1}), {}, {}});
  EXPECT_NEAR(r.aux_loss.item<double>(), 0.5 * (std::log(2.0) + entropy({kHi, kLo})), 1e-6);
}

TEST(GateComet, RefusesACheckpointOfAnotherTreeShape) {
  // Before the reference tree, n = 6 had 2^3 = 8 leaves and 7 splits.
  auto gate = make(3, 6, 2, 1.0);
  torch::serialize::OutputArchive old;
  old.write("split_weight", torch::zeros({2, 7, 3}));
  old.write("split_bias", torch::zeros({2, 7}));
  old.write("leaf_weight", torch::zeros({2, 8, 3}));
  old.write("leaf_bias", torch::zeros({2, 8}));
  std::stringstream bytes;
  old.save_to(bytes);
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  try {
    gate->load(in);
    ADD_FAILURE() << "loaded a tree of another shape";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train again"), std::string::npos) << e.what();
  }
}

TEST(GateComet, WeightsAreNonNegativeAndSumToOne) {
  torch::manual_seed(0);
  for (int64_t n : {4, 5, 6}) {
    for (int64_t k : {1, 2}) {
      auto gate = make(5, n, k, 1.0);
      auto x = torch::randn({7, 5});
      for (double scale : {1.0, 100.0}) {  // undecided, then partly saturated splits
        {
          torch::NoGradGuard no_grad;
          gate->named_parameters()["split_weight"].mul_(scale);
          gate->named_parameters()["split_bias"].mul_(scale);
        }
        Routing r = gate->forward({x, {}, {}});
        SCOPED_TRACE("n=" + std::to_string(n) + " k=" + std::to_string(k) +
                     " scale=" + std::to_string(scale));
        EXPECT_EQ(r.weights.sizes(), torch::IntArrayRef({7, n}));
        EXPECT_TRUE(r.weights.ge(0).all().item<bool>());
        EXPECT_TRUE(torch::allclose(r.weights.sum(1), torch::ones({7}), 1e-5));
        EXPECT_TRUE(torch::allclose(r.w.sum(1), torch::ones({7}), 1e-5));
      }
    }
  }
}

// n = 5 (the reference tree: 4 splits, 5 leaves), k = 2, splits inside the band
// (asserted) so finite differences see the smooth-step's slope.
std::shared_ptr<Gate> in_band_gate(torch::Tensor& x, double entropy_weight) {
  const double gamma = 2.0;
  auto gate = make(3, 5, 2, gamma, entropy_weight);
  gate->to(torch::kDouble);
  x = (torch::randn({3, 3}, torch::kDouble) * 0.5).requires_grad_();
  torch::NoGradGuard no_grad;
  auto params = gate->named_parameters();
  params["split_weight"].uniform_(-0.25, 0.25);
  params["split_bias"].uniform_(-0.25, 0.25);
  params["leaf_weight"].uniform_(-0.5, 0.5);
  params["leaf_bias"].uniform_(-0.5, 0.5);
  auto pre = torch::einsum("td,kqd->tkq", {x, params["split_weight"]}) + params["split_bias"];
  EXPECT_LT(pre.abs().max().item<double>(), 0.9 * gamma / 2);
  return gate;
}

TEST(GateComet, GradMatchesFiniteDifferences) {
  torch::manual_seed(1);
  torch::Tensor x;
  auto gate = in_band_gate(x, 0);
  auto probe = torch::randn({3, 5}, torch::kDouble);
  testing::expect_grad_matches_finite_differences(
      [&] {
        return (gate->forward({x, {}, {}}).weights * probe).sum();
      },
      testing::grad_inputs(*gate, x));
}

TEST(GateComet, AuxLossGradMatchesFiniteDifferences) {
  torch::manual_seed(2);
  torch::Tensor x;
  auto gate = in_band_gate(x, /*entropy_weight=*/0.7);
  EXPECT_GT(gate->forward({x, {}, {}}).aux_loss.item<double>(), 0.0);
  testing::expect_grad_matches_finite_differences(
      [&] {
        return gate->forward({x, {}, {}}).aux_loss;
      },
      testing::grad_inputs(*gate, x));
}

TEST(GateComet, PartiallySaturatedGradMatchesFiniteDifferences) {
  torch::manual_seed(3);
  torch::Tensor x;
  auto gate = in_band_gate(x, /*entropy_weight=*/0.4);
  {
    // Tree 0's root always goes left (pre-activation > γ/2 = 1). n = 5: the left
    // subtree holds experts 0..2 (nodes 7, 8, 4), the right one experts 3, 4
    // (nodes 5, 6), unreachable, so log P = -inf there.
    torch::NoGradGuard no_grad;
    gate->named_parameters()["split_bias"][0][0] = 5.0;
  }
  auto probe = torch::randn({3, 5}, torch::kDouble);
  auto loss = [&] {
    Routing r = gate->forward({x, {}, {}});
    return (r.weights * probe).sum() + r.aux_loss;
  };
  testing::expect_grad_matches_finite_differences(loss, testing::grad_inputs(*gate, x));
  auto params = gate->named_parameters();
  auto g = torch::autograd::grad({loss()}, {params["split_bias"], params["leaf_bias"]});
  EXPECT_EQ(g[0][0][0].item<double>(), 0.0);                       // the saturated root
  EXPECT_EQ(g[1][0].slice(0, 3).abs().max().item<double>(), 0.0);  // unreachable leaves
  EXPECT_GT(g[1][0].slice(0, 0, 3).abs().max().item<double>(), 0.0);
}

TEST(GateComet, SaturatedSplitsKeepAtMostKExpertsAndStarveUnreachableLeaves) {
  torch::manual_seed(4);
  const int64_t T = 6, d = 4, n = 8, k = 2, n_internal = 7;
  // γ = 0.5 and pre-activations (integer) + 0.5, so |w·x + b| >= 0.5 > γ/2.
  auto gate = make(d, n, k, 0.5, /*entropy_weight=*/0.1);
  gate->to(torch::kDouble);
  auto x = (torch::randint(0, 2, {T, d}, torch::kDouble) * 2 - 1).requires_grad_();
  auto split_weight = torch::randint(-2, 3, {k, n_internal, d}, torch::kDouble);
  set_param(*gate, "split_weight", split_weight);
  set_param(*gate, "split_bias", torch::full({k, n_internal}, 0.5, torch::kDouble));
  set_param(*gate, "leaf_weight", torch::randn({k, n, d}, torch::kDouble));
  set_param(*gate, "leaf_bias", torch::randn({k, n}, torch::kDouble));
  auto params = gate->named_parameters();

  // Naive reference: walk each tree; the row's weights are a softmax over the
  // logits of the k leaves it reaches.
  auto pre = torch::einsum("td,kqd->tkq", {x.detach(), split_weight}) + 0.5;
  auto logits = torch::einsum("td,kld->tkl", {x.detach(), params["leaf_weight"].detach()}) +
                params["leaf_bias"].detach();
  auto expected = torch::zeros({T, n}, torch::kDouble);
  std::set<std::pair<int64_t, int64_t>> reached;  // (tree, leaf)
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int64_t> leaf(k);
    double z = 0;
    for (int64_t tree = 0; tree < k; ++tree) {
      int64_t q = 0;
      while (q < n_internal) q = pre[t][tree][q].item<double>() > 0 ? 2 * q + 1 : 2 * q + 2;
      leaf[tree] = q - n_internal;
      reached.insert({tree, leaf[tree]});
      z += std::exp(logits[t][tree][leaf[tree]].item<double>());
    }
    for (int64_t tree = 0; tree < k; ++tree) {
      expected[t][leaf[tree]] += std::exp(logits[t][tree][leaf[tree]].item<double>()) / z;
    }
  }
  ASSERT_LT(reached.size(), static_cast<size_t>(k * n));  // some leaves are never reached

  Routing r = gate->forward({x, {}, {}});
  EXPECT_TRUE(torch::allclose(r.weights, expected, 1e-12, 1e-14)) << r.weights << expected;
  EXPECT_LE(r.weights.ne(0).sum(1).max().item<int64_t>(), k);  // exact zeros elsewhere
  EXPECT_LE(r.k_eff(), k);
  EXPECT_EQ(r.aux_loss.item<double>(), 0.0);

  auto loss = (r.weights * torch::randn({T, n}, torch::kDouble)).sum() + r.aux_loss;
  auto g = torch::autograd::grad({loss}, {params["split_weight"], params["split_bias"],
                                          params["leaf_weight"], params["leaf_bias"]});
  EXPECT_EQ(g[0].abs().max().item<double>(), 0.0);
  EXPECT_EQ(g[1].abs().max().item<double>(), 0.0);
  for (int64_t tree = 0; tree < k; ++tree) {
    for (int64_t leaf = 0; leaf < n; ++leaf) {
      if (reached.count({tree, leaf})) continue;
      EXPECT_EQ(g[2][tree][leaf].abs().max().item<double>(), 0.0) << tree << "," << leaf;
      EXPECT_EQ(g[3][tree][leaf].item<double>(), 0.0) << tree << "," << leaf;
    }
  }
  EXPECT_TRUE(torch::isfinite(g[2]).all().item<bool>());
  EXPECT_GT(g[3].abs().max().item<double>(), 0.0);
}

TEST(GateComet, RejectsBadOptions) {
  auto where = [](const GateOptions& o) {
    try {
      make_gate("comet", o);
    } catch (const Error& e) {
      return e.where();
    }
    return std::string("no error");
  };
  EXPECT_EQ(where(GateOptions(2, 4).k(0)), "k");
  EXPECT_EQ(where(GateOptions(2, 4).k(-3)), "k");
  EXPECT_EQ(where(GateOptions(2, 4).gamma(0)), "gamma");
  EXPECT_EQ(where(GateOptions(2, 4).gamma(-0.5)), "gamma");
  auto gate = make_gate("comet", GateOptions(2, 4));
  EXPECT_THROW(gate->forward({torch::zeros({3, 5}), {}, {}}), Error);
}

}  // namespace
}  // namespace moekit::gates
