#include "moekit/moe/dispatch.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "moekit/core/error.h"
#include "moekit/moe/experts.h"
#include "moekit/moe/moe_layer.h"
#include "moekit/moe/reference.h"
#include "testing/gradcheck.h"

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

// The grouped FFN path against autograd through forward_expert on each slice,
// for counts with empty experts, one expert holding every row, and row counts
// that divide by nothing in sight.
std::vector<torch::Tensor> slice_loop(FFNExpertsImpl& experts, const torch::Tensor& x,
                                      const std::vector<int64_t>& counts) {
  std::vector<torch::Tensor> outs;
  int64_t offset = 0;
  for (size_t e = 0; e < counts.size(); ++e) {
    outs.push_back(experts.forward_expert(static_cast<int64_t>(e), x.narrow(0, offset, counts[e])));
    offset += counts[e];
  }
  return outs;
}

void expect_grouped_matches_loop(const std::string& activation, const std::vector<int64_t>& counts) {
  torch::manual_seed(2);
  auto experts = FFNExperts(FFNExpertsOptions(static_cast<int64_t>(counts.size()), 6, 10)
                                .d_out(3).activation(activation));
  int64_t rows = 0;
  for (int64_t c : counts) rows += c;
  auto x = torch::randn({rows, 6}, torch::requires_grad());
  auto probe = torch::randn({rows, 3});
  const std::vector<torch::Tensor> params{x, experts->w1, experts->b1, experts->w2, experts->b2};

  auto fast = experts->forward(x, counts);
  auto fast_grads = torch::autograd::grad({(fast * probe).sum()}, params);
  auto loop = torch::cat(slice_loop(*experts, x, counts), 0);
  auto loop_grads = torch::autograd::grad({(loop * probe).sum()}, params, {}, false, false,
                                          /*allow_unused=*/true);
  ASSERT_EQ(fast.sizes(), loop.sizes());
  EXPECT_TRUE(torch::allclose(fast, loop, 1e-5, 1e-6)) << activation;
  for (size_t i = 0; i < params.size(); ++i) {
    auto expected = loop_grads[i].defined() ? loop_grads[i] : torch::zeros_like(params[i]);
    // A weight's gradient sums over the rows, in 256-row blocks on one path and
    // in one pass on the other: float32 rounding then differs by a few units in
    // the last place of the largest entries (2.4e-6 on entries up to 15 over
    // 1,291 rows, seen on an AVX-512 machine), which lands on entries near zero
    // too. So the absolute tolerance scales with the gradient's size; a wrong
    // row or expert is off by O(1).
    const double scale = 1.0 + expected.abs().max().item<double>();
    EXPECT_TRUE(torch::allclose(fast_grads[i], expected, 1e-5, 1e-6 * scale))
        << activation << ": gradient " << i << " over " << rows << " rows, max difference "
        << (fast_grads[i] - expected).abs().max().item<double>();
  }
}

TEST(MoeDispatch, GroupedFFNMatchesSliceLoopForEveryActivation) {
  for (const std::string act : {"relu", "gelu", "silu", "tanh"}) {
    expect_grouped_matches_loop(act, {3, 0, 5, 2});
  }
}

TEST(MoeDispatch, GroupedFFNHandlesOneFullExpertAndOddCounts) {
  expect_grouped_matches_loop("relu", {0, 0, 13, 0});
  expect_grouped_matches_loop("gelu", {7, 1, 0, 11, 3});
  expect_grouped_matches_loop("relu", {1});
  // Slices past 256 rows are split into several blocks (rows of y, of w's gradient).
  expect_grouped_matches_loop("relu", {0, 261, 0, 1030});
}

TEST(MoeDispatch, GroupedFFNWithNoRowsGivesZeroWeightGradients) {
  auto experts = FFNExperts(FFNExpertsOptions(3, 4, 5));
  auto x = torch::randn({0, 4}, torch::requires_grad());
  auto y = experts->forward(x, {0, 0, 0});
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{0, 4}));
  auto grads = torch::autograd::grad({y.sum()}, {experts->w1, experts->b2});
  EXPECT_EQ(grads[0].abs().sum().item<float>(), 0.0f);
  EXPECT_EQ(grads[1].abs().sum().item<float>(), 0.0f);
}

