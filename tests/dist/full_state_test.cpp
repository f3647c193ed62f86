#include "moekit/dist/full_state.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dist/multiprocess.h"
#include "moekit/core/error.h"
#include "moekit/dist/expert_parallel.h"
#include "moekit/gates/gate.h"
#include "moekit/moe/module_experts.h"
#include "moekit/moe/moe_layer.h"
#include "moekit/moe/multi_gate_moe.h"

namespace moekit::dist {
namespace {

using moekit::testing::expect_workers_pass;
using moekit::testing::is_dist_worker;
using moekit::testing::run_workers;

struct ExpertImpl : torch::nn::Module {
  explicit ExpertImpl(int64_t d) {
    linear = register_module("linear", torch::nn::Linear(d, 3));
    relu = register_module("relu", torch::nn::ReLU());
  }
  at::Tensor forward(const at::Tensor& x) { return relu(linear(x)); }
  torch::nn::Linear linear{nullptr};
  torch::nn::ReLU relu{nullptr};
};
TORCH_MODULE(Expert);

// FFN experts in a MoELayer and Linear module experts (with a ReLU, a module
// without tensors) in a MultiGateMoE: both kinds of ShardedExperts.
struct TwoMoEImpl : torch::nn::Module {
  explicit TwoMoEImpl(int64_t seed) {
    torch::manual_seed(seed);
    const int64_t d = 6, E = 4;
    layer = register_module(
        "layer", moe::MoELayer(moe::MoELayerOptions(d, 8, E).gate("softmax").gate_options(
                     gates::GateOptions(d, E).balance_weight(0))));
    std::vector<torch::nn::AnyModule> experts;
    for (int64_t e = 0; e < E; ++e) {
      experts.emplace_back(Expert(d));
    }
    std::vector<std::shared_ptr<gates::Gate>> gate_list{
        gates::make_gate("softmax", gates::GateOptions(d, E))};
    multi = register_module("multi", moe::MultiGateMoE(gate_list, moe::ModuleExperts(experts).ptr()));
  }
  at::Tensor forward(const at::Tensor& x) {
    const at::Tensor h = layer->forward(x).y;
    return multi->forward(h, gates::GateInput{h, {}, {}}).y[0];
  }
  moe::MoELayer layer{nullptr};
  moe::MultiGateMoE multi{nullptr};
};
TORCH_MODULE(TwoMoE);

void expect_equal_parameters(torch::nn::Module& a, torch::nn::Module& b) {
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& item : pa) {
    ASSERT_NE(pb.find(item.key()), nullptr) << item.key();
    EXPECT_TRUE(item.value().equal(pb[item.key()])) << item.key();
  }
}

void adam_step(TwoMoE& model, torch::optim::Adam& adam, Group& group, const at::Tensor& x) {
  adam.zero_grad();
  model->forward(x).pow(2).mean().backward();
  synchronize_gradients(group, *model);
  adam.step();
}

TEST(DistFullState, OneProcessLayoutIsModuleSave) {
  TwoMoE model(1);
  const FullLayout layout = full_layout(*model);
  EXPECT_EQ(layout.entries.size(), model->parameters().size() + model->buffers().size());
  for (const auto& e : layout.entries) EXPECT_FALSE(e.sharded) << e.name;

  Group group;
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(0.01));
  const at::Tensor x = torch::randn({5, 6});
  adam_step(model, adam, group, x);
  torch::serialize::OutputArchive model_out, optim_out;
  save_full_state(group, *model, &adam, model_out, &optim_out);
  std::stringstream model_bytes, optim_bytes;
  model_out.save_to(model_bytes);
  optim_out.save_to(optim_bytes);

  // What Module::load reads, and an Adam state that continues exactly.
  TwoMoE copy(2);
  torch::optim::Adam copy_adam(copy->parameters(), torch::optim::AdamOptions(0.01));
  torch::serialize::InputArchive model_in, optim_in;
  model_in.load_from(model_bytes);
  optim_in.load_from(optim_bytes);
  load_full_state(*copy, &copy_adam, model_in, &optim_in, "test.pt");
  expect_equal_parameters(*model, *copy);
  adam_step(model, adam, group, x);
  adam_step(copy, copy_adam, group, x);
  expect_equal_parameters(*model, *copy);

  model_bytes.seekg(0);
  torch::serialize::InputArchive plain;
  plain.load_from(model_bytes);
  TwoMoE loaded(3);
  loaded->load(plain);
}

TEST(DistFullState, WrongShapeNamesTheTensor) {
  TwoMoE model(1);
  Group group;
  torch::serialize::OutputArchive out;
  save_full_state(group, *model, nullptr, out, nullptr);
  std::stringstream bytes;
  out.save_to(bytes);
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  auto other = moe::MoELayer(moe::MoELayerOptions(6, 9, 4));
  torch::nn::Module holder;
  holder.register_module("layer", other);
  try {
    load_full_state(holder, nullptr, in, nullptr, "run/best.pt");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("run/best.pt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'layer.experts.w1' has shape [4, 6, 8]"),
              std::string::npos)
        << e.what();
  }
}

TEST(DistFullState, WorkerGathersAndScattersShards) {
  if (!is_dist_worker()) GTEST_SKIP() << "runs inside ShardsRoundTripThroughTheFullLayout";
  auto group = std::make_shared<Group>(moekit::testing::worker_options());
  TwoMoE reference(1), sharded(1);
  ASSERT_EQ(shard_moe_experts(group, *sharded), 2);
  const FullLayout layout = full_layout(*sharded);
  EXPECT_EQ(layout.entries.size(), reference->parameters().size());

  torch::serialize::OutputArchive out;
  save_full_state(*group, *sharded, nullptr, out, nullptr);
  std::stringstream bytes;
  out.save_to(bytes);
  // The gathered archive is the unsharded model's, loadable by Module::load...
  torch::serialize::InputArchive plain;
  plain.load_from(bytes);
  TwoMoE whole(5);
  whole->load(plain);
  expect_equal_parameters(*whole, *reference);
  // ...and by another sharded model, which keeps its own slice.
  bytes.seekg(0);
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  TwoMoE other(7);
  shard_moe_experts(group, *other);
  load_full_state(*other, nullptr, in, nullptr, "test.pt");
  expect_equal_parameters(*other, *sharded);
}

TEST(DistFullState, ShardsRoundTripThroughTheFullLayout) {
  if (is_dist_worker()) GTEST_SKIP();
  expect_workers_pass(run_workers("DistFullState.WorkerGathersAndScattersShards", 2));
}

}  // namespace
}  // namespace moekit::dist
