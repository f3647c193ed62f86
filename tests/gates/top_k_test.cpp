#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "moekit/core/error.h"
#include "moekit/gates/gate.h"
#include "testing/gradcheck.h"

namespace moekit::gates {
namespace {

GateOptions top_k_options(int64_t d_in, int64_t n, int64_t k) {
  return GateOptions(d_in, n).k(k).balance_weight(1.0);
}

// Population CV², the reference for the gate's importance/load terms.
double naive_cv_squared(const std::vector<double>& x) {
  double mean = 0;
  for (double v : x) mean += v / x.size();
  double var = 0;
  for (double v : x) var += (v - mean) * (v - mean) / x.size();
  return var / (mean * mean + 1e-10);
}

TEST(GateTopK, MatchesHandComputedValues) {
  auto gate = make_gate("topk", top_k_options(2, 3, 2));
  gate->eval();
  auto params = gate->named_parameters();
  {
    torch::NoGradGuard no_grad;
    params["proj.weight"].copy_(torch::tensor({{1.0, 0.0}, {0.0, 1.0}, {0.0, 0.0}}));
    params["proj.bias"].zero_();
  }
  // Row 0: logits (ln 2, ln 3, 0) -> top 2 = experts 1, 0 -> softmax (3, 2) / 5.
  // Row 1: logits (ln 3, -1, 0)   -> top 2 = experts 0, 2 -> softmax (3, 1) / 4.
  auto x = torch::tensor({{std::log(2.0), std::log(3.0)}, {std::log(3.0), -1.0}});
  Routing r = gate->forward({x, {}, {}});
  EXPECT_TRUE(
      torch::allclose(r.weights, torch::tensor({{0.4, 0.6, 0.0}, {0.75, 0.0, 0.25}}), 1e-6));
  EXPECT_EQ(r.k_eff(), 2);
  EXPECT_TRUE(torch::equal(r.idx, torch::tensor({{1, 0}, {0, 2}}, torch::kLong)));
  // importance = (1.15, 0.6, 0.25): CV² = 1482/4800; load = (2, 1, 1): CV² = 1/8.
  EXPECT_NEAR(r.aux_loss.item<double>(), 1482.0 / 4800.0 + 0.125, 1e-5);
}

TEST(GateTopK, TrainingNoiseAndLoadFollowShazeer) {
  torch::manual_seed(0);
  const int64_t rows = 5, n = 4, k = 2;
  auto gate = make_gate("topk", top_k_options(3, n, k).balance_weight(0.5));
  gate->to(torch::kDouble);
  auto x = torch::randn({rows, 3}, torch::kDouble);
  torch::manual_seed(7);
  Routing r = gate->forward({x, {}, {}});

  torch::NoGradGuard no_grad;
  auto p = gate->named_parameters();
  auto clean = x.mm(p["proj.weight"].t()) + p["proj.bias"];
  auto noise_std = torch::softplus(x.mm(p["noise_proj.weight"].t()) + p["noise_proj.bias"]);
  torch::manual_seed(7);
  auto h = clean + torch::randn({rows, n}, torch::kDouble) * noise_std;  // eq. 4

  std::vector<double> importance(n, 0.0), load(n, 0.0);
  for (int64_t t = 0; t < rows; ++t) {
    std::vector<double> row(n);
    for (int64_t i = 0; i < n; ++i) row[i] = h[t][i].item<double>();
    std::vector<double> sorted = row;
    std::sort(sorted.rbegin(), sorted.rend());
    double denom = 0;
    for (int64_t j = 0; j < k; ++j) denom += std::exp(sorted[j]);
    for (int64_t i = 0; i < n; ++i) {
      const double expected = row[i] >= sorted[k - 1] ? std::exp(row[i]) / denom : 0.0;
      EXPECT_NEAR(r.weights[t][i].item<double>(), expected, 1e-9) << "row " << t << " expert " << i;
      importance[i] += expected;
      // kth_excluding(H, k, i): the k-th largest of the other experts' noisy logits.
      std::vector<double> others;
      for (int64_t j = 0; j < n; ++j)
        if (j != i) others.push_back(row[j]);
      std::sort(others.rbegin(), others.rend());
      const double z =
          (clean[t][i].item<double>() - others[k - 1]) / noise_std[t][i].item<double>();
      load[i] += 0.5 * std::erfc(-z / std::sqrt(2.0));
    }
  }
  EXPECT_NEAR(r.aux_loss.item<double>(),
              0.5 * (naive_cv_squared(importance) + naive_cv_squared(load)), 1e-9);
}

TEST(GateTopK, WeightsAreNonNegativeAndSumToOne) {
  torch::manual_seed(0);
  auto gate = make_gate("topk", top_k_options(5, 6, 3));
  Routing r = gate->forward({torch::randn({9, 5}), {}, {}});
  EXPECT_TRUE(r.weights.ge(0).all().item<bool>());
  EXPECT_TRUE(torch::allclose(r.weights.sum(1), torch::ones({9}), 1e-6));
  EXPECT_TRUE(torch::allclose(r.w.sum(1), torch::ones({9}), 1e-6));
}

TEST(GateTopK, ExactlyKNonZeros) {
  torch::manual_seed(1);
  for (bool training : {true, false}) {
    auto gate = make_gate("topk", top_k_options(5, 6, 2));
    gate->train(training);
    Routing r = gate->forward({torch::randn({11, 5}), {}, {}});
    EXPECT_EQ(r.k_eff(), 2);
    EXPECT_TRUE(r.weights.ne(0).sum(1).eq(2).all().item<bool>()) << "training=" << training;
    EXPECT_TRUE(r.idx.ge(0).all().item<bool>());
  }
}

TEST(GateTopK, EvalModeHasNoNoise) {
  torch::manual_seed(0);
  auto gate = make_gate("topk", top_k_options(4, 5, 2));
  auto x = torch::randn({8, 4});
  gate->eval();
  torch::manual_seed(1);
  Routing a = gate->forward({x, {}, {}});
  torch::manual_seed(2);
  Routing b = gate->forward({x, {}, {}});
  EXPECT_TRUE(torch::equal(a.weights, b.weights));
  EXPECT_TRUE(torch::equal(a.aux_loss, b.aux_loss));
  // And it is the clean top-k of W x.
  auto p = gate->named_parameters();
  torch::NoGradGuard no_grad;
  auto clean = x.mm(p["proj.weight"].t()) + p["proj.bias"];
  auto top = clean.topk(2, 1);
  EXPECT_TRUE(torch::equal(a.idx, std::get<1>(top)));
  EXPECT_TRUE(torch::allclose(a.w, torch::softmax(std::get<0>(top), 1), 1e-6));
  // Training mode with noise does differ between seeds (so the check above can fail).
  gate->train();
  torch::manual_seed(1);
  Routing c = gate->forward({x, {}, {}});
  torch::manual_seed(2);
  Routing d = gate->forward({x, {}, {}});
  EXPECT_FALSE(torch::equal(c.weights, d.weights));
}

TEST(GateTopK, NoisyFalseIsDeterministicInTraining) {
  torch::manual_seed(0);
  auto gate = make_gate("topk", top_k_options(4, 5, 2).noisy(false));
  EXPECT_EQ(gate->named_parameters().find("noise_proj.weight"), nullptr);
  auto x = torch::randn({8, 4});
  torch::manual_seed(1);
  Routing a = gate->forward({x, {}, {}});
  torch::manual_seed(2);
  Routing b = gate->forward({x, {}, {}});
  EXPECT_TRUE(torch::equal(a.weights, b.weights));
}

TEST(GateTopK, GradMatchesFiniteDifferences) {
  torch::manual_seed(0);
  auto gate = make_gate("topk", top_k_options(3, 4, 2));
  gate->to(torch::kDouble);
  auto x = torch::randn({6, 3}, torch::kDouble).requires_grad_();
  auto probe = torch::randn({6, 4}, torch::kDouble);
  const auto inputs = testing::grad_inputs(*gate, x);
  testing::expect_grad_matches_finite_differences(
      [&] {
        torch::manual_seed(3);
        return (gate->forward({x, {}, {}}).weights * probe).sum();
      },
      inputs);
}

TEST(GateTopK, AuxLossGradMatchesFiniteDifferences) {
  torch::manual_seed(0);
  auto gate = make_gate("topk", top_k_options(3, 4, 2));
  gate->to(torch::kDouble);
  auto x = torch::randn({6, 3}, torch::kDouble).requires_grad_();
  const auto inputs = testing::grad_inputs(*gate, x);
  // The smooth load estimator makes the aux loss depend on the noise projection.
  auto noise_weight = gate->named_parameters()["noise_proj.weight"];
  torch::manual_seed(3);
  gate->forward({x, {}, {}}).aux_loss.backward();
  EXPECT_GT(noise_weight.grad().abs().sum().item<double>(), 0.0);
  testing::expect_grad_matches_finite_differences(
      [&] {
        torch::manual_seed(3);
        return gate->forward({x, {}, {}}).aux_loss;
      },
      inputs);
}

TEST(GateTopK, SingleExpertHasZeroAux) {
  auto gate = make_gate("topk", top_k_options(2, 1, 1));
  Routing r = gate->forward({torch::randn({4, 2}), {}, {}});
  EXPECT_EQ(r.aux_loss.item<double>(), 0.0);
  EXPECT_TRUE(torch::allclose(r.weights, torch::ones({4, 1})));
}

TEST(GateTopK, RejectsBadK) {
  EXPECT_THROW(make_gate("topk", GateOptions(2, 3).k(4)), Error);
  EXPECT_THROW(make_gate("topk", GateOptions(2, 3).k(0)), Error);
  try {
    make_gate("topk", GateOptions(2, 3).k(-1));
    FAIL() << "expected moekit::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "k");
    EXPECT_NE(e.message().find("-1"), std::string::npos);
  }
  EXPECT_NO_THROW(make_gate("topk", GateOptions(2, 3).k(3)));
}

}  // namespace
}  // namespace moekit::gates