TEST(MoeDispatch, GroupedFFNRejectsCountsThatDoNotMatchRows) {
  auto experts = FFNExperts(FFNExpertsOptions(3, 4, 5));
  EXPECT_THROW(experts->forward(torch::randn({5, 4}), {2, 2, 2}), Error);
  EXPECT_THROW(experts->forward(torch::randn({6, 4}), {7, -1, 0}), Error);
  EXPECT_THROW(experts->forward(torch::randn({6, 4}), {6, 0}), Error);
}

TEST(MoeDispatch, GroupedFFNGradMatchesFiniteDifferences) {
  torch::manual_seed(3);
  auto experts = FFNExperts(FFNExpertsOptions(3, 3, 4).activation("silu"));
  experts->to(torch::kDouble);
  auto x = torch::randn({6, 3}, torch::dtype(torch::kDouble).requires_grad(true));
  auto probe = torch::randn({6, 3}, torch::kDouble);
  const std::vector<int64_t> counts{2, 0, 4};
  testing::expect_grad_matches_finite_differences(
      [&] { return (experts->forward(x, counts) * probe).sum(); },
      {x, experts->w1, experts->b1, experts->w2, experts->b2});
}

TEST(MoeDispatch, OneExpertForEveryRowSkipsTheScatterAndKeepsGradients) {
  torch::manual_seed(6);
  auto experts = FFNExperts(FFNExpertsOptions(3, 4, 8));
  MoELayer layer(gates::make_gate("softmax", gates::GateOptions(4, 3)), experts.ptr());
  auto x = torch::randn({9, 4}, torch::requires_grad());
  auto w = torch::rand({9, 1}, torch::requires_grad());
  auto routing = gates::Routing::from_compact(torch::full({9, 1}, 1, torch::kLong), w, 3,
                                              torch::zeros({}));
  EXPECT_TRUE(plan_dispatch(routing.idx, 3).identity);
  EXPECT_FALSE(plan_dispatch(example_idx(), 4).identity);
  auto fast = layer->forward_routed(x, routing);
  auto fast_grads = torch::autograd::grad({fast.pow(2).sum()}, {x, w, experts->w1});
  auto naive = naive_moe_forward(*experts, x, routing.weights);
  auto naive_grads = torch::autograd::grad({naive.pow(2).sum()}, {x, w, experts->w1});
  EXPECT_TRUE(torch::allclose(fast, naive, 1e-5, 1e-6));
  for (size_t i = 0; i < fast_grads.size(); ++i) {
    EXPECT_TRUE(torch::allclose(fast_grads[i], naive_grads[i], 1e-5, 1e-6)) << "gradient " << i;
  }
}

// The whole layer, a real sparse gate included, against the naive masked loop;
// T = 37 rows divides by neither E = 5 nor k = 2.
TEST(MoeDispatch, TopKLayerMatchesNaiveLoopForwardAndGradients) {
  torch::manual_seed(4);
  MoELayer layer(MoELayerOptions(6, 9, 5).gate("topk").gate_options(
      gates::GateOptions(6, 5).k(2).noisy(false)));
  auto x = torch::randn({37, 6}, torch::requires_grad());
  auto probe = torch::randn({37, 6});
  auto params = layer->parameters();
  params.push_back(x);
  auto fast = layer->forward(x).y;
  auto fast_grads = torch::autograd::grad({(fast * probe).sum()}, params, {}, false, false, true);
  auto routing = layer->gate().forward(gates::GateInput{x, {}, {}});
  auto naive = naive_moe_forward(layer->experts(), x, routing.weights);
  auto naive_grads = torch::autograd::grad({(naive * probe).sum()}, params, {}, false, false, true);
  EXPECT_TRUE(torch::allclose(fast, naive, 1e-5, 1e-5));
  for (size_t i = 0; i < params.size(); ++i) {
    ASSERT_EQ(fast_grads[i].defined(), naive_grads[i].defined()) << "gradient " << i;
    if (!fast_grads[i].defined()) continue;
    EXPECT_TRUE(torch::allclose(fast_grads[i], naive_grads[i], 1e-4, 1e-5)) << "gradient " << i;
  }
}

