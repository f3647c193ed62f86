#include "moekit/moe/experts.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "moekit/core/error.h"
#include "moekit/moe/module_experts.h"

namespace moekit::moe {
namespace {

TEST(MoeExperts, FFNExpertMatchesItsWeights) {
  torch::manual_seed(0);
  auto experts = FFNExperts(FFNExpertsOptions(3, 4, 6).d_out(2).activation("relu"));
  EXPECT_EQ(experts->w1.sizes(), (std::vector<int64_t>{3, 4, 6}));
  EXPECT_EQ(experts->w2.sizes(), (std::vector<int64_t>{3, 6, 2}));
  auto x = torch::randn({5, 4});
  auto expected = torch::relu(x.matmul(experts->w1[1]) + experts->b1[1]).matmul(experts->w2[1]) +
                  experts->b2[1];
  EXPECT_TRUE(torch::allclose(experts->forward_expert(1, x), expected, 1e-5, 1e-6));
}

TEST(MoeExperts, GroupedForwardRunsEachExpertOnItsSlice) {
  torch::manual_seed(0);
  auto experts = FFNExperts(FFNExpertsOptions(3, 4, 6));
  auto x = torch::randn({5, 4});
  auto y = experts->forward(x, {2, 0, 3});
  EXPECT_TRUE(torch::allclose(y.narrow(0, 0, 2), experts->forward_expert(0, x.narrow(0, 0, 2))));
  EXPECT_TRUE(torch::allclose(y.narrow(0, 2, 3), experts->forward_expert(2, x.narrow(0, 2, 3))));
  EXPECT_THROW(experts->forward(x, {2, 2, 2}), Error);
}

struct TwoLayerImpl : torch::nn::Module {
  TwoLayerImpl() : a(register_module("a", torch::nn::Linear(4, 3))), b(register_module("b", torch::nn::Linear(3, 2))) {}
  torch::Tensor forward(torch::Tensor x) { return b(torch::relu(a(x))); }
  torch::nn::Linear a, b;
};
TORCH_MODULE(TwoLayer);

TEST(MoeExperts, ModuleExpertsRunArbitraryModules) {
  torch::manual_seed(0);
  std::vector<torch::nn::AnyModule> modules{
      torch::nn::AnyModule(torch::nn::Linear(4, 2)),
      torch::nn::AnyModule(TwoLayer())};
  ModuleExperts experts(modules);
  EXPECT_EQ(experts->n_experts(), 2);
  EXPECT_EQ(experts->named_parameters().size(), 6u);
  auto x = torch::randn({3, 4});
  EXPECT_TRUE(torch::allclose(experts->forward_expert(0, x), modules[0].forward(x)));
}

TEST(MoeExperts, RejectsBadOptions) {
  EXPECT_THROW(FFNExperts(FFNExpertsOptions(0, 4, 6)), Error);
  EXPECT_THROW(FFNExperts(FFNExpertsOptions(2, 4, 6).activation("bogus")), Error);
  EXPECT_THROW(ModuleExperts(std::vector<torch::nn::AnyModule>{}), Error);
}

}  // namespace
}  // namespace moekit::moe
