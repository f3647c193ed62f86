#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "moekit/core/error.h"
#include "moekit/gates/gate.h"
#include "testing/gradcheck.h"

namespace moekit::gates {
namespace {

// A gate whose logits are exactly x, padded with zeros for the experts beyond d_in.
std::shared_ptr<Gate> identity_switch(int64_t d_in, int64_t n, double capacity_factor) {
  auto gate = make_gate("switch",
                        GateOptions(d_in, n).capacity_factor(capacity_factor).balance_weight(1.0));
  auto params = gate->named_parameters();
  torch::NoGradGuard no_grad;
  params["proj.weight"].copy_(torch::eye(n, d_in));
  params["proj.bias"].zero_();
  return gate;
}

TEST(GateSwitch, MatchesHandComputedValues) {
  auto gate = identity_switch(2, 3, /*capacity_factor=*/0.0);
  // Row 0: logits (ln 2, ln 3, 0) -> probs (2, 3, 1) / 6 -> expert 1, weight 1/2.
  // Row 1: logits (ln 3, 0, 0)    -> probs (3, 1, 1) / 5 -> expert 0, weight 3/5.
  auto x = torch::tensor({{std::log(2.0), std::log(3.0)}, {std::log(3.0), 0.0}});
  Routing r = gate->forward({x, {}, {}});
  EXPECT_TRUE(torch::allclose(r.weights, torch::tensor({{0.0, 0.5, 0.0}, {0.6, 0.0, 0.0}}), 1e-6));
  EXPECT_EQ(r.k_eff(), 1);
  EXPECT_TRUE(torch::equal(r.idx, torch::tensor({{1}, {0}}, torch::kLong)));
  // f = (1/2, 1/2, 0), P = (7/15, 7/20, 11/60): n · Σ f·P = 3 · 49/120.
  EXPECT_NEAR(r.aux_loss.item<double>(), 3.0 * 49.0 / 120.0, 1e-6);
}

TEST(GateSwitch, DropsTokensBeyondCapacity) {
  // 4 rows all preferring expert 0; n = 2, capacity_factor 1 -> capacity ceil(4/2) = 2.
  const std::vector<double> odds = {3.0, 4.0, 2.0, 9.0};  // p0 = a / (a + 1)
  auto x = torch::zeros({4, 2});
  for (int i = 0; i < 4; ++i) x[i][0] = std::log(odds[i]);
  auto gate = identity_switch(2, 2, /*capacity_factor=*/1.0);
  Routing r = gate->forward({x, {}, {}});
  EXPECT_TRUE(torch::equal(r.idx, torch::tensor({{0}, {0}, {-1}, {-1}}, torch::kLong)));
  EXPECT_TRUE(torch::allclose(r.w, torch::tensor({{0.75}, {0.8}, {0.0}, {0.0}}), 1e-6));
  EXPECT_TRUE(torch::allclose(
      r.weights, torch::tensor({{0.75, 0.0}, {0.8, 0.0}, {0.0, 0.0}, {0.0, 0.0}}), 1e-6));
  // Balance loss counts the dropped rows: f = (1, 0), P_0 = mean(3/4, 4/5, 2/3, 9/10).
  const double p0 = (0.75 + 0.8 + 2.0 / 3.0 + 0.9) / 4.0;
  EXPECT_NEAR(r.aux_loss.item<double>(), 2.0 * p0, 1e-6);

  // Unlimited capacity keeps every row.
  auto unlimited = identity_switch(2, 2, /*capacity_factor=*/0.0);
  EXPECT_TRUE(unlimited->forward({x, {}, {}}).idx.eq(0).all().item<bool>());
}

TEST(GateSwitch, CapacityIsPerExpertInRowOrder) {
  // n = 2, T = 4, capacity_factor 0.5 -> capacity 1: the first row of each expert survives.
  auto x = torch::tensor({{0.0, 1.0}, {1.0, 0.0}, {0.0, 2.0}, {2.0, 0.0}});
  auto gate = identity_switch(2, 2, /*capacity_factor=*/0.5);
  Routing r = gate->forward({x, {}, {}});
  EXPECT_TRUE(torch::equal(r.idx, torch::tensor({{1}, {0}, {-1}, {-1}}, torch::kLong)));
}

TEST(GateSwitch, InferenceCapacityIsTheEvalFractionOfAllTokens) {
  // 8 rows all on expert 0, n = 2: training capacity ceil(1.25 · 8 / 2) = 5.
  auto x = torch::zeros({8, 2});
  x.select(1, 0).fill_(1.0);
  auto kept = [&](double fraction, bool training) {
    auto gate = make_gate("switch", GateOptions(2, 2).capacity_factor(1.25)
                                        .eval_capacity_fraction(fraction));
    gate->train(training);
    return gate->forward({x, {}, {}}).idx.ge(0).sum().item<int64_t>();
  };
  EXPECT_EQ(kept(0.0, true), 5);
  EXPECT_EQ(kept(0.0, false), 5);   // no fraction: inference keeps the training capacity
  EXPECT_EQ(kept(0.25, true), 5);   // the fraction applies at inference only
  EXPECT_EQ(kept(0.25, false), 2);  // fairseq's default: ceil(0.25 · 8)
  EXPECT_EQ(kept(0.3, false), 3);   // ceil(2.4)
  EXPECT_EQ(kept(1.0, false), 8);   // never drops
  EXPECT_THROW(make_gate("switch", GateOptions(2, 2).eval_capacity_fraction(std::nan(""))), Error);
}

TEST(GateSwitch, CapacityRoundsUp) {
  // T = 5 rows all on expert 0, n = 2, capacity_factor 1: capacity = ceil(5/2) = 3
  // (Fedus et al. eq. 3); flooring would keep 2.
  auto x = torch::zeros({5, 2});
  x.select(1, 0).fill_(1.0);
  auto gate = identity_switch(2, 2, /*capacity_factor=*/1.0);
  Routing r = gate->forward({x, {}, {}});
  EXPECT_TRUE(torch::equal(r.idx.view(-1), torch::tensor({0, 0, 0, -1, -1}, torch::kLong)))
      << r.idx;
  // 0.3 · 7 / 2 = 1.05 -> 2 slots per expert.
  auto small = identity_switch(2, 2, /*capacity_factor=*/0.3);
  Routing s = small->forward({torch::zeros({7, 2}).index_fill_(1, torch::tensor({0}), 1.0), {}, {}});
  EXPECT_EQ(s.idx.ge(0).sum().item<int64_t>(), 2);
}

TEST(GateSwitch, WeightsAreTheTopProbabilityOrZeroWhenDropped) {
  torch::manual_seed(0);
  auto gate = make_gate("switch", GateOptions(5, 4).capacity_factor(1.0));
  auto x = torch::randn({13, 5});
  Routing r = gate->forward({x, {}, {}});
  auto p = gate->named_parameters();
  torch::NoGradGuard no_grad;
  auto probs = torch::softmax(x.mm(p["proj.weight"].t()) + p["proj.bias"], 1);
  auto top = std::get<0>(probs.max(1));
  auto kept = r.idx.squeeze(1).ge(0);
  EXPECT_TRUE(r.weights.ge(0).all().item<bool>());
  // Kept rows: one non-zero, the router probability of the chosen expert (Switch eq. 2).
  EXPECT_TRUE(
      torch::allclose(r.weights.sum(1), torch::where(kept, top, torch::zeros_like(top)), 1e-6));
  EXPECT_TRUE(r.weights.ne(0).sum(1).eq(kept.to(torch::kLong)).all().item<bool>());
  // Capacity ceil(13/4) = 4 per expert.
  for (int64_t e = 0; e < 4; ++e) EXPECT_LE(r.idx.eq(e).sum().item<int64_t>(), 4);
}

TEST(GateSwitch, GradMatchesFiniteDifferences) {
  torch::manual_seed(0);
  auto gate = make_gate("switch", GateOptions(3, 4).capacity_factor(1.0));
  gate->to(torch::kDouble);
  auto x = torch::randn({6, 3}, torch::kDouble).requires_grad_();
  auto probe = torch::randn({6, 4}, torch::kDouble);
  const auto inputs = testing::grad_inputs(*gate, x);
  testing::expect_grad_matches_finite_differences(
      [&] {
        return (gate->forward({x, {}, {}}).weights * probe).sum();
      },
      inputs);
}

TEST(GateSwitch, AuxLossGradMatchesFiniteDifferences) {
  torch::manual_seed(0);
  auto gate = make_gate("switch", GateOptions(3, 4).balance_weight(1.0));
  gate->to(torch::kDouble);
  auto x = torch::randn({6, 3}, torch::kDouble).requires_grad_();
  const auto inputs = testing::grad_inputs(*gate, x);
  const double worst = testing::expect_grad_matches_finite_differences(
      [&] {
        return gate->forward({x, {}, {}}).aux_loss;
      },
      inputs);
  EXPECT_LT(worst, 1e-5);
}

TEST(GateSwitch, RejectsBadOptions) {
  EXPECT_THROW(make_gate("switch", GateOptions(2, 3).balance_weight(-1.0)), Error);
  EXPECT_THROW(make_gate("switch", GateOptions(2, 3).capacity_factor(std::nan(""))), Error);
}

}  // namespace
}  // namespace moekit::gates
