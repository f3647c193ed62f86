#include "moekit/moe/moe_layer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "moekit/core/error.h"
#include "moekit/moe/reference.h"
#include "testing/gradcheck.h"

namespace moekit::moe {
namespace {

TEST(MoeLayer, SoftmaxLayerMatchesNaiveMixture) {
  torch::manual_seed(0);
  MoELayer layer(MoELayerOptions(6, 10, 4).gate("softmax"));
  auto x = torch::randn({2, 3, 6});  // leading dims are flattened and restored
  MoEOutput out = layer->forward(x);
  EXPECT_EQ(out.y.sizes(), x.sizes());
  auto x2d = x.reshape({6, 6});
  auto naive = naive_moe_forward(layer->experts(), x2d, out.routing.weights);
  EXPECT_TRUE(torch::allclose(out.y.reshape({6, 6}), naive, 1e-5, 1e-6));
  EXPECT_EQ(out.routing.k_eff(), 4);
}

TEST(MoeLayer, GradMatchesFiniteDifferences) {
  torch::manual_seed(0);
  MoELayer layer(MoELayerOptions(3, 4, 3).gate("softmax").activation("tanh"));
  layer->to(torch::kDouble);
  auto x = torch::randn({4, 3}, torch::kDouble).requires_grad_();
  std::vector<torch::Tensor> inputs{x};
  for (auto& p : layer->parameters()) inputs.push_back(p);
  testing::expect_grad_matches_finite_differences(
      [&] {
        auto out = layer->forward(x);
        return (out.y * out.y).sum() + out.aux_loss;
      },
      inputs);
}

TEST(MoeLayer, RejectsBadExpertOptions) {
  EXPECT_THROW(MoELayer(MoELayerOptions(4, 0, 2)), Error);
  EXPECT_THROW(MoELayer(MoELayerOptions(4, 8, 2).activation("swish2")), Error);
  EXPECT_THROW(MoELayer(MoELayerOptions(4, 8, 2).gate("nope")), Error);
}

}  // namespace
}  // namespace moekit::moe
