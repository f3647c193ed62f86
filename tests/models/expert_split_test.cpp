#include "moekit/models/expert_split.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "moekit/core/error.h"

namespace moekit::models {
namespace {

std::vector<std::vector<int64_t>> rows_of(const at::Tensor& plan) {
  std::vector<std::vector<int64_t>> rows;
  for (int64_t e = 0; e < plan.size(0); ++e) {
    const at::Tensor r = plan[e].contiguous();
    rows.emplace_back(r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel());
  }
  return rows;
}

TEST(ModelExpertSplit, HandComputedPlan) {
  // Descending importance: units 1, 4, 2, 3, 5, 0. Unit 1 is shared; 4, 2, 3, 5, 0
  // are dealt to experts 0, 1, 0, 1, 0; expert 1's slot left takes unit 4.
  const at::Tensor importance = torch::tensor({0.1, 0.9, 0.5, 0.3, 0.7, 0.2});
  EXPECT_EQ(rows_of(plan_expert_split(importance, 2, 4, 1)),
            (std::vector<std::vector<int64_t>>{{1, 4, 3, 0}, {1, 4, 2, 5}}));
  // No sharing and exact cover: a round-robin deal, nothing repeated.
  EXPECT_EQ(rows_of(plan_expert_split(importance, 3, 2, 0)),
            (std::vector<std::vector<int64_t>>{{1, 3}, {4, 5}, {2, 0}}));
}

TEST(ModelExpertSplit, SharedInEveryExpertEveryUnitSomewhereBalanced) {
  torch::manual_seed(0);
  const int64_t hidden = 64, n = 4;
  const at::Tensor importance = torch::rand({hidden}, torch::kDouble);
  for (const int64_t shared : {0, 5, 16}) {
    for (const int64_t expert_hidden : {(hidden - shared + n - 1) / n + shared, int64_t{30}}) {
      const auto rows = rows_of(plan_expert_split(importance, n, expert_hidden, shared));
      const auto top = std::get<1>(importance.sort(true, 0, true));
      std::set<int64_t> covered;
      for (const auto& row : rows) {
        ASSERT_EQ(static_cast<int64_t>(row.size()), expert_hidden);
        EXPECT_EQ(std::set<int64_t>(row.begin(), row.end()).size(), row.size()) << "repeated unit";
        for (int64_t r = 0; r < shared; ++r) EXPECT_EQ(row[r], top[r].item<int64_t>());
        covered.insert(row.begin(), row.end());
      }
      EXPECT_EQ(static_cast<int64_t>(covered.size()), hidden) << shared << " " << expert_hidden;
    }
  }
  // An exact cover deals every expert the same number of units, and the
  // round-robin in importance order keeps their importance within one unit's.
  const auto rows = rows_of(plan_expert_split(importance, n, 16, 0));
  std::vector<double> sums;
  for (const auto& row : rows) {
    double s = 0;
    for (int64_t u : row) s += importance[u].item<double>();
    sums.push_back(s);
  }
  const double spread = *std::max_element(sums.begin(), sums.end()) -
                        *std::min_element(sums.begin(), sums.end());
  EXPECT_LE(spread, (importance.max() - importance.min()).item<double>());
}

TEST(ModelExpertSplit, BadArgumentsNameTheArgument) {
  const at::Tensor importance = torch::rand({8});
  auto where = [&](int64_t n, int64_t h, int64_t s) {
    try {
      plan_expert_split(importance, n, h, s);
    } catch (const Error& e) {
      return e.where();
    }
    return std::string("accepted");
  };
  EXPECT_EQ(where(2, 3, 0), "expert_hidden");  // 2 x 3 < 8: units left out
  EXPECT_EQ(where(2, 9, 0), "expert_hidden");  // wider than the dense FFN
  EXPECT_EQ(where(2, 4, 5), "shared");         // more shared than an expert holds
  EXPECT_EQ(where(0, 4, 0), "experts");
  EXPECT_EQ(where(2, 4, 0), "accepted");
  EXPECT_EQ(where(3, 4, 2), "accepted");  // 3 x 2 >= 6
  EXPECT_THROW(plan_expert_split(torch::rand({2, 4}), 2, 2, 0), Error);
}

TEST(ModelExpertSplit, CopiedExpertsComputeTheDenseFfn) {
  torch::manual_seed(1);
  const int64_t d = 8, hidden = 12;
  torch::nn::Linear fc1(d, hidden), fc2(hidden, d);
  fc1->to(torch::kDouble);
  fc2->to(torch::kDouble);
  const at::Tensor x = torch::randn({5, d}, torch::kDouble);
  const at::Tensor dense = fc2(torch::relu(fc1(x)));
  const at::Tensor importance = torch::rand({hidden});

  // Every unit shared: each expert is the dense FFN.
  moe::FFNExperts full(moe::FFNExpertsOptions(3, d, hidden));
  full->to(torch::kDouble);
  copy_split_weights(fc1, fc2, plan_expert_split(importance, 3, hidden, hidden), *full);
  for (int64_t e = 0; e < 3; ++e) {
    EXPECT_TRUE(torch::allclose(full->forward_expert(e, x), dense, 0, 1e-12)) << e;
  }
  // A partition (3 experts x 4 units): the experts' outputs, less the output
  // bias each adds, sum to the dense FFN's.
  moe::FFNExperts parts(moe::FFNExpertsOptions(3, d, 4));
  parts->to(torch::kDouble);
  copy_split_weights(fc1, fc2, plan_expert_split(importance, 3, 4, 0), *parts);
  at::Tensor sum = -2 * fc2->bias.detach();
  for (int64_t e = 0; e < 3; ++e) sum = sum + parts->forward_expert(e, x);
  EXPECT_TRUE(torch::allclose(sum, dense, 0, 1e-12));

  moe::FFNExperts wrong(moe::FFNExpertsOptions(2, d, 4));
  EXPECT_THROW(copy_split_weights(fc1, fc2, plan_expert_split(importance, 3, 4, 0), *wrong), Error);
}

}  // namespace
}  // namespace moekit::models
