#include "moekit/moe/multi_gate_moe.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "moekit/moe/reference.h"

namespace moekit::moe {
namespace {

// A gate with a fixed routing, so the test controls which rows meet which expert.
struct FixedGate : gates::Gate {
  explicit FixedGate(gates::Routing r) : routing(std::move(r)) {}
  gates::Routing forward(const gates::GateInput&) override { return routing; }
  gates::Routing routing;
};

struct CountingExperts : Experts {
  explicit CountingExperts(int64_t n) : seen(n, 0) {}
  int64_t n_experts() const override { return static_cast<int64_t>(seen.size()); }
  at::Tensor forward_expert(int64_t e, const at::Tensor& x) override {
    seen[e] += x.size(0);
    return x * static_cast<double>(e + 1) + 1.0;
  }
  std::vector<int64_t> seen;
};

TEST(MoeMultiGateMoe, EachExpertRunsOnceOnTheUnionOfItsRows) {
  auto task0 = gates::Routing::from_compact(torch::tensor({{0, 1}, {1, -1}, {2, 0}}),
                                            torch::tensor({{0.5, 0.5}, {1.0, 0.0}, {0.3, 0.7}}),
                                            3, torch::zeros({}));
  auto task1 = gates::Routing::from_compact(torch::tensor({{1}, {1}, {0}}), torch::ones({3, 1}), 3,
                                            torch::full({}, 0.25));
  auto experts = std::make_shared<CountingExperts>(3);
  MultiGateMoE moe(std::vector<std::shared_ptr<gates::Gate>>{std::make_shared<FixedGate>(task0),
                                                             std::make_shared<FixedGate>(task1)},
                   experts);
  auto x = torch::randn({3, 2});
  MultiGateOutput out = moe->forward(x, {x, {}, {}});
  // expert 0: rows {0, 2}; expert 1: rows {0, 1}; expert 2: row {2}.
  EXPECT_EQ(experts->seen, (std::vector<int64_t>{2, 2, 1}));
  ASSERT_EQ(out.y.size(), 2u);
  EXPECT_TRUE(torch::allclose(out.y[0], naive_moe_forward(*experts, x, task0.weights), 1e-6));
  EXPECT_TRUE(torch::allclose(out.y[1], naive_moe_forward(*experts, x, task1.weights), 1e-6));
  EXPECT_FLOAT_EQ(out.aux_loss.item<float>(), 0.25f);
}

TEST(MoeMultiGateMoe, SoftmaxTasksMatchNaiveForwardAndGradients) {
  torch::manual_seed(0);
  auto experts = FFNExperts(FFNExpertsOptions(3, 4, 5));
  std::vector<std::shared_ptr<gates::Gate>> gates{
      gates::make_gate("softmax", gates::GateOptions(4, 3)),
      gates::make_gate("softmax", gates::GateOptions(4, 3))};
  MultiGateMoE moe(gates, experts.ptr());
  auto x = torch::randn({6, 4}, torch::requires_grad());
  auto out = moe->forward(x, {x, {}, {}});
  auto loss = out.y[0].pow(2).sum() + out.y[1].sum();
  auto grads = torch::autograd::grad({loss}, {x, experts->w1});
  auto r0 = gates[0]->forward({x, {}, {}});
  auto r1 = gates[1]->forward({x, {}, {}});
  auto n0 = naive_moe_forward(*experts, x, r0.weights);
  auto n1 = naive_moe_forward(*experts, x, r1.weights);
  EXPECT_TRUE(torch::allclose(out.y[0], n0, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(out.y[1], n1, 1e-5, 1e-6));
  auto naive_grads = torch::autograd::grad({n0.pow(2).sum() + n1.sum()}, {x, experts->w1});
  EXPECT_TRUE(torch::allclose(grads[0], naive_grads[0], 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(grads[1], naive_grads[1], 1e-5, 1e-6));
}

}  // namespace
}  // namespace moekit::moe
