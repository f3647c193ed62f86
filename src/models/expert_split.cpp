#include "moekit/models/expert_split.h"

#include <torch/torch.h>

#include <algorithm>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "moekit/core/error.h"

namespace moekit::models {
namespace {

std::string shape_of(const at::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); }

}  // namespace

at::Tensor plan_expert_split(const at::Tensor& importance, int64_t n_experts,
                             int64_t expert_hidden, int64_t shared) {
  MOEKIT_CHECK(importance.dim() == 1, "importance", "expected one score per hidden unit, got shape {}",
               shape_of(importance));
  const int64_t hidden = importance.size(0);
  MOEKIT_CHECK(n_experts >= 1, "experts", "must be at least 1, got {}", n_experts);
  MOEKIT_CHECK(expert_hidden >= 1 && expert_hidden <= hidden, "expert_hidden",
               "must be in [1, {}] (the dense FFN's width), got {}", hidden, expert_hidden);
  MOEKIT_CHECK(shared >= 0 && shared <= expert_hidden, "shared",
               "must be in [0, expert_hidden = {}], got {}", expert_hidden, shared);
  const int64_t others = hidden - shared, slots = expert_hidden - shared;
  MOEKIT_CHECK(n_experts * slots >= others, "expert_hidden",
               "{} experts x {} unshared units = {} < {} unshared units of the dense FFN: "
               "some would be in no expert (raise the experts, expert_hidden or shared)",
               n_experts, slots, n_experts * slots, others);

  // Stable descending order, so equal scores keep the lower unit first.
  const at::Tensor scores = importance.to(at::kDouble).cpu().contiguous();
  const std::vector<double> score(scores.data_ptr<double>(), scores.data_ptr<double>() + hidden);
  const at::Tensor order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const auto rank = order.accessor<int64_t, 1>();
  std::vector<std::vector<int64_t>> units(static_cast<size_t>(n_experts));
  std::vector<std::vector<bool>> has(static_cast<size_t>(n_experts),
                                     std::vector<bool>(static_cast<size_t>(hidden), false));
  auto give = [&](int64_t e, int64_t unit) {
    units[e].push_back(unit);
    has[e][unit] = true;
  };
  for (int64_t r = 0; r < shared; ++r) {
    for (int64_t e = 0; e < n_experts; ++e) give(e, rank[r]);
  }
  for (int64_t r = 0; r < others; ++r) give(r % n_experts, rank[shared + r]);
  // Slots left over (n_experts · slots > others): the most important others
  // the expert lacks; slots <= others, so there are always enough.
  for (int64_t e = 0; e < n_experts; ++e) {
    for (int64_t r = 0; static_cast<int64_t>(units[e].size()) < expert_hidden; ++r) {
      if (!has[e][rank[shared + r]]) give(e, rank[shared + r]);
    }
  }
  at::Tensor plan = torch::empty({n_experts, expert_hidden}, torch::kInt64);
  for (int64_t e = 0; e < n_experts; ++e) {
    // Each expert's own units in descending importance after the shared ones.
    std::vector<int64_t>& u = units[e];
    std::stable_sort(u.begin() + shared, u.end(),
                     [&](int64_t a, int64_t b) { return score[a] > score[b]; });
    plan[e].copy_(torch::tensor(u, torch::kInt64));
  }
  return plan;
}

void copy_split_weights(const torch::nn::Linear& fc1, const torch::nn::Linear& fc2,
                        const at::Tensor& plan, moe::FFNExpertsImpl& experts) {
  const int64_t n = plan.size(0), h = plan.size(1);
  MOEKIT_CHECK(experts.w1.size(0) == n && experts.w1.size(2) == h, "experts",
               "w1 of shape {} does not hold a plan of {} experts x {} units", shape_of(experts.w1), n, h);
  MOEKIT_CHECK(experts.w1.size(1) == fc1->weight.size(1) && experts.w2.size(2) == fc2->weight.size(0),
               "experts", "model width {} differs from the dense FFN's {}", experts.w1.size(1),
               fc1->weight.size(1));
  torch::NoGradGuard no_grad;
  for (int64_t e = 0; e < n; ++e) {
    const at::Tensor idx = plan[e].to(fc1->weight.device());
    experts.w1[e].copy_(fc1->weight.index_select(0, idx).t());
    experts.b1[e].copy_(fc1->bias.index_select(0, idx));
    experts.w2[e].copy_(fc2->weight.index_select(1, idx).t());
    experts.b2[e].copy_(fc2->bias);
  }
}

}  // namespace moekit::models
