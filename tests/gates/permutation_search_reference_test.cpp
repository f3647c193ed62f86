// The local-search gate against an independent port of the reference
// (learn_permutations.py) in double precision, and its gradients against
// finite differences.
#include "moekit/gates/permutation_search.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "testing/gradcheck.h"
#include "testing/search_gates.h"

namespace moekit::gates {
namespace {
using testing::as_search;
using testing::bare_and_wrapped;

// ---- an independent port of the reference (learn_permutations.py), in double ----

// log10 τ interpolated linearly between log10 τ_start and log10 τ_end; the
// Sinkhorn iterations linearly between their ends (moekit's step s of S maps
// to the fraction s / (S - 1) of the schedule).
double reference_tau(int64_t step, int64_t steps, double start, double end) {
  const double t = steps <= 1 ? 1.0 : std::min(1.0, double(step) / double(steps - 1));
  return std::pow(10.0, std::log10(start) + t * (std::log10(end) - std::log10(start)));
}

// Alternate row and column normalisation in log space, then exp.
torch::Tensor reference_sinkhorn(torch::Tensor log_alpha, int64_t iters) {
  for (int64_t i = 0; i < iters; ++i) {
    log_alpha = log_alpha - torch::logsumexp(log_alpha, 1, /*keepdim=*/true);
    log_alpha = log_alpha - torch::logsumexp(log_alpha, 0, /*keepdim=*/true);
  }
  return log_alpha.exp();
}

double reference_entropy(const torch::Tensor& pi) {
  auto h = [](const torch::Tensor& p) { return -(p * (p + 1e-6).log()).sum().item<double>(); };
  return h(pi) + h(pi / pi.sum(1, true));
}

// argmax over all n! permutations of Σ_i Π[i, perm[i]] (small n only).
std::vector<int64_t> brute_force_assignment(const torch::Tensor& pi) {
  const int64_t n = pi.size(0);
  std::vector<int64_t> perm(n), best;
  std::iota(perm.begin(), perm.end(), 0);
  double best_score = -1;
  auto a = pi.accessor<double, 2>();
  do {
    double score = 0;
    for (int64_t i = 0; i < n; ++i) score += a[i][perm[i]];
    if (score > best_score) best_score = score, best = perm;
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

TEST(GatePermutationSearch, MatchesReferencePortAtStartMidSearchAndAfterHardening) {
  const int64_t n = 4, steps = 10;
  const double weight = 1e-4;
  auto [bare, wrapped] = bare_and_wrapped(
      GateOptions(5, n).k(2).noisy(false).balance_weight(0).search_steps(steps), 5, "topk");
  bare->to(torch::kDouble);
  wrapped->to(torch::kDouble);
  wrapped->train();
  auto x = torch::randn({8, 5}, torch::kDouble);
  const torch::Tensor inner = bare->forward({x, {}, {}}).weights;  // [8, n], 2 per row
  const torch::Tensor l = wrapped->permutation_logits().detach().clone();
  EXPECT_LE(l.abs().max().item<double>(), 0.05);

  for (int64_t step : {int64_t{0}, int64_t{5}}) {
    SCOPED_TRACE("step " + std::to_string(step));
    while (wrapped->step() < step) wrapped->optimizer_step();
    const double tau = reference_tau(step, steps, 1e-3, 1e-7);
    const auto iters = std::llround(20 + (150 - 20) * std::min(1.0, step / double(steps - 1)));
    const torch::Tensor pi = reference_sinkhorn(l / tau, iters);
    // The reference: g · Π, divided by its row sum.
    torch::Tensor expected = inner.matmul(pi);
    expected = expected / expected.sum(1, true);
    Routing r = wrapped->forward({x, {}, {}});
    EXPECT_TRUE(torch::allclose(r.weights, expected, 1e-9, 1e-12)) << r.weights << expected;
    EXPECT_NEAR(r.aux_loss.item<double>(), weight * reference_entropy(pi), 1e-12);
    // Evaluation routes with the exact assignment of the same Π.
    const auto perm = brute_force_assignment(pi);
    wrapped->eval();
    Routing e = wrapped->forward({x, {}, {}});
    wrapped->train();
    auto expected_eval = torch::zeros_like(inner);
    for (int64_t j = 0; j < n; ++j) expected_eval.select(1, perm[j]).copy_(inner.select(1, j));
    EXPECT_TRUE(torch::equal(e.weights, expected_eval));
  }
  // After the search: the hardened Π is the assignment of the last soft one.
  const torch::Tensor last = reference_sinkhorn(
      l / reference_tau(steps, steps, 1e-3, 1e-7), 150);
  while (!wrapped->hardened()) wrapped->optimizer_step();
  EXPECT_EQ(wrapped->step(), steps);
  const auto perm = brute_force_assignment(last);
  EXPECT_TRUE(torch::equal(wrapped->permutation(), torch::tensor(perm)));
  Routing r = wrapped->forward({x, {}, {}});
  EXPECT_EQ(r.aux_loss.item<double>(), 0.0);  // topk without balance loss, no Π penalty
  EXPECT_TRUE(r.weights.gt(0).sum(1).eq(2).all().item<bool>());
}

TEST(GatePermutationSearch, GradMatchesFiniteDifferences) {
  torch::manual_seed(0);
  auto gate = make_gate("softmax", GateOptions(3, 4)
                                       .local_search(true)
                                       .tau_start(1e-1)
                                       .tau_end(1e-1)
                                       .sinkhorn_iters_start(20)
                                       .sinkhorn_iters_end(20)
                                       .permutation_init(0.05)
                                       .permutation_entropy_weight(0.1));
  gate->to(torch::kDouble);
  gate->train();  // the soft phase; forwards do not move the schedule
  auto x = torch::randn({5, 3}, torch::kDouble).requires_grad_();
  auto probe = torch::randn({5, 4}, torch::kDouble);
  std::vector<torch::Tensor> inputs{x};
  for (auto& p : gate->parameters()) inputs.push_back(p);
  ASSERT_EQ(inputs.size(), 4u);  // x, inner proj weight and bias, L
  auto weights_loss = [&] { return (gate->forward({x, {}, {}}).weights * probe).sum(); };
  auto aux_loss = [&] { return gate->forward({x, {}, {}}).aux_loss; };
  // L must actually receive a gradient, or the check below proves nothing.
  auto logits = as_search(gate)->permutation_logits();
  auto g = torch::autograd::grad({weights_loss()}, {logits})[0];
  EXPECT_GT(g.abs().max().item<double>(), 1e-3);
  testing::expect_grad_matches_finite_differences(weights_loss, inputs);
  testing::expect_grad_matches_finite_differences(aux_loss, {logits});
}

TEST(GatePermutationSearch, HardenedGradMatchesFiniteDifferences) {
  torch::manual_seed(0);
  auto gate = make_gate("softmax", GateOptions(3, 4).local_search(true));
  gate->to(torch::kDouble);
  as_search(gate)->harden();
  auto x = torch::randn({5, 3}, torch::kDouble).requires_grad_();
  auto probe = torch::randn({5, 4}, torch::kDouble);
  std::vector<torch::Tensor> inputs{x};
  for (auto& p : as_search(gate)->inner().parameters()) inputs.push_back(p);
  testing::expect_grad_matches_finite_differences(
      [&] {
        return (gate->forward({x, {}, {}}).weights * probe).sum();
      },
      inputs);
}

}  // namespace
}  // namespace moekit::gates
