#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <string>
#include <vector>

#include "moekit/core/error.h"
#include "moekit/gates/gate.h"
#include "moekit/moe/experts.h"
#include "moekit/moe/moe_layer.h"
#include "testing/gradcheck.h"

namespace moekit::gates {
namespace {

torch::Tensor table_of(const std::shared_ptr<Gate>& gate) {
  return gate->named_buffers()["table"].clone();
}

TEST(GateHash, RoutesIdsThroughTheTable) {
  auto gate = make_gate("hash", GateOptions(2, 3).n_ids(4));
  {
    torch::NoGradGuard no_grad;
    gate->named_buffers()["table"].copy_(torch::tensor({2, 0, 1, 1}, torch::kLong));
  }
  auto ids = torch::tensor({3, 0, 1, 0}, torch::kLong);
  Routing r = gate->forward({torch::randn({4, 2}), ids, {}});
  EXPECT_TRUE(torch::equal(r.idx, torch::tensor({{1}, {2}, {0}, {2}}, torch::kLong)));
  EXPECT_TRUE(torch::equal(r.w, torch::ones({4, 1})));
  EXPECT_TRUE(torch::equal(
      r.weights, torch::tensor({{0.0, 1.0, 0.0}, {0.0, 0.0, 1.0}, {1.0, 0.0, 0.0}, {0.0, 0.0, 1.0}},
                               torch::kFloat)));
  EXPECT_EQ(r.k_eff(), 1);
  EXPECT_EQ(r.aux_loss.item<double>(), 0.0);
}

TEST(GateHash, TableIsUniformOverExperts) {
  auto table = table_of(make_gate("hash", GateOptions(2, 4).n_ids(4000).seed(3)));
  EXPECT_EQ(table.scalar_type(), torch::kLong);
  EXPECT_TRUE(table.ge(0).all().item<bool>());
  EXPECT_TRUE(table.lt(4).all().item<bool>());
  auto counts = torch::bincount(table, {}, 4);
  // 1000 expected per expert, sd ~27: every count within 6 sd.
  EXPECT_TRUE(counts.sub(1000).abs().le(165).all().item<bool>()) << counts;
}

TEST(GateHash, DeterministicFromSeed) {
  auto options = GateOptions(2, 4).n_ids(1024).seed(11);
  torch::manual_seed(1);
  auto a = table_of(make_gate("hash", options));
  torch::manual_seed(2);  // the global RNG must not matter
  auto b = table_of(make_gate("hash", options));
  auto c = table_of(make_gate("hash", GateOptions(2, 4).n_ids(1024).seed(12)));
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
}

TEST(GateHash, SurvivesSaveLoad) {
  const std::string path = ::testing::TempDir() + "moekit_hash_gate_test.pt";
  auto saved = make_gate("hash", GateOptions(2, 5).n_ids(64).seed(1));
  torch::save(saved, path);
  auto loaded = make_gate("hash", GateOptions(2, 5).n_ids(64).seed(2));
  auto ids = torch::arange(64, torch::kLong);
  auto x = torch::zeros({64, 2});
  ASSERT_FALSE(torch::equal(saved->forward({x, ids, {}}).idx, loaded->forward({x, ids, {}}).idx));
  torch::load(loaded, path);
  EXPECT_TRUE(torch::equal(saved->forward({x, ids, {}}).idx, loaded->forward({x, ids, {}}).idx));
  std::remove(path.c_str());
}

TEST(GateHash, RejectsOutOfRangeIds) {
  auto gate = make_gate("hash", GateOptions(2, 3).n_ids(4));
  auto x = torch::zeros({2, 2});
  for (int64_t bad : {4, 17, -1}) {
    try {
      gate->forward({x, torch::tensor({int64_t{0}, bad}, torch::kLong), {}});
      FAIL() << "expected moekit::Error for id " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.where(), "ids");
      EXPECT_NE(e.message().find(std::to_string(bad)), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(gate->forward({x, {}, {}}), Error);                                      // missing
  EXPECT_THROW(gate->forward({x, torch::tensor({0, 1, 2}, torch::kLong), {}}), Error);  // wrong T
  EXPECT_THROW(gate->forward({x, torch::tensor({0.0, 1.0}), {}}), Error);               // not ints
  EXPECT_NO_THROW(gate->forward({x, torch::tensor({0, 3}, torch::kLong), {}}));
}

TEST(GateHash, RejectsNonPositiveNIds) {
  EXPECT_THROW(make_gate("hash", GateOptions(2, 3).n_ids(0)), Error);
  EXPECT_THROW(make_gate("hash", GateOptions(2, 3).n_ids(-5)), Error);
}

TEST(GateHash, GradThroughTheHashedExpertsMatchesFiniteDifferences) {
  // Hash weights are constants (1 on the id's expert): the gradient reaches the
  // input and the experts only through the expert each id maps to. Checked on a
  // layer by finite differences, and per expert against the table.
  torch::manual_seed(0);
  auto gate = make_gate("hash", GateOptions(3, 4).n_ids(10));
  moe::MoELayer layer(gate,
                      moe::FFNExperts(moe::FFNExpertsOptions(4, 3, 5).activation("gelu")).ptr());
  layer->to(torch::kDouble);
  auto x = torch::randn({5, 3}, torch::kDouble).requires_grad_();
  auto ids = torch::tensor({1, 9, 4, 4, 0}, torch::kLong);
  auto probe = torch::randn({5, 3}, torch::kDouble);
  Routing r = gate->forward({x, ids, {}});
  EXPECT_EQ(r.weights.scalar_type(), torch::kDouble);
  EXPECT_TRUE(r.weights.sum(1).eq(1).all().item<bool>());
  auto loss = [&] { return (layer->forward(x, ids).y * probe).sum(); };
  testing::expect_grad_matches_finite_differences(loss, testing::grad_inputs(*layer, x));
  auto w1 = layer->named_parameters()["experts.w1"];
  auto g = torch::autograd::grad({loss()}, {w1})[0];
  for (int64_t e = 0; e < 4; ++e) {
    EXPECT_EQ(g[e].abs().max().item<double>() > 0, r.idx.eq(e).any().item<bool>())
        << "expert " << e;
  }
}

}  // namespace
}  // namespace moekit::gates
