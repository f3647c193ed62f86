#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "moekit/core/error.h"
#include "moekit/gates/gate.h"
#include "moekit/moe/experts.h"
#include "moekit/moe/moe_layer.h"
#include "testing/gradcheck.h"

namespace moekit::gates {
namespace {

GateOptions random_options(int64_t n, const std::string& granularity) {
  return GateOptions(2, n).granularity(granularity);
}

int64_t distinct(const torch::Tensor& t) { return std::get<0>(torch::_unique(t)).numel(); }

void expect_one_hot_rows(const Routing& r) {
  EXPECT_EQ(r.k_eff(), 1);
  EXPECT_TRUE(r.w.eq(1).all().item<bool>());
  EXPECT_TRUE(r.weights.ge(0).all().item<bool>());
  EXPECT_TRUE(r.weights.sum(1).eq(1).all().item<bool>());
  EXPECT_TRUE(r.weights.ne(0).sum(1).eq(1).all().item<bool>());
  EXPECT_EQ(r.aux_loss.item<double>(), 0.0);
}

TEST(GateRandom, HasNoParameters) {
  EXPECT_TRUE(make_gate("random", GateOptions(2, 4))->parameters().empty());
}

TEST(GateRandom, BatchGranularityUsesOneExpertForAllRows) {
  auto gate = make_gate("random", random_options(4, "batch"));
  std::vector<int64_t> seen;
  for (int seed = 0; seed < 20; ++seed) {
    torch::manual_seed(seed);
    Routing r = gate->forward({torch::zeros({32, 2}), {}, {}});
    expect_one_hot_rows(r);
    EXPECT_EQ(distinct(r.idx), 1);
    seen.push_back(r.idx[0][0].item<int64_t>());
  }
  // Across passes the draw does change (20 equal draws of 4 experts: p = 4^-19).
  EXPECT_GT(distinct(torch::tensor(seen)), 1);
}

TEST(GateRandom, SequenceGranularityUsesOneExpertPerSequence) {
  auto gate = make_gate("random", random_options(4, "sequence"));
  // 20 sequences of 3 rows each, interleaved, with non-contiguous sequence ids.
  auto seq = (torch::arange(60, torch::kLong) % 20) * 7;
  torch::manual_seed(0);
  Routing r = gate->forward({torch::zeros({60, 2}), {}, seq});
  expect_one_hot_rows(r);
  auto idx = r.idx.squeeze(1);
  for (int64_t s = 0; s < 20; ++s) EXPECT_EQ(distinct(idx.masked_select(seq.eq(s * 7))), 1);
  EXPECT_GT(distinct(idx), 1);
  EXPECT_THROW(gate->forward({torch::zeros({60, 2}), {}, {}}), Error);  // seq missing
}

TEST(GateRandom, TokenGranularityVariesAcrossRows) {
  auto gate = make_gate("random", random_options(4, "token"));
  torch::manual_seed(0);
  Routing r = gate->forward({torch::zeros({64, 2}), {}, {}});
  expect_one_hot_rows(r);
  EXPECT_EQ(distinct(r.idx), 4);
}

TEST(GateRandom, DrawsFollowTheSeed) {
  auto gate = make_gate("random", random_options(5, "token"));
  auto x = torch::zeros({40, 2});
  torch::manual_seed(5);
  auto a = gate->forward({x, {}, {}}).idx;
  torch::manual_seed(5);
  auto b = gate->forward({x, {}, {}}).idx;
  torch::manual_seed(6);
  auto c = gate->forward({x, {}, {}}).idx;
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  // The draw is the global torch RNG's uniform integer in [0, n).
  torch::manual_seed(5);
  EXPECT_TRUE(torch::equal(a.squeeze(1), torch::randint(5, {40}, torch::kLong)));
}

TEST(GateRandom, EvalFixedRoutesEveryRowToTheFixedExpert) {
  auto gate = make_gate("random", GateOptions(2, 3).eval_mode("fixed").fixed_expert(2));
  gate->eval();
  Routing r = gate->forward({torch::zeros({3, 2}), {}, {}});
  expect_one_hot_rows(r);
  EXPECT_TRUE(
      torch::equal(r.weights, torch::tensor({{0.0, 0.0, 1.0}, {0.0, 0.0, 1.0}, {0.0, 0.0, 1.0}})));
}

TEST(GateRandom, EvalMeanAveragesAllExperts) {
  auto gate = make_gate("random", GateOptions(2, 4).eval_mode("mean"));
  gate->eval();
  Routing r = gate->forward({torch::zeros({3, 2}), {}, {}});
  EXPECT_EQ(r.k_eff(), 4);
  EXPECT_TRUE(torch::allclose(r.weights, torch::full({3, 4}, 0.25)));
  EXPECT_TRUE(torch::equal(r.idx, torch::arange(4, torch::kLong).expand({3, 4})));
  EXPECT_EQ(r.aux_loss.item<double>(), 0.0);
}

TEST(GateRandom, EvalSampleDrawsOnePerSequenceOrBatch) {
  auto gate = make_gate("random", random_options(4, "token"));  // eval ignores granularity
  gate->eval();
  auto seq = torch::div(torch::arange(60, torch::kLong), 3, "floor");
  torch::manual_seed(0);
  auto per_seq = gate->forward({torch::zeros({60, 2}), {}, seq}).idx.squeeze(1);
  for (int64_t s = 0; s < 20; ++s) EXPECT_EQ(distinct(per_seq.masked_select(seq.eq(s))), 1);
  EXPECT_GT(distinct(per_seq), 1);
  auto per_batch = gate->forward({torch::zeros({60, 2}), {}, {}}).idx;
  EXPECT_EQ(distinct(per_batch), 1);
}

TEST(GateRandom, GradThroughTheDrawnExpertsMatchesFiniteDifferences) {
  // Random routing has no parameters, so the gradient reaches the input and the
  // experts only through the experts drawn: a layer whose output is checked by
  // finite differences, with the same draw every evaluation (seeded).
  torch::manual_seed(0);
  moe::MoELayer layer(make_gate("random", GateOptions(3, 4).granularity("token")),
                      moe::FFNExperts(moe::FFNExpertsOptions(4, 3, 5).activation("gelu")).ptr());
  layer->to(torch::kDouble);
  auto x = torch::randn({6, 3}, torch::kDouble).requires_grad_();
  auto probe = torch::randn({6, 3}, torch::kDouble);
  auto loss = [&] {
    torch::manual_seed(3);
    return (layer->forward(x).y * probe).sum();
  };
  testing::expect_grad_matches_finite_differences(loss, testing::grad_inputs(*layer, x));
  // The experts that were not drawn get exactly no gradient, the drawn ones some.
  torch::manual_seed(3);
  const auto drawn = layer->forward(x).routing.idx.view(-1);
  auto w1 = layer->named_parameters()["experts.w1"];
  auto g = torch::autograd::grad({loss()}, {w1})[0];
  for (int64_t e = 0; e < 4; ++e) {
    const bool used = drawn.eq(e).any().item<bool>();
    EXPECT_EQ(g[e].abs().max().item<double>() > 0, used) << "expert " << e;
  }
  EXPECT_GT(g.abs().max().item<double>(), 0.0);
}

TEST(GateRandom, RejectsBadOptions) {
  try {
    make_gate("random", GateOptions(2, 3).granularity("sentence"));
    FAIL() << "expected moekit::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "granularity");
    EXPECT_NE(e.message().find("sentence"), std::string::npos);
    EXPECT_NE(e.message().find("batch, sequence, token"), std::string::npos);
  }
  try {
    make_gate("random", GateOptions(2, 3).eval_mode("avg"));
    FAIL() << "expected moekit::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "eval_mode");
    EXPECT_NE(e.message().find("sample, fixed, mean"), std::string::npos);
  }
  EXPECT_THROW(make_gate("random", GateOptions(2, 3).eval_mode("fixed").fixed_expert(3)), Error);
  EXPECT_THROW(make_gate("random", GateOptions(2, 3).eval_mode("fixed").fixed_expert(-1)), Error);
}

}  // namespace
}  // namespace moekit::gates
