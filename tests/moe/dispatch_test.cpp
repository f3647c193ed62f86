#include "moekit/moe/dispatch.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "moekit/moe/experts.h"
#include "moekit/moe/moe_layer.h"
#include "moekit/moe/reference.h"

namespace moekit::moe {
namespace {

// T = 7 rows, n = 4 experts, k_eff = 2. Expert 3 gets no row; row 2 lists
// expert 1 twice; row 5 has an empty slot; row 6 has none at all.
torch::Tensor example_idx() {
  return torch::tensor({{0, 1}, {1, 2}, {1, 1}, {2, 0}, {0, 2}, {1, -1}, {-1, -1}}, torch::kLong);
}

TEST(MoeDispatch, PlanGroupsAssignmentsByExpert) {
  const DispatchPlan plan = plan_dispatch(example_idx(), 4);
  EXPECT_EQ(plan.counts, (std::vector<int64_t>{3, 5, 3, 0}));
  EXPECT_EQ(plan.offsets, (std::vector<int64_t>{0, 3, 8, 11, 11}));
  EXPECT_EQ(plan.assignments(), 11);
  // Stable sort: within an expert, rows stay in order.
  EXPECT_TRUE(torch::equal(plan.token, torch::tensor({0, 3, 4, 0, 1, 2, 2, 5, 1, 3, 4})));
  EXPECT_TRUE(torch::equal(plan.expert, torch::tensor({0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2})));
}

TEST(MoeDispatch, UnionPlanHasEachRowExpertPairOnce) {
  auto w = torch::ones({3, 1});
  auto a = gates::Routing::from_compact(torch::tensor({{0}, {1}, {1}}), w, 3, torch::zeros({}));
  auto b = gates::Routing::from_compact(torch::tensor({{0}, {2}, {-1}}), w, 3, torch::zeros({}));
  const DispatchPlan plan = plan_union_dispatch({a, b}, 3);
  EXPECT_EQ(plan.counts, (std::vector<int64_t>{1, 2, 1}));
  EXPECT_TRUE(torch::equal(plan.token, torch::tensor({0, 1, 2, 1})));
  EXPECT_TRUE(torch::equal(plan.expert, torch::tensor({0, 1, 1, 2})));
  EXPECT_FALSE(plan.slot.defined());
}

TEST(MoeDispatch, MatchesPerExpertLoopForwardAndGradients) {
  torch::manual_seed(0);
  auto experts = FFNExperts(FFNExpertsOptions(4, 5, 6).d_out(3));
  auto x = torch::randn({7, 5}, torch::requires_grad());
  auto w = torch::rand({7, 2}, torch::requires_grad());
  auto routing = gates::Routing::from_compact(example_idx(), w, 4, torch::zeros({}));
  MoELayer layer(gates::make_gate("softmax", gates::GateOptions(5, 4)), experts.ptr());

  auto fast = layer->forward_routed(x, routing);
  auto probe = torch::randn({7, 3});
  auto fast_grads = torch::autograd::grad({(fast * probe).sum()}, {x, w, experts->w1, experts->b2});
  auto naive = naive_moe_forward(*experts, x, routing.weights);
  auto naive_grads = torch::autograd::grad({(naive * probe).sum()}, {x, w, experts->w1, experts->b2});

  EXPECT_TRUE(torch::allclose(fast, naive, 1e-5, 1e-6));
  EXPECT_TRUE(fast[6].abs().max().item<float>() == 0.0f);  // a row with no expert gets zeros
  for (size_t i = 0; i < fast_grads.size(); ++i) {
    EXPECT_TRUE(torch::allclose(fast_grads[i], naive_grads[i], 1e-5, 1e-6)) << "gradient " << i;
  }
}

TEST(MoeDispatch, AllRowsOnOneExpertAndNoRowsAtAll) {
  torch::manual_seed(1);
  auto experts = FFNExperts(FFNExpertsOptions(3, 4, 8));
  MoELayer layer(gates::make_gate("softmax", gates::GateOptions(4, 3)), experts.ptr());
  auto x = torch::randn({5, 4});
  auto one = gates::Routing::from_compact(torch::full({5, 1}, 2, torch::kLong), torch::ones({5, 1}),
                                          3, torch::zeros({}));
  EXPECT_TRUE(torch::allclose(layer->forward_routed(x, one), experts->forward_expert(2, x), 1e-5));
  auto none = gates::Routing::from_compact(torch::full({5, 1}, -1, torch::kLong),
                                           torch::zeros({5, 1}), 3, torch::zeros({}));
  auto y = layer->forward_routed(x, none);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{5, 4}));
  EXPECT_EQ(y.abs().sum().item<float>(), 0.0f);
}

// Counts the rows each expert sees, to prove no expert runs on rows it does not serve.
struct CountingExperts : Experts {
  explicit CountingExperts(int64_t n) : seen(n, 0) {}
  int64_t n_experts() const override { return static_cast<int64_t>(seen.size()); }
  at::Tensor forward_expert(int64_t e, const at::Tensor& x) override {
    seen[e] += x.size(0);
    return x * static_cast<double>(e + 1);
  }
  std::vector<int64_t> seen;
};

TEST(MoeDispatch, ExpertsRunOnlyOnTheirRows) {
  auto experts = std::make_shared<CountingExperts>(4);
  MoELayer layer(gates::make_gate("softmax", gates::GateOptions(2, 4)), experts);
  auto routing = gates::Routing::from_compact(example_idx(), torch::ones({7, 2}), 4,
                                              torch::zeros({}));
  layer->forward_routed(torch::randn({7, 2}), routing);
  EXPECT_EQ(experts->seen, (std::vector<int64_t>{3, 5, 3, 0}));
}

}  // namespace
}  // namespace moekit::moe
