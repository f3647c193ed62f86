#include "moekit/dist/expert_parallel.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>

#include "dist/multiprocess.h"
#include "moekit/gates/gate.h"
#include "moekit/moe/module_experts.h"
#include "moekit/moe/moe_layer.h"
#include "moekit/moe/multi_gate_moe.h"
#include "testing/errors.h"

namespace moekit::dist {
namespace {

using moekit::testing::expect_workers_pass;
using moekit::testing::is_dist_worker;
using moekit::testing::run_workers;

constexpr double kTol = 1e-9;  // double precision; the issue asks for 1e-5

std::map<std::string, torch::Tensor> grads(torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : m.named_parameters()) {
    out[p.key()] = p.value().grad().defined() ? p.value().grad() : torch::zeros_like(p.value());
  }
  return out;
}

void expect_close(const torch::Tensor& a, const torch::Tensor& b, const std::string& what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const double diff = a.numel() == 0 ? 0.0 : (a - b).abs().max().item<double>();
  EXPECT_LE(diff, kTol) << what;
}

TEST(DistExpertParallel, OneProcessShardIsTheWholeLayer) {
  auto group = std::make_shared<Group>();
  torch::manual_seed(0);
  moe::MoELayer layer(moe::MoELayerOptions(4, 8, 3).gate("topk"));
  EXPECT_EQ(shard_moe_experts(group, *layer), 0);  // one process: nothing to shard
  auto sharded = shard_experts(group, std::dynamic_pointer_cast<moe::Experts>(
                                          layer->named_children()["experts"]));
  auto x = torch::randn({5, 4});
  EXPECT_TRUE(sharded->forward(x, {2, 0, 3}).allclose(layer->experts().forward(x, {2, 0, 3})));
}

// --- two processes: every gate, MoELayer ------------------------------------------

TEST(DistExpertParallel, WorkerLayerMatchesSingleProcess) {
  if (!is_dist_worker()) GTEST_SKIP() << "runs inside LayerMatchesSingleProcessForEveryGate";
  auto group = std::make_shared<Group>(moekit::testing::worker_options());
  const int64_t r = group->rank(), W = group->world_size(), E = 4, L = E / W, d = 6;
  for (const auto& info : gates::registered_gates()) {
    SCOPED_TRACE(info.name);
    auto make = [&] {
      torch::manual_seed(1);
      auto gate_options = gates::GateOptions(d, E).k(2).n_ids(50).seed(3).granularity("token");
      moe::MoELayer layer(
          moe::MoELayerOptions(d, 8, E).gate(info.name).gate_options(gate_options));
      layer->to(torch::kDouble);
      return layer;
    };
    auto reference = make();
    auto sharded = make();
    ASSERT_EQ(shard_moe_experts(group, *sharded), 1);
    ASSERT_EQ(sharded->experts().n_experts(), E);

    // Different rows per rank, so the splits are uneven.
    const int64_t T = 9 + 4 * r;
    torch::manual_seed(100 + r);
    const auto x = torch::randn({T, d}, torch::kDouble);
    const auto ids = torch::randint(50, {T}, torch::kLong);
    const auto g = torch::randn({T, d}, torch::kDouble);
    auto run = [&](moe::MoELayer& layer) {
      auto xi = x.clone().requires_grad_(true);
      torch::manual_seed(200 + r);  // the same gate noise and random draws in both runs
      auto out = layer->forward(xi, ids);
      ((out.y * g).sum() + out.aux_loss).backward();
      return std::make_pair(out.y.detach(), xi.grad());
    };
    const auto [y_ref, gx_ref] = run(reference);
    const auto [y_ep, gx_ep] = run(sharded);
    expect_close(y_ep, y_ref, "output");
    expect_close(gx_ep, gx_ref, "input gradient");

    auto ref_grads = grads(*reference), ep_grads = grads(*sharded);
    for (const auto& [name, grad] : ref_grads) {
      if (name.rfind("gate.", 0) == 0) {
        expect_close(ep_grads.at(name), grad, name);
        continue;
      }
      // One process would see every rank's rows: sum the per-rank references.
      group->all_reduce_sum({grad});
      const std::string local = "experts.local." + name.substr(std::string("experts.").size());
      ASSERT_TRUE(ep_grads.count(local)) << local;
      expect_close(ep_grads.at(local), grad.narrow(0, r * L, L), name);
    }
  }
  // Experts that do not split evenly are refused.
  auto odd = std::make_shared<moe::FFNExpertsImpl>(moe::FFNExpertsOptions(3, 4, 4));
  moekit::testing::expect_error([&] { shard_experts(group, odd); },
                                {"n_experts", "3 experts", "2 ranks"});
}

TEST(DistExpertParallel, LayerMatchesSingleProcessForEveryGate) {
  if (is_dist_worker()) GTEST_SKIP();
  expect_workers_pass(run_workers("DistExpertParallel.WorkerLayerMatchesSingleProcess", 2));
}

// --- two processes: multi-gate with module experts ---------------------------------

TEST(DistExpertParallel, WorkerMultiGateMatchesSingleProcess) {
  if (!is_dist_worker()) GTEST_SKIP() << "runs inside MultiGateMatchesSingleProcess";
  auto group = std::make_shared<Group>(moekit::testing::worker_options());
  const int64_t r = group->rank(), E = 4, L = 2, d = 5;
  auto make = [&] {
    torch::manual_seed(4);
    std::vector<torch::nn::AnyModule> experts;
    for (int64_t e = 0; e < E; ++e) experts.emplace_back(torch::nn::Linear(d, 3));
    std::vector<std::shared_ptr<gates::Gate>> gate_list{
        gates::make_gate("softmax", gates::GateOptions(d, E)),
        gates::make_gate("topk", gates::GateOptions(d, E).k(2).noisy(false))};
    moe::MultiGateMoE model(gate_list, moe::ModuleExperts(experts).ptr());
    model->to(torch::kDouble);
    return model;
  };
  auto reference = make();
  auto sharded = make();
  ASSERT_EQ(shard_moe_experts(group, *sharded), 1);
  torch::manual_seed(10 + r);
  const auto x = torch::randn({7 + r, d}, torch::kDouble);
  auto run = [&](moe::MultiGateMoE& model) {
    auto xi = x.clone().requires_grad_(true);
    auto out = model->forward(xi, gates::GateInput{xi, {}, {}});
    (out.y[0].pow(2).sum() + out.y[1].sum() + out.aux_loss).backward();
    return std::make_tuple(out.y[0].detach(), out.y[1].detach(), xi.grad());
  };
  const auto [a_ref, b_ref, gx_ref] = run(reference);
  const auto [a_ep, b_ep, gx_ep] = run(sharded);
  expect_close(a_ep, a_ref, "task 0");
  expect_close(b_ep, b_ref, "task 1");
  expect_close(gx_ep, gx_ref, "input gradient");
  auto ref_grads = grads(*reference), ep_grads = grads(*sharded);
  for (int64_t e = 0; e < E; ++e) {
    for (const std::string p : {"weight", "bias"}) {
      const std::string name = "experts.expert_" + std::to_string(e) + "." + p;
      group->all_reduce_sum({ref_grads.at(name)});
      const std::string local = "experts.local.expert_" + std::to_string(e) + "." + p;
      const bool owned = e / L == r;
      ASSERT_EQ(ep_grads.count(local) == 1, owned) << local;
      if (owned) expect_close(ep_grads.at(local), ref_grads.at(name), name);
    }
  }
}

TEST(DistExpertParallel, MultiGateMatchesSingleProcess) {
  if (is_dist_worker()) GTEST_SKIP();
  expect_workers_pass(run_workers("DistExpertParallel.WorkerMultiGateMatchesSingleProcess", 2));
}

// --- two processes: a short training run ------------------------------------------

struct NetImpl : torch::nn::Module {
  NetImpl(const std::string& gate) {
    in = register_module("in", torch::nn::Linear(4, 8));
    auto gate_options = gates::GateOptions(8, 4).k(2).noisy(false).balance_weight(0);
    moe = register_module("moe", moe::MoELayer(moe::MoELayerOptions(8, 16, 4).gate(gate).gate_options(gate_options)));
    out = register_module("out", torch::nn::Linear(8, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return out(moe->forward(torch::relu(in(x))).y);
  }
  torch::nn::Linear in{nullptr}, out{nullptr};
  moe::MoELayer moe{nullptr};
};
TORCH_MODULE(Net);

TEST(DistExpertParallel, WorkerTrainingMatchesSingleProcess) {
  if (!is_dist_worker()) GTEST_SKIP() << "runs inside TrainingMatchesSingleProcessLossCurve";
  auto group = std::make_shared<Group>(moekit::testing::worker_options());
  const int64_t r = group->rank(), W = group->world_size(), B = 16, b = B / W;
  for (const std::string gate : {"softmax", "topk"}) {
    SCOPED_TRACE(gate);
    torch::manual_seed(5);
    Net reference(gate);
    torch::manual_seed(5 + r);  // rank 1 starts elsewhere: broadcast must fix that
    Net model(gate);
    broadcast_module(*group, *model);
    shard_moe_experts(group, *model);
    torch::optim::Adam ref_opt(reference->parameters(), torch::optim::AdamOptions(1e-2));
    torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-2));
    for (int step = 0; step < 6; ++step) {
      torch::manual_seed(1000 + step);  // the same global batch on every rank
      const auto x = torch::randn({B, 4});
      const auto y = x.sum(1, true).sin();
      ref_opt.zero_grad();
      const auto ref_loss = torch::mse_loss(reference->forward(x), y);
      ref_loss.backward();
      ref_opt.step();

      opt.zero_grad();
      const auto loss = torch::mse_loss(model->forward(x.narrow(0, r * b, b)), y.narrow(0, r * b, b));
      loss.backward();
      synchronize_gradients(*group, *model);
      opt.step();
      auto global = loss.detach().clone().reshape({1});
      group->all_reduce_mean({global});
      EXPECT_NEAR(global.item<double>(), ref_loss.item<double>(), 1e-5) << "step " << step;
    }
  }
}

TEST(DistExpertParallel, TrainingMatchesSingleProcessLossCurve) {
  if (is_dist_worker()) GTEST_SKIP();
  expect_workers_pass(run_workers("DistExpertParallel.WorkerTrainingMatchesSingleProcess", 2));
}

}  // namespace
}  // namespace moekit::dist
