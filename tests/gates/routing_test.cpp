#include "moekit/gates/routing.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace moekit::gates {
namespace {

TEST(GateRouting, ActiveExpertsCountWeightsAboveTheirThreshold) {
  // The papers count an expert as active when its weight exceeds 1e-5: a dense
  // gate whose tail weights are 1e-7 is 2-sparse in their tables.
  auto weights = torch::tensor({{0.6, 0.4 - 2e-7, 1e-7, 1e-7}, {1.0 - 2e-5, 1e-5, 1e-5, 0.0}},
                               torch::kDouble);
  Routing r = Routing::from_dense(weights, torch::zeros({}, torch::kDouble));
  EXPECT_EQ(kActiveWeight, 1e-5);
  EXPECT_DOUBLE_EQ(r.mean_active_experts(), (2.0 + 1.0) / 2.0);  // 1e-5 itself is not above
  EXPECT_EQ(r.k_eff(), 4);  // dispatch still runs every non-zero weight
}

TEST(GateRouting, CompactAndDenseFormsAgree) {
  auto idx = torch::tensor({{2, -1}, {0, 1}}, torch::kLong);
  auto w = torch::tensor({{1.0, 0.0}, {0.25, 0.75}});
  Routing r = Routing::from_compact(idx, w, 3, torch::zeros({}));
  EXPECT_TRUE(torch::equal(r.weights, torch::tensor({{0.0, 0.0, 1.0}, {0.25, 0.75, 0.0}})));
  Routing back = Routing::from_dense(r.weights, r.aux_loss);
  EXPECT_EQ(back.k_eff(), 2);
  EXPECT_TRUE(torch::equal(back.idx, torch::tensor({{2, -1}, {1, 0}}, torch::kLong)));
  EXPECT_DOUBLE_EQ(r.mean_active_experts(), 1.5);
}

}  // namespace
}  // namespace moekit::gates
