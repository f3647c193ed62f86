#include "moekit/gates/sinkhorn.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "moekit/core/error.h"
#include "testing/gradcheck.h"

namespace moekit::gates {
namespace {

TEST(GateSinkhorn, RowsAndColumnsSumToOne) {
  torch::manual_seed(0);
  at::Tensor p = sinkhorn(torch::randn({6, 6}, torch::kDouble) * 3, 200);
  EXPECT_TRUE(p.ge(0).all().item<bool>());
  EXPECT_TRUE(torch::allclose(p.sum(0), torch::ones({6}, torch::kDouble), 0, 1e-9));
  EXPECT_TRUE(torch::allclose(p.sum(1), torch::ones({6}, torch::kDouble), 0, 1e-9));
}

TEST(GateSinkhorn, StronglyDiagonalInputGivesIdentity) {
  torch::manual_seed(1);
  at::Tensor la = torch::eye(5) * 1e4 + torch::randn({5, 5});  // like L/τ late in the anneal
  at::Tensor p = sinkhorn(la, 20);
  EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
  EXPECT_TRUE(torch::allclose(p, torch::eye(5), 0, 1e-6));
}

TEST(GateSinkhorn, LogSinkhornIsFiniteForHugeInputs) {
  at::Tensor la = torch::tensor({{1e6, -1e6}, {-1e6, 1e6}});
  at::Tensor lp = log_sinkhorn(la, 5);
  EXPECT_TRUE(torch::isfinite(lp).all().item<bool>());
  EXPECT_TRUE(torch::allclose(lp.exp(), torch::eye(2), 0, 1e-6));
}

TEST(GateSinkhorn, GradMatchesFiniteDifferences) {
  torch::manual_seed(2);
  auto la = torch::randn({4, 4}, torch::kDouble).requires_grad_();
  auto probe = torch::randn({4, 4}, torch::kDouble);
  testing::expect_grad_matches_finite_differences([&] { return (sinkhorn(la, 7) * probe).sum(); },
                                                  {la});
}

TEST(GateSinkhorn, RejectsBadInput) {
  EXPECT_THROW(sinkhorn(torch::zeros({3, 4}), 5), Error);
  EXPECT_THROW(sinkhorn(torch::zeros({3}), 5), Error);
  EXPECT_THROW(sinkhorn(torch::zeros({0, 0}), 5), Error);
  EXPECT_THROW(sinkhorn(torch::zeros({3, 3}), 0), Error);
}

}  // namespace
}  // namespace moekit::gates
