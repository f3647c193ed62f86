#include "moekit/gates/permutation_search.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>

#include "moekit/core/error.h"
#include "moekit/gates/assignment.h"
#include "testing/gradcheck.h"

namespace moekit::gates {
namespace {

std::shared_ptr<PermutationSearchGate> as_search(const std::shared_ptr<Gate>& gate) {
  auto search = std::dynamic_pointer_cast<PermutationSearchGate>(gate);
  EXPECT_NE(search, nullptr) << "make_gate did not wrap the gate";
  return search;
}

// The same softmax gate twice, bare and wrapped: the inner parameters are drawn
// before L, so one seed gives both the same inner gate.
struct BareAndWrapped {
  std::shared_ptr<Gate> bare;
  std::shared_ptr<PermutationSearchGate> wrapped;
};

BareAndWrapped bare_and_wrapped(GateOptions options, uint64_t seed = 0) {
  torch::manual_seed(seed);
  auto bare = make_gate("softmax", options.local_search(false));
  torch::manual_seed(seed);
  auto wrapped = as_search(make_gate("softmax", options.local_search(true)));
  return {bare, wrapped};
}

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

TEST(GatePermutationSearch, IdentityPermutationLeavesRoutingUnchanged) {
  auto [bare, wrapped] = bare_and_wrapped(GateOptions(5, 4));
  auto x = torch::randn({6, 5});
  Routing expected = bare->forward({x, {}, {}});
  // L/τ = 1000·I: Π equals I to within exp(-1000).
  wrapped->set_permutation_logits(torch::eye(4) * wrapped->options().tau_start() * 1000);
  wrapped->eval();
  Routing soft = wrapped->forward({x, {}, {}});
  EXPECT_TRUE(torch::allclose(soft.weights, expected.weights, 0, 1e-6));
  EXPECT_NEAR(soft.aux_loss.item<double>(), 0.0, 1e-6);

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
  EXPECT_TRUE(torch::equal(p.sum(0), torch::ones({4})));
  EXPECT_TRUE(torch::equal(p.sum(1), torch::ones({4})));
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
  EXPECT_TRUE(r.weights.ne(0).sum(1).le(2).all().item<bool>());
  EXPECT_DOUBLE_EQ(r.mean_active_experts(), expected.mean_active_experts());
  EXPECT_FLOAT_EQ(r.aux_loss.item<float>(), 0.25f);  // inner aux only after hardening
}

TEST(GatePermutationSearch, SoftPhaseRemapsWeightsAndAddsEntropy) {
  auto [bare, wrapped] =
      bare_and_wrapped(GateOptions(5, 4).tau_start(0.1).permutation_entropy_weight(0.5), 1);
  wrapped->eval();
  auto x = torch::randn({6, 5});
  Routing r = wrapped->forward({x, {}, {}});
  at::Tensor pi = wrapped->permutation_matrix().detach();
  EXPECT_TRUE(torch::allclose(pi.sum(0), torch::ones({4}), 0, 1e-5));
  EXPECT_TRUE(torch::allclose(pi.sum(1), torch::ones({4}), 0, 1e-5));
  EXPECT_FALSE(torch::allclose(pi, torch::full({4, 4}, 0.25), 0, 1e-3));  // not exactly uniform
  Routing expected = bare->forward({x, {}, {}});
  EXPECT_TRUE(torch::allclose(r.weights, expected.weights.matmul(pi), 0, 1e-6));
  EXPECT_TRUE(torch::allclose(r.weights.sum(1), torch::ones({6}), 0, 1e-5));
  const double entropy = -(pi * pi.log()).sum(1).mean().item<double>();
  EXPECT_GT(entropy, 1.0);  // soft start: close to log 4
  EXPECT_NEAR(r.aux_loss.item<double>(), 0.5 * entropy, 1e-5);
  EXPECT_EQ(wrapped->step(), 0);  // eval forwards are not search steps
}

TEST(GatePermutationSearch, StepCounterAnnealsAndHardensAfterSearchSteps) {
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
  for (int64_t s = 0; s < 3; ++s) {
    EXPECT_EQ(search->step(), s);
    EXPECT_NEAR(search->tau(), expected_tau[s], 1e-12);
    EXPECT_EQ(search->sinkhorn_iters(), expected_iters[s]);
    EXPECT_FALSE(search->hardened());
    gate->eval();
    gate->forward({x, {}, {}});
    EXPECT_EQ(search->step(), s);  // eval forwards do not count
    gate->train();
    Routing r = gate->forward({x, {}, {}});
    r.weights.sum().backward();  // also after the forward that hardened L
  }
  EXPECT_EQ(search->step(), 3);
  EXPECT_TRUE(search->hardened());
  EXPECT_FALSE(search->permutation_logits().requires_grad());
  Routing hard = gate->forward({x, {}, {}});
  EXPECT_EQ(search->step(), 4);

  // Restore into a freshly built wrapper with different parameters.
  std::stringstream buffer;
  torch::save(gate, buffer);
  torch::manual_seed(42);
  auto fresh = make_gate("softmax", options);
  auto fresh_search = as_search(fresh);
  EXPECT_FALSE(fresh_search->hardened());
  torch::load(fresh, buffer);
  EXPECT_EQ(fresh_search->step(), 4);
  EXPECT_TRUE(fresh_search->hardened());
  EXPECT_TRUE(torch::equal(fresh_search->permutation(), search->permutation()));
  EXPECT_TRUE(torch::equal(fresh_search->permutation_logits(), search->permutation_logits()));
  Routing restored = fresh->forward({x, {}, {}});
  Routing original = gate->forward({x, {}, {}});
  EXPECT_TRUE(torch::equal(restored.idx, original.idx));
  EXPECT_TRUE(torch::equal(restored.weights, original.weights));
  EXPECT_FALSE(fresh_search->permutation_logits().requires_grad());
}

TEST(GatePermutationSearch, SoftStateSurvivesSaveAndLoad) {
  auto options = GateOptions(5, 4).local_search(true).search_steps(10).tau_start(0.1);
  torch::manual_seed(0);
  auto gate = make_gate("softmax", options);
  auto x = torch::randn({6, 5});
  gate->forward({x, {}, {}});
  gate->forward({x, {}, {}});
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
  gate->eval();
  fresh->eval();
  EXPECT_TRUE(
      torch::equal(fresh->forward({x, {}, {}}).weights, gate->forward({x, {}, {}}).weights));
}

TEST(GatePermutationSearch, GradMatchesFiniteDifferences) {
  torch::manual_seed(0);
  auto gate = make_gate("softmax", GateOptions(3, 4)
                                       .local_search(true)
                                       .tau_start(1e-1)
                                       .tau_end(1e-1)
                                       .sinkhorn_iters_start(20)
                                       .sinkhorn_iters_end(20)
                                       .permutation_entropy_weight(0.1));
  gate->to(torch::kDouble);
  gate->eval();  // no step counting between finite-difference evaluations
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

TEST(GatePermutationSearch, PrettyPrintShowsScheduleAndInnerGate) {
  auto gate = make_gate("softmax", GateOptions(3, 4).local_search(true).search_steps(77));
  std::ostringstream out;
  gate->pretty_print(out);
  const std::string s = out.str();
  for (const char* part : {"PermutationSearchGate", "search_steps=77",
                           "tau_start=", "tau_end=", "sinkhorn_iters_start=", "sinkhorn_iters_end=",
                           "permutation_entropy_weight=", "SoftmaxGate"})
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
  expect_error(GateOptions(base).tau_end(0), "tau_end");
  expect_error(GateOptions(base).tau_end(-1e-3), "tau_end");
  expect_error(GateOptions(base).tau_start(1e-8), "tau_start");  // below tau_end
  expect_error(GateOptions(base).sinkhorn_iters_start(0), "sinkhorn_iters_start");
  expect_error(GateOptions(base).sinkhorn_iters_end(10), "sinkhorn_iters_end");  // < start
  expect_error(GateOptions(base).permutation_entropy_weight(-1), "permutation_entropy_weight");
  // The same options are fine when local search is off: only the wrapper reads them.
  EXPECT_NO_THROW(make_gate("softmax", GateOptions(base).search_steps(-1)));

  auto search = as_search(make_gate("softmax", GateOptions(base).local_search(true)));
  EXPECT_THROW(search->set_permutation_logits(torch::zeros({3, 3})), Error);
  EXPECT_THROW(wrap_with_permutation_search(nullptr, base), Error);
}

}  // namespace
}  // namespace moekit::gates
