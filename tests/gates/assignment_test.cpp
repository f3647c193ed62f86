#include "moekit/gates/assignment.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <limits>
#include <numeric>

#include "moekit/core/error.h"

namespace moekit::gates {
namespace {

double total_cost(const at::Tensor& cost, const std::vector<int64_t>& perm) {
  double sum = 0;
  for (size_t i = 0; i < perm.size(); ++i) sum += cost[i][perm[i]].item<double>();
  return sum;
}

bool is_permutation(std::vector<int64_t> perm) {
  std::sort(perm.begin(), perm.end());
  for (size_t i = 0; i < perm.size(); ++i)
    if (perm[i] != static_cast<int64_t>(i)) return false;
  return true;
}

// Naive reference: every one of the n! permutations.
double brute_force_cost(const at::Tensor& cost) {
  std::vector<int64_t> perm(cost.size(0));
  std::iota(perm.begin(), perm.end(), 0);
  double best = std::numeric_limits<double>::infinity();
  do {
    best = std::min(best, total_cost(cost, perm));
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

TEST(GateAssignment, MatchesBruteForceOnRandomMatrices) {
  torch::manual_seed(0);
  for (int64_t n : {1, 2, 3, 5, 6}) {
    for (int trial = 0; trial < 5; ++trial) {
      at::Tensor cost = torch::randn({n, n}, torch::kDouble);
      if (trial == 4) cost = cost.round();  // many ties
      auto perm = solve_assignment(cost);
      ASSERT_EQ(static_cast<int64_t>(perm.size()), n);
      EXPECT_TRUE(is_permutation(perm));
      EXPECT_NEAR(total_cost(cost, perm), brute_force_cost(cost), 1e-9) << "n=" << n;
    }
  }
}

TEST(GateAssignment, IdentityCostCases) {
  // Minimising -I picks the diagonal; minimising I avoids it (a derangement).
  auto diag = solve_assignment(-torch::eye(6));
  EXPECT_EQ(diag, (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  auto off = solve_assignment(torch::eye(6));
  EXPECT_TRUE(is_permutation(off));
  for (size_t i = 0; i < off.size(); ++i) EXPECT_NE(off[i], static_cast<int64_t>(i));
}

TEST(GateAssignment, RecoversAPlantedPermutation) {
  const std::vector<int64_t> planted{3, 0, 4, 1, 2};
  at::Tensor p = permutation_to_matrix(planted, torch::kDouble);
  torch::manual_seed(1);
  auto perm = solve_assignment(-(p + 0.1 * torch::rand({5, 5}, torch::kDouble)));
  EXPECT_EQ(perm, planted);
}

TEST(GateAssignment, PermutationMatrixHasOneOnePerRowAndColumn) {
  at::Tensor p = permutation_to_matrix({2, 0, 1}, torch::kFloat);
  EXPECT_TRUE(torch::equal(p, torch::tensor({{0.f, 0.f, 1.f}, {1.f, 0.f, 0.f}, {0.f, 1.f, 0.f}})));
  EXPECT_THROW(permutation_to_matrix({0, 0, 1}), Error);
  EXPECT_THROW(permutation_to_matrix({0, 3, 1}), Error);
}

TEST(GateAssignment, RejectsNonSquareOrNonFiniteCost) {
  EXPECT_THROW(solve_assignment(torch::zeros({3, 4})), Error);
  EXPECT_THROW(solve_assignment(torch::zeros({3})), Error);
  at::Tensor nan_cost = torch::zeros({3, 3});
  nan_cost[1][2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(solve_assignment(nan_cost), Error);
  at::Tensor inf_cost = torch::zeros({3, 3});
  inf_cost[0][0] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(solve_assignment(inf_cost), Error);
}

}  // namespace
}  // namespace moekit::gates
