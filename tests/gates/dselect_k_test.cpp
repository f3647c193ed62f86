#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "moekit/core/error.h"
#include "moekit/gates/gate.h"
#include "testing/gradcheck.h"

namespace moekit::gates {
namespace {

// S_1(±0.25) = 1/2 ± (3/2·0.25 - 2·0.25³) = 0.84375 / 0.15625.
constexpr double kHi = 0.84375, kLo = 0.15625;

std::shared_ptr<Gate> make(int64_t d, int64_t n, int64_t k, double gamma, bool per_example,
                           double entropy_weight = 0, double invalid_weight = 0) {
  return make_gate("dselectk", GateOptions(d, n)
                                   .k(k)
                                   .gamma(gamma)
                                   .per_example(per_example)
                                   .entropy_weight(entropy_weight)
                                   .invalid_weight(invalid_weight));
}

void set_param(Gate& gate, const std::string& name, const torch::Tensor& value) {
  torch::NoGradGuard no_grad;
  auto p = gate.named_parameters()[name];
  ASSERT_EQ(p.sizes(), value.sizes()) << name;
  p.copy_(value);
}

double entropy(const std::vector<double>& p) {
  double h = 0;
  for (double v : p) h -= v > 0 ? v * std::log(v) : 0.0;
  return h;
}

TEST(GateDSelectK, MatchesHandComputedValues) {
  auto gate = make(3, 4, 2, 1.0, /*per_example=*/false, /*entropy_weight=*/0.1);
  // Selector 0 undecided: S = (1/2, 1/2) -> 1/4 on every code. Selector 1:
  // S = (0.84375, 1) -> codes 2 (bits 0,1) and 3 (bits 1,1) only.
  set_param(*gate, "z", torch::tensor({{0.0, 0.0}, {0.25, 10.0}}));
  set_param(*gate, "alpha", torch::tensor({0.0, std::log(3.0)}));  // mix = (1/4, 3/4)
  Routing r = gate->forward({torch::zeros({2, 3}), {}, {}});
  auto expected =
      torch::tensor({0.25 * 0.25, 0.25 * 0.25, 0.25 * 0.25 + 0.75 * kLo, 0.25 * 0.25 + 0.75 * kHi})
          .expand({2, 4});
  EXPECT_TRUE(torch::allclose(r.weights, expected, 1e-6, 1e-7)) << r.weights;
  EXPECT_EQ(r.k_eff(), 4);
  EXPECT_EQ(r.idx[0][0].item<int64_t>(), 3);
  const double aux = 0.1 * (std::log(4.0) + entropy({kLo, kHi}));
  EXPECT_NEAR(r.aux_loss.item<double>(), aux, 1e-6);
}

TEST(GateDSelectK, PerExampleMatchesHandComputedValues) {
  auto gate = make(2, 4, 1, 1.0, /*per_example=*/true);
  // z = Z x: row 0 -> (0.25, 0), row 1 -> (0, -0.25).
  set_param(*gate, "z_proj.weight", torch::tensor({{0.25, 0.0}, {0.0, -0.25}}));
  set_param(*gate, "z_proj.bias", torch::zeros({2}));
  Routing r = gate->forward({torch::tensor({{1.0, 0.0}, {0.0, 1.0}}), {}, {}});
  auto expected = torch::tensor(
      {{kLo * 0.5, kHi * 0.5, kLo * 0.5, kHi * 0.5}, {0.5 * kHi, 0.5 * kHi, 0.5 * kLo, 0.5 * kLo}});
  EXPECT_TRUE(torch::allclose(r.weights, expected, 1e-6, 1e-7)) << r.weights;
}

TEST(GateDSelectK, RegistersNamedParametersInitialisedInsideBand) {
  const double gamma = 0.5;
  auto fixed = make(3, 6, 2, gamma, false);
  auto params = fixed->named_parameters();
  EXPECT_EQ(params["z"].sizes(), torch::IntArrayRef({2, 3}));
  EXPECT_EQ(params["alpha"].sizes(), torch::IntArrayRef({2}));
  EXPECT_LE(params["z"].abs().max().item<double>(), gamma / 100);
  auto learned = make(3, 6, 2, gamma, true);
  params = learned->named_parameters();
  EXPECT_EQ(params["z_proj.weight"].sizes(), torch::IntArrayRef({6, 3}));
  EXPECT_EQ(params["alpha_proj.weight"].sizes(), torch::IntArrayRef({2, 3}));
  EXPECT_LE(params["z_proj.weight"].abs().max().item<double>(), gamma / 100);
  EXPECT_LE(params["z_proj.bias"].abs().max().item<double>(), gamma / 100);
  std::ostringstream out;
  learned->pretty_print(out);
  EXPECT_NE(out.str().find("DSelectKGate("), std::string::npos);
  EXPECT_NE(out.str().find("gamma=0.5"), std::string::npos);
}

TEST(GateDSelectK, WeightsSumToOneForPowersOfTwoAndToTheValidMassOtherwise) {
  torch::manual_seed(0);
  for (int64_t n : {4, 5, 6, 8}) {
    for (bool per_example : {true, false}) {
      auto gate = make(5, n, 2, 1.0, per_example);
      auto x = torch::randn({7, 5});
      for (double scale : {1.0, 30.0}) {  // undecided, then partly saturated selectors
        {
          torch::NoGradGuard no_grad;
          for (auto& p : gate->parameters()) p.mul_(scale);
        }
        Routing r = gate->forward({x, {}, {}});
        SCOPED_TRACE("n=" + std::to_string(n) + " per_example=" + std::to_string(per_example) +
                     " scale=" + std::to_string(scale));
        EXPECT_EQ(r.weights.sizes(), torch::IntArrayRef({7, n}));
        EXPECT_TRUE(r.weights.ge(0).all().item<bool>());
        const auto sums = r.weights.sum(1);
        if ((n & (n - 1)) == 0) {
          EXPECT_TRUE(torch::allclose(sums, torch::ones({7}), 1e-5));
        } else {
          // As the reference: mass on codes >= n is lost, nothing is renormalised.
          EXPECT_TRUE(sums.le(1 + 1e-6).all().item<bool>());
          if (scale == 1.0) EXPECT_TRUE(sums.lt(1 - 1e-3).all().item<bool>()) << sums;
        }
        EXPECT_TRUE(torch::allclose(r.w.sum(1), sums, 1e-5));
      }
    }
  }
}

// ---- an independent port of the reference (dselect_k.py), in double ----
// Selector i puts r_ij = Π_b (bit b of j ? S(z_ib) : 1 - S(z_ib)) on code j < n;
// expert weight Σ_i softmax(α)_i r_ij. Regularisers: λ · mean_rows Σ_ij -r log(r +
// 1e-6) and ζ · Σ_rows Σ_i 1 / (1e-6 + Σ_j r_ij) when n is not a power of two.
// NOTE: moekit's z_b is bit b counted from the least significant; the
// reference's binary_repr counts from the most significant, a relabelling of
// z's columns. The port uses moekit's order.
std::pair<torch::Tensor, double> reference_dselect_k(const torch::Tensor& z,      // [T, k, m]
                                                     const torch::Tensor& alpha,  // [T, k]
                                                     int64_t n, double gamma, double lambda,
                                                     double zeta) {
  const int64_t T = z.size(0), k = z.size(1), m = z.size(2);
  auto smooth = [&](double t) {
    if (t <= -gamma / 2) return 0.0;
    if (t >= gamma / 2) return 1.0;
    return -2 / (gamma * gamma * gamma) * t * t * t + 3 / (2 * gamma) * t + 0.5;
  };
  auto weights = torch::zeros({T, n}, torch::kDouble);
  double entropy = 0, recip = 0;
  for (int64_t t = 0; t < T; ++t) {
    const auto mix = torch::softmax(alpha[t], 0);
    for (int64_t i = 0; i < k; ++i) {
      double reach = 0;
      for (int64_t j = 0; j < n; ++j) {
        double r = 1;
        for (int64_t b = 0; b < m; ++b) {
          const double s = smooth(z[t][i][b].item<double>());
          r *= ((j >> b) & 1) ? s : 1 - s;
        }
        weights[t][j] += mix[i].item<double>() * r;
        entropy += -r * std::log(r + 1e-6) / T;
        reach += r;
      }
      recip += 1 / (1e-6 + reach);
    }
  }
  const bool power_of_two = (n & (n - 1)) == 0;
  return {weights, lambda * entropy + (power_of_two ? 0.0 : zeta * recip)};
}

TEST(GateDSelectK, MatchesReferencePort) {
  for (int64_t n : {6, 8}) {
    SCOPED_TRACE("n=" + std::to_string(n));
    torch::manual_seed(n);
    const double gamma = 1.0, lambda = 0.2, zeta = 0.7;
    auto gate = make(3, n, 2, gamma, /*per_example=*/true, lambda, zeta);
    gate->to(torch::kDouble);
    auto params = gate->named_parameters();
    {
      torch::NoGradGuard no_grad;  // some bits saturated, some in the band
      params["z_proj.weight"].uniform_(-0.6, 0.6);
      params["z_proj.bias"].uniform_(-0.3, 0.3);
    }
    auto x = torch::randn({5, 3}, torch::kDouble);
    const int64_t m = 3;  // ceil(log2 n) for n = 6 and 8
    auto z = torch::nn::functional::linear(x, params["z_proj.weight"], params["z_proj.bias"])
                 .view({5, 2, m})
                 .detach();
    auto alpha =
        torch::nn::functional::linear(x, params["alpha_proj.weight"], params["alpha_proj.bias"])
            .detach();
    auto [expected, aux] = reference_dselect_k(z, alpha, n, gamma, lambda, zeta);
    Routing r = gate->forward({x, {}, {}});
    EXPECT_TRUE(torch::allclose(r.weights, expected, 1e-9, 1e-12)) << r.weights << expected;
    EXPECT_NEAR(r.aux_loss.item<double>(), aux, 1e-4 * lambda);
  }
}

// Per-example gate with z inside the smooth-step band (asserted), n = 5 so the
// invalid-code penalty is on the path.
std::shared_ptr<Gate> in_band_gate(bool per_example, torch::Tensor& x, double entropy_weight,
                                   double invalid_weight) {
  const double gamma = 2.0;
  auto gate = make(3, 5, 2, gamma, per_example, entropy_weight, invalid_weight);
  gate->to(torch::kDouble);
  x = (torch::randn({4, 3}, torch::kDouble) * 0.5).requires_grad_();
  torch::NoGradGuard no_grad;
  if (per_example) {
    auto params = gate->named_parameters();
    params["z_proj.weight"].uniform_(-0.3, 0.3);
    params["z_proj.bias"].uniform_(-0.3, 0.3);
    auto z = torch::nn::functional::linear(x, params["z_proj.weight"], params["z_proj.bias"]);
    EXPECT_LT(z.abs().max().item<double>(), 0.9 * gamma / 2);
  } else {
    gate->named_parameters()["z"].uniform_(-0.8, 0.8);
    gate->named_parameters()["alpha"].uniform_(-1, 1);
  }
  return gate;
}

TEST(GateDSelectK, GradMatchesFiniteDifferences) {
  for (bool per_example : {true, false}) {
    SCOPED_TRACE(per_example ? "per_example" : "static");
    torch::manual_seed(1);
    torch::Tensor x;
    auto gate = in_band_gate(per_example, x, 0, 0);
    auto probe = torch::randn({4, 5}, torch::kDouble);
    testing::expect_grad_matches_finite_differences(
        [&] {
          return (gate->forward({x, {}, {}}).weights * probe).sum();
        },
        testing::grad_inputs(*gate, x));
  }
}

TEST(GateDSelectK, AuxLossGradMatchesFiniteDifferences) {
  for (bool per_example : {true, false}) {
    SCOPED_TRACE(per_example ? "per_example" : "static");
    torch::manual_seed(2);
    torch::Tensor x;
    auto gate = in_band_gate(per_example, x, /*entropy_weight=*/0.5, /*invalid_weight=*/2.0);
    EXPECT_GT(gate->forward({x, {}, {}}).aux_loss.item<double>(), 0.0);
    testing::expect_grad_matches_finite_differences(
        [&] {
          return gate->forward({x, {}, {}}).aux_loss;
        },
        testing::grad_inputs(*gate, x));
  }
}

TEST(GateDSelectK, PartiallySaturatedGradMatchesFiniteDifferences) {
  torch::manual_seed(3);
  auto gate = make(2, 6, 2, 1.0, false, /*entropy_weight=*/0.3, /*invalid_weight=*/1.5);
  gate->to(torch::kDouble);
  // Selector 0 has bit 0 fixed at 1 (codes 1, 3, 5, 7; 7 is invalid for n = 6),
  // selector 1 has bit 1 fixed at 0; the other bits stay inside the band.
  auto z = torch::tensor({{3.0, 0.1, -0.2}, {0.3, -4.0, 0.05}}, torch::kDouble);
  set_param(*gate, "z", z);
  set_param(*gate, "alpha", torch::tensor({0.2, -0.3}, torch::kDouble));
  auto x = torch::randn({3, 2}, torch::kDouble).requires_grad_();
  auto probe = torch::randn({3, 6}, torch::kDouble);
  auto loss = [&] {
    Routing r = gate->forward({x, {}, {}});
    return (r.weights * probe).sum() + r.aux_loss;
  };
  testing::expect_grad_matches_finite_differences(loss, testing::grad_inputs(*gate, x));
  // The saturated bits get exactly zero gradient.
  auto g = torch::autograd::grad({loss()}, {gate->named_parameters()["z"]})[0];
  EXPECT_EQ(g[0][0].item<double>(), 0.0);
  EXPECT_EQ(g[1][1].item<double>(), 0.0);
  EXPECT_NE(g[0][1].item<double>(), 0.0);
}

TEST(GateDSelectK, SaturatedSelectorsEachPickExactlyOneExpert) {
  auto gate = make(2, 8, 3, 1.0, false);
  // Bits (b0, b1, b2) = (1,0,1) -> code 5; (0,0,0) -> 0; (1,1,0) -> 3.
  set_param(*gate, "z", torch::tensor({{5.0, -5.0, 5.0}, {-5.0, -5.0, -5.0}, {5.0, 5.0, -5.0}}));
  set_param(*gate, "alpha", torch::tensor({0.0, 1.0, 2.0}));
  Routing r = gate->forward({torch::randn({4, 2}), {}, {}});
  auto mix = torch::softmax(torch::tensor({0.0, 1.0, 2.0}), 0);
  auto expected = torch::zeros({8});
  expected[5] = mix[0];
  expected[0] = mix[1];
  expected[3] = mix[2];
  EXPECT_TRUE(torch::allclose(r.weights, expected.expand({4, 8}), 1e-6, 0));
  EXPECT_EQ(r.weights.ne(0).sum(1).max().item<int64_t>(), 3);  // others are exact zeros
  EXPECT_EQ(r.k_eff(), 3);
  auto g = torch::autograd::grad({(r.weights * torch::randn({4, 8})).sum()},
                                 {gate->named_parameters()["z"]})[0];
  EXPECT_EQ(g.abs().max().item<double>(), 0.0);
}

TEST(GateDSelectK, SaturatedPerExampleSelectorFollowsTheSignsOfZ) {
  auto gate = make(3, 8, 1, 1.0, true);
  set_param(*gate, "z_proj.weight", torch::eye(3) * 5);
  set_param(*gate, "z_proj.bias", torch::zeros({3}));
  auto x = torch::tensor({{1.0, -1.0, 1.0}, {-1.0, -1.0, -1.0}, {-1.0, 1.0, 1.0}});
  Routing r = gate->forward({x, {}, {}});
  auto expected = torch::zeros({3, 8});
  expected[0][5] = 1;  // bits (1,0,1)
  expected[1][0] = 1;
  expected[2][6] = 1;  // bits (0,1,1)
  EXPECT_TRUE(torch::equal(r.weights, expected)) << r.weights;
  EXPECT_EQ(r.k_eff(), 1);
}

TEST(GateDSelectK, InvalidCodePenaltyIsTheReferencesReciprocalOfValidMass) {
  // n = 5: codes 5, 6, 7 have no expert. Static selectors count once, whatever
  // the number of rows: ζ / (1e-6 + mass on codes < 5).
  auto gate = make(1, 5, 1, 1.0, false, /*entropy_weight=*/0, /*invalid_weight=*/1.0);
  auto x = torch::zeros({2, 1});
  // All mass on code 2 (bits 0,1,0): nothing lost.
  set_param(*gate, "z", torch::tensor({{-5.0, 5.0, -5.0}}));
  Routing r = gate->forward({x, {}, {}});
  EXPECT_NEAR(r.aux_loss.item<double>(), 1.0 / (1 + 1e-6), 1e-6);
  EXPECT_TRUE(torch::equal(r.weights, torch::tensor({0.0, 0.0, 1.0, 0.0, 0.0}).expand({2, 5})));
  // Undecided: 3/8 of the mass is on invalid codes and is lost (no renormalising).
  set_param(*gate, "z", torch::zeros({1, 3}));
  r = gate->forward({x, {}, {}});
  EXPECT_NEAR(r.aux_loss.item<double>(), 1.0 / (5.0 / 8 + 1e-6), 1e-5);
  EXPECT_TRUE(torch::allclose(r.weights, torch::full({2, 5}, 0.125), 1e-6));
  // Bit 2 set: codes 4..7 with 1/4 each; only code 4 is an expert.
  set_param(*gate, "z", torch::tensor({{0.0, 0.0, 5.0}}));
  r = gate->forward({x, {}, {}});
  EXPECT_NEAR(r.aux_loss.item<double>(), 1.0 / (0.25 + 1e-6), 1e-5);
  EXPECT_TRUE(
      torch::allclose(r.weights, torch::tensor({0.0, 0.0, 0.0, 0.0, 0.25}).expand({2, 5}), 1e-6));
  // A power of two has no invalid codes and no penalty, however undecided.
  auto pow2 = make(1, 4, 1, 1.0, false, 0, 1.0);
  set_param(*pow2, "z", torch::zeros({1, 2}));
  EXPECT_EQ(pow2->forward({x, {}, {}}).aux_loss.item<double>(), 0.0);
  // Per-example selectors: one term per row and selector, summed (3 rows, k = 2).
  auto per_row = make(1, 5, 2, 1.0, true, 0, 0.5);
  set_param(*per_row, "z_proj.weight", torch::zeros({6, 1}));
  set_param(*per_row, "z_proj.bias", torch::zeros({6}));
  EXPECT_NEAR(per_row->forward({torch::zeros({3, 1}), {}, {}}).aux_loss.item<double>(),
              0.5 * 3 * 2 / (5.0 / 8 + 1e-6), 1e-4);
}

TEST(GateDSelectK, RejectsBadOptions) {
  auto where = [](const GateOptions& o) {
    try {
      make_gate("dselectk", o);
    } catch (const Error& e) {
      return e.where();
    }
    return std::string("no error");
  };
  EXPECT_EQ(where(GateOptions(2, 4).k(0)), "k");
  EXPECT_EQ(where(GateOptions(2, 4).gamma(0)), "gamma");
  EXPECT_EQ(where(GateOptions(2, 4).gamma(-1)), "gamma");
  EXPECT_EQ(where(GateOptions(2, 4).per_example(false).gamma(-1)), "gamma");
  auto gate = make_gate("dselectk", GateOptions(2, 4));
  EXPECT_THROW(gate->forward({torch::zeros({3, 5}), {}, {}}), Error);
}

}  // namespace
}  // namespace moekit::gates
