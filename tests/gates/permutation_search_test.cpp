#include "moekit/gates/permutation_search.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <tuple>

#include "moekit/core/error.h"
#include "moekit/gates/assignment.h"
#include "testing/search_gates.h"

namespace moekit::gates {
namespace {
using testing::as_search;
using testing::bare_and_wrapped;

// A k-sparse stand-in for topk/switch with an empty (-1) slot, so the hard
// phase is tested on more than a dense gate.
class FakeSparseGate : public Gate {
 public:
  FakeSparseGate() : Gate("FakeSparseGate") {}
  Routing forward(const GateInput& in) override {
    auto idx = torch::tensor({{1, -1}, {3, 0}, {2, 1}}, torch::kLong);
    auto w = torch::tensor({{1.0f, 0.0f}, {0.7f, 0.3f}, {0.6f, 0.4f}});
    return Routing::from_compact(idx, w, 4, torch::full({}, 0.25f));
  }
};

TEST(GatePermutationSearch, DefaultInitStartsCloseToAHardPermutation) {
  // With L ~ U(±0.05) and τ = 1e-3 (L/τ spans ±50), Π after the first step's
  // 20 Sinkhorn iterations is near a permutation; the old U(±τ/2) init gave a
  // near-uniform Π (n = 6: max entries ~0.27, row entropy 1.76 of log 6 = 1.79).
  // Averages over 100 seeds of the reference's formulas: max entry 0.94 (n = 4),
  // 0.88 (n = 6); row entropy 0.16, 0.27.
  for (const auto& [n, max_low, entropy_high] :
       std::vector<std::tuple<int64_t, double, double>>{{4, 0.9, 0.3}, {6, 0.8, 0.5}}) {
    double max_entry = 0, entropy = 0;
    const int seeds = 100;
    for (int seed = 0; seed < seeds; ++seed) {
      torch::manual_seed(seed);
      auto search = as_search(make_gate("softmax", GateOptions(3, n).local_search(true)));
      const torch::Tensor pi = search->permutation_matrix().detach().to(torch::kDouble);
      max_entry += std::get<0>(pi.max(1)).mean().item<double>() / seeds;
      entropy += -(pi * (pi + 1e-12).log()).sum(1).mean().item<double>() / seeds;
    }
    EXPECT_GT(max_entry, max_low) << "n = " << n;
    EXPECT_LT(entropy, entropy_high) << "n = " << n;
  }
}

TEST(GatePermutationSearch, EvalDuringTheSearchKeepsTopKExactlyKSparse) {
  auto [bare, wrapped] =
      bare_and_wrapped(GateOptions(5, 6).k(2).noisy(false).balance_weight(0), 2, "topk");
  auto x = torch::randn({16, 5});
  wrapped->eval();
  Routing r = wrapped->forward({x, {}, {}});
  EXPECT_TRUE(r.weights.ne(0).sum(1).eq(2).all().item<bool>()) << r.weights;
  EXPECT_DOUBLE_EQ(r.mean_active_experts(), 2.0);
  EXPECT_FALSE(wrapped->hardened());  // evaluating does not end the search
  EXPECT_EQ(wrapped->step(), 0);
  // It is the bare gate composed with the nearest permutation of the soft Π.
  const torch::Tensor perm = wrapped->eval_permutation();
  Routing expected = bare->forward({x, {}, {}});
  for (int64_t j = 0; j < 6; ++j) {
    EXPECT_TRUE(torch::equal(r.weights.select(1, perm[j].item<int64_t>()),
                             expected.weights.select(1, j)));
  }
  const auto assignment = solve_assignment(-wrapped->permutation_matrix().detach());
  EXPECT_TRUE(torch::equal(perm, torch::tensor(assignment)));
}

TEST(GatePermutationSearch, IdentityPermutationLeavesRoutingUnchanged) {
  auto [bare, wrapped] = bare_and_wrapped(GateOptions(5, 4));
  auto x = torch::randn({6, 5});
  Routing expected = bare->forward({x, {}, {}});
  // L/τ = 1000·I: Π equals I to within exp(-1000).
  wrapped->set_permutation_logits(torch::eye(4) * wrapped->options().tau_start() * 1000);
  Routing soft = wrapped->forward({x, {}, {}});
  EXPECT_TRUE(torch::allclose(soft.weights, expected.weights, 0, 1e-6));
  EXPECT_NEAR(soft.aux_loss.item<double>(), 0.0, 1e-4);  // H of a 0/1 matrix with the 1e-6

  wrapped->harden();
  EXPECT_TRUE(torch::equal(wrapped->permutation(), torch::arange(4)));
  Routing hard = wrapped->forward({x, {}, {}});
  EXPECT_TRUE(torch::equal(hard.weights, expected.weights));
  EXPECT_TRUE(torch::equal(hard.idx, expected.idx));
  EXPECT_TRUE(torch::equal(hard.w, expected.w));
  EXPECT_EQ(hard.aux_loss.item<double>(), expected.aux_loss.item<double>());
}

TEST(GatePermutationSearch, HardenedPermutationMapsIdxExactly) {
  auto [bare, wrapped] = bare_and_wrapped(GateOptions(5, 4), 3);
  const std::vector<int64_t> planted{2, 0, 3, 1};
  const double tau = wrapped->options().tau_start();
  wrapped->set_permutation_logits(permutation_to_matrix(planted) * tau * 3 +
                                  torch::rand({4, 4}) * tau);
  wrapped->harden();
  EXPECT_TRUE(wrapped->hardened());
  EXPECT_FALSE(wrapped->permutation_logits().requires_grad());
  EXPECT_TRUE(torch::equal(wrapped->permutation(), torch::tensor(planted)));

  at::Tensor p = wrapped->permutation_matrix();
  EXPECT_TRUE((p.eq(0) | p.eq(1)).all().item<bool>());
  EXPECT_TRUE(torch::equal(p, permutation_to_matrix(planted)));

  auto x = torch::randn({7, 5});
  Routing expected = bare->forward({x, {}, {}});
  Routing r = wrapped->forward({x, {}, {}});
  EXPECT_TRUE(torch::equal(
      r.idx,
      torch::tensor(planted).index_select(0, expected.idx.reshape(-1)).view_as(expected.idx)));
  EXPECT_TRUE(torch::equal(r.w, expected.w));
  for (int64_t j = 0; j < 4; ++j)
    EXPECT_TRUE(torch::equal(r.weights.select(1, planted[j]), expected.weights.select(1, j)));
}

TEST(GatePermutationSearch, HardWrapperKeepsSparseInnerSparse) {
  auto inner = std::make_shared<FakeSparseGate>();
  auto gate = wrap_with_permutation_search(inner, GateOptions(2, 4));
  auto search = as_search(gate);
  const std::vector<int64_t> planted{3, 2, 0, 1};
  search->set_permutation_logits(permutation_to_matrix(planted) * search->options().tau_start());
  search->harden();
  GateInput in{torch::zeros({3, 2}), {}, {}};
  Routing expected = inner->forward(in);
  Routing r = gate->forward(in);
  EXPECT_TRUE(torch::equal(r.idx, torch::tensor({{2, -1}, {1, 3}, {0, 2}}, torch::kLong)));
  EXPECT_TRUE(torch::equal(r.w, expected.w));
  EXPECT_EQ(r.k_eff(), 2);
  EXPECT_DOUBLE_EQ(r.mean_active_experts(), expected.mean_active_experts());
  EXPECT_FLOAT_EQ(r.aux_loss.item<float>(), 0.25f);  // inner aux only after hardening
}

// Rows that do not sum to 1: one token dropped (Switch-style), one half-weighted.
class PartialRowsGate : public Gate {
 public:
  PartialRowsGate() : Gate("PartialRowsGate") {}
  Routing forward(const GateInput& in) override {
    auto idx = torch::tensor({{-1, -1}, {3, 0}, {2, -1}}, torch::kLong);
    auto w = torch::tensor({{0.0f, 0.0f}, {0.7f, 0.3f}, {0.5f, 0.0f}});
    return Routing::from_compact(idx, w, 4, torch::zeros({}));
  }
};

TEST(GatePermutationSearch, SoftRowsKeepTheInnerRowSumsAndEmptyRowsStayEmpty) {
  auto inner = std::make_shared<PartialRowsGate>();
  auto gate = wrap_with_permutation_search(inner, GateOptions(2, 4).tau_start(0.05));
  gate->train();
  GateInput in{torch::zeros({3, 2}), {}, {}};
  Routing r = gate->forward(in);
  EXPECT_TRUE(torch::allclose(r.weights.sum(1), torch::tensor({0.0f, 1.0f, 0.5f}), 0, 1e-6));
  EXPECT_TRUE(torch::equal(r.weights[0], torch::zeros({4})));
  EXPECT_TRUE(torch::isfinite(r.weights).all().item<bool>());
}

TEST(GatePermutationSearch, ForwardsDoNotCountOnlyOptimizerStepsDo) {
  auto options = GateOptions(5, 4)
                     .local_search(true)
                     .search_steps(3)
                     .tau_start(1e-1)
                     .tau_end(1e-3)
                     .sinkhorn_iters_start(10)
                     .sinkhorn_iters_end(30);
  torch::manual_seed(0);
  auto gate = make_gate("softmax", options);
  auto search = as_search(gate);
  auto x = torch::randn({6, 5});
  const double expected_tau[] = {1e-1, 1e-2, 1e-3};
  const int64_t expected_iters[] = {10, 20, 30};
  gate->train();
  for (int64_t s = 0; s < 3; ++s) {
    EXPECT_EQ(search->step(), s);
    EXPECT_NEAR(search->tau(), expected_tau[s], 1e-12);
    EXPECT_EQ(search->sinkhorn_iters(), expected_iters[s]);
    EXPECT_FALSE(search->hardened());
    // Two training forwards per step (THOR-style consistency): one step.
    gate->forward({x, {}, {}}).weights.sum().backward();
    gate->forward({x, {}, {}}).weights.sum().backward();
    EXPECT_EQ(search->step(), s);
    step_gate_schedules(*gate);
  }
  EXPECT_EQ(search->step(), 3);
  EXPECT_TRUE(search->hardened());  // right after the last search step
  EXPECT_FALSE(search->permutation_logits().requires_grad());
  step_gate_schedules(*gate);
  EXPECT_EQ(search->step(), 3);  // the counter stops with the search

  // Restore into a freshly built wrapper with different parameters.
  std::stringstream buffer;
  torch::save(gate, buffer);
  torch::manual_seed(42);
  auto fresh = make_gate("softmax", options);
  auto fresh_search = as_search(fresh);
  EXPECT_FALSE(fresh_search->hardened());
  torch::load(fresh, buffer);
  EXPECT_EQ(fresh_search->step(), 3);
  EXPECT_TRUE(fresh_search->hardened());
  EXPECT_TRUE(torch::equal(fresh_search->permutation(), search->permutation()));
  Routing restored = fresh->forward({x, {}, {}});
  Routing original = gate->forward({x, {}, {}});
  EXPECT_TRUE(torch::equal(restored.idx, original.idx));
  EXPECT_TRUE(torch::equal(restored.weights, original.weights));
  EXPECT_FALSE(fresh_search->permutation_logits().requires_grad());
}

TEST(GatePermutationSearch, SearchEpochsBecomeStepsPerEpoch) {
  torch::manual_seed(0);
  auto gate = make_gate("softmax", GateOptions(3, 4).local_search(true).search_epochs(2.5));
  set_gate_steps_per_epoch(*gate, 7);
  auto search = as_search(gate);
  EXPECT_EQ(search->search_steps(), 18);  // ceil(2.5 · 7)
  for (int i = 0; i < 17; ++i) step_gate_schedules(*gate);
  EXPECT_FALSE(search->hardened());
  step_gate_schedules(*gate);
  EXPECT_TRUE(search->hardened());
  // Without search_epochs the step budget stands.
  auto steps = as_search(make_gate("softmax", GateOptions(3, 4).local_search(true).search_steps(5)));
  set_gate_steps_per_epoch(*steps, 7);
  EXPECT_EQ(steps->search_steps(), 5);
}

TEST(GatePermutationSearch, SoftStateSurvivesSaveAndLoad) {
  auto options = GateOptions(5, 4).local_search(true).search_steps(10).tau_start(0.1);
  torch::manual_seed(0);
  auto gate = make_gate("softmax", options);
  step_gate_schedules(*gate);
  step_gate_schedules(*gate);
  std::stringstream buffer;
  torch::save(gate, buffer);
  torch::manual_seed(7);
  auto fresh = make_gate("softmax", options);
  torch::load(fresh, buffer);
  auto a = as_search(gate), b = as_search(fresh);
  EXPECT_EQ(b->step(), 2);
  EXPECT_FALSE(b->hardened());
  EXPECT_TRUE(b->permutation_logits().requires_grad());
  EXPECT_DOUBLE_EQ(b->tau(), a->tau());
  EXPECT_TRUE(torch::equal(b->permutation_matrix(), a->permutation_matrix()));
  auto x = torch::randn({6, 5});
  for (bool training : {true, false}) {
    gate->train(training);
    fresh->train(training);
    EXPECT_TRUE(
        torch::equal(fresh->forward({x, {}, {}}).weights, gate->forward({x, {}, {}}).weights));
  }
}

TEST(GatePermutationSearch, GumbelNoiseOnlyWhenAskedFor) {
  auto x = torch::randn({6, 3});
  for (double noise : {0.0, 1.0}) {
    torch::manual_seed(0);
    auto gate = make_gate("softmax", GateOptions(3, 4).local_search(true).tau_start(0.05)
                                         .permutation_noise(noise));
    gate->train();
    const bool same = torch::equal(gate->forward({x, {}, {}}).weights,
                                   gate->forward({x, {}, {}}).weights);
    EXPECT_EQ(same, noise == 0.0) << "noise " << noise;
    gate->eval();  // evaluation is exact and noise-free
    EXPECT_TRUE(torch::equal(gate->forward({x, {}, {}}).weights,
                             gate->forward({x, {}, {}}).weights));
  }
}

TEST(GatePermutationSearch, TaskGatesShareOnePermutation) {
  const auto options =
      GateOptions(3, 4).k(2).noisy(false).balance_weight(0).local_search(true).tau_start(0.05);
  torch::manual_seed(0);
  auto gates = make_task_gates("topk", options, 3);
  ASSERT_EQ(gates.size(), 3u);
  auto owner = as_search(gates[0]);
  EXPECT_TRUE(owner->owns_permutation());
  for (int t = 1; t < 3; ++t) {
    auto follower = as_search(gates[t]);
    EXPECT_FALSE(follower->owns_permutation());
    EXPECT_EQ(follower->named_parameters().find("logits"), nullptr);
    EXPECT_TRUE(torch::equal(follower->permutation_matrix(), owner->permutation_matrix()));
  }
  // Only the owner's penalty counts; the shared Π gets gradient from every task.
  auto x = torch::randn({5, 3});
  for (auto& g : gates) g->train();
  Routing r0 = gates[0]->forward({x, {}, {}}), r1 = gates[1]->forward({x, {}, {}});
  EXPECT_GT(r0.aux_loss.item<double>(), 0.0);
  EXPECT_EQ(r1.aux_loss.item<double>(), 0.0);
  auto g = torch::autograd::grad({(r1.weights * torch::randn({5, 4})).sum()},
                                 {owner->permutation_logits()});
  EXPECT_GT(g[0].abs().max().item<double>(), 0.0);
  // One schedule: stepping the owner hardens every task's routing.
  for (int i = 0; i < 1000; ++i) gates[0]->optimizer_step(), gates[1]->optimizer_step();
  EXPECT_EQ(owner->step(), 1000);
  EXPECT_TRUE(as_search(gates[2])->hardened());
  EXPECT_TRUE(torch::equal(as_search(gates[2])->permutation(), owner->permutation()));

  // permutation_per_task: every task gate owns its own Π.
  auto per_task = make_task_gates("topk", GateOptions(options).permutation_per_task(true), 2);
  EXPECT_TRUE(as_search(per_task[1])->owns_permutation());
  // A checkpoint with one Π per task does not load into shared gates (or back).
  std::stringstream buffer;
  torch::save(per_task[1], buffer);
  try {
    torch::load(gates[1], buffer);
    ADD_FAILURE() << "loaded a per-task Π into a gate that shares one";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "gate.permutation_per_task") << e.what();
  }
}

TEST(GatePermutationSearch, AssignmentsStartAtTheInitialArgmaxAndMoveToTheHardenedOne) {
  const int64_t n = 4;
  auto task_gates = make_task_gates("topk", GateOptions(3, n).k(2).local_search(true).search_steps(3), 3);
  torch::nn::Module model;
  for (size_t t = 0; t < task_gates.size(); ++t) model.register_module("gate" + std::to_string(t), task_gates[t]);
  auto owner = as_search(task_gates[0]);
  // L/τ favours the identity: that is the initial argmax.
  owner->set_permutation_logits(torch::eye(n) * 0.05);
  const auto before = search_assignments(model);
  ASSERT_EQ(before.size(), 1u);  // the task gates share the owner's Π
  EXPECT_TRUE(torch::equal(before[0], torch::arange(n)));
  EXPECT_FALSE(search_hardened(model));
  // The search moves to (1 0 3 2): every expert changes, a distance of 4.
  owner->set_permutation_logits(torch::eye(n).index_select(0, torch::tensor({1, 0, 3, 2})) * 0.05);
  while (!owner->hardened()) owner->optimizer_step();
  const auto after = search_assignments(model);
  EXPECT_TRUE(torch::equal(after[0], torch::tensor({1, 0, 3, 2})));
  EXPECT_TRUE(search_hardened(model));
  EXPECT_EQ(mean_hamming_distance(before, after), 4.0);
  // The mean over several Π's; none gives NaN (a model without local search).
  EXPECT_EQ(mean_hamming_distance({torch::arange(3), torch::arange(3)},
                                  {torch::tensor({0, 2, 1}), torch::arange(3)}),
            1.0);
  EXPECT_TRUE(std::isnan(mean_hamming_distance({}, {})));
  torch::nn::Module bare;
  bare.register_module("gate", make_gate("topk", GateOptions(3, n).k(2)));
  EXPECT_TRUE(search_assignments(bare).empty());
  EXPECT_TRUE(search_hardened(bare));
}

TEST(GatePermutationSearch, PrettyPrintShowsScheduleAndInnerGate) {
  auto gate = make_gate("softmax", GateOptions(3, 4).local_search(true).search_steps(77));
  std::ostringstream out;
  gate->pretty_print(out);
  const std::string s = out.str();
  for (const char* part : {"PermutationSearchGate", "search_steps=77", "tau_start=", "tau_end=",
                           "sinkhorn_iters_start=", "sinkhorn_iters_end=",
                           "permutation_entropy_weight=", "permutation_init=0.05",
                           "permutation_noise=0", "SoftmaxGate"})
    EXPECT_NE(s.find(part), std::string::npos) << part << " missing from " << s;
}

TEST(GatePermutationSearch, RejectsBadOptions) {
  auto expect_error = [](const GateOptions& o, const std::string& where) {
    try {
      make_gate("softmax", GateOptions(o).local_search(true));
      ADD_FAILURE() << "expected moekit::Error naming " << where;
    } catch (const Error& e) {
      EXPECT_EQ(e.where(), where) << e.what();
    }
  };
  const GateOptions base(3, 4);
  expect_error(GateOptions(base).search_steps(-1), "search_steps");
  expect_error(GateOptions(base).search_epochs(-1), "search_epochs");
  expect_error(GateOptions(base).tau_end(0), "tau_end");
  expect_error(GateOptions(base).tau_end(-1e-3), "tau_end");
  expect_error(GateOptions(base).tau_start(1e-8), "tau_start");  // below tau_end
  expect_error(GateOptions(base).sinkhorn_iters_start(0), "sinkhorn_iters_start");
  expect_error(GateOptions(base).sinkhorn_iters_end(10), "sinkhorn_iters_end");  // < start
  expect_error(GateOptions(base).permutation_entropy_weight(-1), "permutation_entropy_weight");
  expect_error(GateOptions(base).permutation_init(0), "permutation_init");
  expect_error(GateOptions(base).permutation_noise(-0.5), "permutation_noise");
  // The same options are fine when local search is off: only the wrapper reads them.
  EXPECT_NO_THROW(make_gate("softmax", GateOptions(base).search_steps(-1)));
  // The text form (YAML, --set) is range-checked too, naming the key.
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"permutation_init", "0"}, {"permutation_noise", "-1"}, {"search_epochs", "-2"},
           {"permutation_per_task", "maybe"}}) {
    GateOptions o(base);
    try {
      o.set(key, value);
      ADD_FAILURE() << key << "=" << value << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.where(), key) << e.what();
    }
  }

  auto search = as_search(make_gate("softmax", GateOptions(base).local_search(true)));
  EXPECT_THROW(search->set_permutation_logits(torch::zeros({3, 3})), Error);
  EXPECT_THROW(wrap_with_permutation_search(nullptr, base), Error);
}

}  // namespace
}  // namespace moekit::gates
