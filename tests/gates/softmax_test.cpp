#include <gtest/gtest.h>
#include <torch/torch.h>

#include "moekit/core/error.h"
#include "moekit/gates/gate.h"
#include "testing/gradcheck.h"

namespace moekit::gates {
namespace {

TEST(GateSoftmax, MatchesHandComputedValues) {
  auto gate = make_gate("softmax", GateOptions(2, 3));
  auto params = gate->named_parameters();
  torch::NoGradGuard no_grad;
  params["proj.weight"].copy_(torch::tensor({{1.0, 0.0}, {0.0, 1.0}, {0.0, 0.0}}));
  params["proj.bias"].zero_();
  Routing r = gate->forward({torch::tensor({{std::log(2.0), std::log(3.0)}}), {}, {}});
  // logits = (ln 2, ln 3, 0) -> softmax = (2, 3, 1) / 6
  EXPECT_TRUE(torch::allclose(r.weights, torch::tensor({{2.0 / 6, 3.0 / 6, 1.0 / 6}}), 1e-6));
  EXPECT_EQ(r.k_eff(), 3);
  EXPECT_EQ(r.idx[0][0].item<int64_t>(), 1);  // compact form sorted by weight
  EXPECT_EQ(r.aux_loss.item<double>(), 0.0);
}

TEST(GateSoftmax, WeightsAreNonNegativeAndSumToOne) {
  torch::manual_seed(0);
  auto gate = make_gate("softmax", GateOptions(5, 4));
  Routing r = gate->forward({torch::randn({7, 5}), {}, {}});
  EXPECT_TRUE(r.weights.ge(0).all().item<bool>());
  EXPECT_TRUE(torch::allclose(r.weights.sum(1), torch::ones({7}), 1e-6));
  EXPECT_TRUE(torch::allclose(r.w.sum(1), torch::ones({7}), 1e-6));
}

TEST(GateSoftmax, GradMatchesFiniteDifferences) {
  torch::manual_seed(0);
  auto gate = make_gate("softmax", GateOptions(3, 4));
  gate->to(torch::kDouble);
  auto x = torch::randn({5, 3}, torch::kDouble).requires_grad_();
  auto probe = torch::randn({5, 4}, torch::kDouble);
  const auto inputs = testing::grad_inputs(*gate, x);
  testing::expect_grad_matches_finite_differences(
      [&] { return (gate->forward({x, {}, {}}).weights * probe).sum(); }, inputs);
}

TEST(GateRegistry, UnknownGateNamesTheRegisteredOnes) {
  try {
    make_gate("nope", GateOptions(2, 3));
    FAIL() << "expected moekit::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("softmax"), std::string::npos);
  }
}

TEST(GateRegistry, RejectsNonPositiveShapes) {
  EXPECT_THROW(make_gate("softmax", GateOptions(0, 3)), Error);
  EXPECT_THROW(make_gate("softmax", GateOptions(2, 0)), Error);
}

TEST(GateOptions, SetParsesAndRejectsUnknownKeys) {
  GateOptions o(2, 3);
  o.set("k", "4");
  o.set("noisy", "false");
  o.set("gamma", "0.5");
  EXPECT_EQ(o.k(), 4);
  EXPECT_FALSE(o.noisy());
  EXPECT_DOUBLE_EQ(o.gamma(), 0.5);
  EXPECT_THROW(o.set("kk", "1"), Error);
  EXPECT_THROW(o.set("k", "two"), Error);
  EXPECT_THROW(o.set("gamma", "nan"), Error);
}

}  // namespace
}  // namespace moekit::gates