// combine and gather against index_add / index_select with autograd, for a slot
// plan, a union plan and a hand-built plan without its by-row index; rows of
// several dims; T = 7 with an empty row, a duplicated expert and an empty slot.
void expect_dispatch_matches_aten(const DispatchPlan& plan, torch::Dtype dtype) {
  torch::manual_seed(7);
  const auto opts = torch::dtype(dtype);
  auto x = torch::randn({plan.rows, 2, 3}, opts.requires_grad(true));
  auto w = torch::rand({plan.assignments()}, opts.requires_grad(true));
  auto probe = torch::randn({plan.rows, 2, 3}, opts);
  auto fast = combine(gather_rows(x, plan) * 1.5, w, plan);
  auto fast_grads = torch::autograd::grad({(fast * probe).sum()}, {x, w});
  auto gathered = x.index_select(0, plan.token) * 1.5;
  auto ref = torch::zeros({plan.rows, 2, 3}, opts)
                 .index_add(0, plan.token, gathered * w.view({-1, 1, 1}));
  auto ref_grads = torch::autograd::grad({(ref * probe).sum()}, {x, w});
  EXPECT_TRUE(torch::allclose(fast, ref, 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(fast_grads[0], ref_grads[0], 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(fast_grads[1], ref_grads[1], 1e-5, 1e-6));
}

TEST(MoeDispatch, RowKernelsMatchATenForEveryPlanKind) {
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    expect_dispatch_matches_aten(plan_dispatch(example_idx(), 4), dtype);
    auto ones = torch::ones({3, 1});
    auto a =
        gates::Routing::from_compact(torch::tensor({{0}, {1}, {1}}), ones, 3, torch::zeros({}));
    auto b =
        gates::Routing::from_compact(torch::tensor({{0}, {2}, {-1}}), ones, 3, torch::zeros({}));
    expect_dispatch_matches_aten(plan_union_dispatch({a, b}, 3), dtype);
    DispatchPlan by_hand;  // e.g. rebuilt by an expert-parallel exchange
    by_hand.rows = 5;
    by_hand.token = torch::tensor({4, 0, 4, 2, 0, 4}, torch::kLong);
    by_hand.counts = {2, 4};
    by_hand.offsets = {0, 2, 6};
    expect_dispatch_matches_aten(by_hand, dtype);
  }
}

TEST(MoeDispatch, PlanIndexesAssignmentsByRow) {
  const DispatchPlan plan = plan_dispatch(example_idx(), 4);
  // Row 0 holds assignments 0 (expert 0) and 3 (expert 1); row 6 holds none.
  EXPECT_TRUE(torch::equal(plan.row_offsets, torch::tensor({0, 2, 4, 6, 8, 10, 11, 11})));
  EXPECT_TRUE(torch::equal(plan.by_row.narrow(0, 0, 2), torch::tensor({0, 3})));
  EXPECT_TRUE(torch::equal(plan.token.index_select(0, plan.by_row),
                           torch::tensor({0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5})));
}

// Many rows on two threads: each output row is written by one thread, so the
// result must not depend on the thread count.
TEST(MoeDispatch, RowKernelsAgreeAcrossThreadCounts) {
  torch::manual_seed(8);
  const int64_t rows = 1001;
  auto idx = torch::randint(-1, 7, {rows, 3}, torch::kLong);
  const DispatchPlan plan = plan_dispatch(idx, 7);
  auto x = torch::randn({rows, 33}, torch::requires_grad());
  auto w = torch::rand({plan.assignments()}, torch::requires_grad());
  auto probe = torch::randn({rows, 33});
  std::vector<std::vector<torch::Tensor>> results;
  const int before = at::get_num_threads();
  for (int threads : {1, 2}) {
    at::set_num_threads(threads);
    auto y = combine(gather_rows(x, plan).tanh(), w, plan);
    auto g = torch::autograd::grad({(y * probe).sum()}, {x, w});
    results.push_back({y, g[0], g[1]});
  }
  at::set_num_threads(before);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(torch::equal(results[0][i], results[1][i])) << i;
  auto ref = torch::zeros({rows, 33}).index_add(
      0, plan.token, x.index_select(0, plan.token).tanh() * w.unsqueeze(1));
  EXPECT_TRUE(torch::allclose(results[0][0], ref, 1e-5, 1e-6));
}

TEST(MoeDispatch, RowKernelsGradMatchFiniteDifferences) {
  torch::manual_seed(9);
  const DispatchPlan plan = plan_dispatch(example_idx(), 4);
  auto x = torch::randn({7, 3}, torch::dtype(torch::kDouble).requires_grad(true));
  auto w = torch::rand({plan.assignments()}, torch::dtype(torch::kDouble).requires_grad(true));
  auto probe = torch::randn({7, 3}, torch::kDouble);
  testing::expect_grad_matches_finite_differences(
      [&] { return (combine(gather_rows(x, plan).sin(), w, plan) * probe).sum(); }, {x, w});
}

// The fused ReLU pair (in-place activation, masked input gradient) with the
// input not requiring grad: the weights' gradients still match the slice loop.
TEST(MoeDispatch, FusedReluFFNWeightGradsWithoutInputGrad) {
  torch::manual_seed(10);
  auto experts = FFNExperts(FFNExpertsOptions(3, 5, 7));
  const std::vector<int64_t> counts{4, 0, 9};
  auto x = torch::randn({13, 5});
  const std::vector<torch::Tensor> params{experts->w1, experts->b1, experts->w2};
  auto fast = experts->forward(x, counts);
  auto fast_grads = torch::autograd::grad({fast.pow(2).sum()}, params);
  auto loop = torch::cat(slice_loop(*experts, x, counts), 0);
  auto loop_grads = torch::autograd::grad({loop.pow(2).sum()}, params);
  EXPECT_TRUE(torch::allclose(fast, loop, 1e-5, 1e-6));
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(torch::allclose(fast_grads[i], loop_grads[i], 1e-5, 1e-5)) << "gradient " << i;
  }
}

// Without autograd each block runs its whole FFN (the hidden activation one block
// at a time); it must give what the training path gives.
TEST(MoeDispatch, InferenceBlocksMatchTrainingPath) {
  for (const std::string act : {"relu", "gelu"}) {
    torch::manual_seed(11);
    auto experts = FFNExperts(FFNExpertsOptions(4, 6, 10).d_out(3).activation(act));
    const std::vector<int64_t> counts{0, 300, 7, 0};
    auto x = torch::randn({307, 6});
    auto train = experts->forward(x, counts);
    ASSERT_TRUE(train.requires_grad());
    torch::NoGradGuard no_grad;
    auto infer = experts->forward(x, counts);
    EXPECT_FALSE(infer.requires_grad());
    EXPECT_TRUE(torch::allclose(infer, train, 1e-5, 1e-6)) << act;
    EXPECT_TRUE(torch::allclose(infer.narrow(0, 300, 7),
                                experts->forward_expert(2, x.narrow(0, 300, 7)), 1e-5, 1e-6));
  }
}

// Device-parameterised: CPU always; CUDA (bf16, the _grouped_mm path on torch >=
// 2.8) is skipped where no GPU is present.
class MoeDispatchDevice : public ::testing::TestWithParam<torch::DeviceType> {};

TEST_P(MoeDispatchDevice, GroupedFFNMatchesSliceLoop) {
  const bool cuda = GetParam() == torch::kCUDA;
  if (cuda && !torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: CUDA path not tested";
  const auto dtype = cuda ? torch::kBFloat16 : torch::kFloat;
  torch::manual_seed(5);
  auto experts = FFNExperts(FFNExpertsOptions(4, 64, 128));
  const std::vector<int64_t> counts{40, 0, 17, 71};
  auto x = torch::randn({128, 64});
  auto probe = torch::randn({128, 64});
  auto loop = torch::cat(slice_loop(*experts, x, counts), 0);
  experts->to(GetParam(), dtype);
  auto xd = x.to(GetParam(), dtype).requires_grad_(true);
  auto y = experts->forward(xd, counts);
  auto grads = torch::autograd::grad({(y * probe.to(GetParam(), dtype)).sum()}, {xd});
  const double tol = cuda ? 5e-2 : 1e-5;
  EXPECT_TRUE(torch::allclose(y.to(torch::kCPU, torch::kFloat), loop, tol, tol));
  EXPECT_EQ(grads[0].sizes(), xd.sizes());
}

INSTANTIATE_TEST_SUITE_P(Devices, MoeDispatchDevice, ::testing::Values(torch::kCPU, torch::kCUDA),
                         [](const auto& info) {
                           return info.param == torch::kCUDA ? std::string("CUDA")
                                                             : std::string("CPU");
                         });

}  // namespace
}  // namespace moekit::moe
