// Dispatch pieces on their own (DESIGN.md "The routing core"): plan (sort +
// counts), gather, weighted scatter-add (combine) and the grouped expert FFN, at
// a few token counts. Args: {T, d}; E = 8 experts, k = 2 slots per row.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "moekit/moe/dispatch.h"
#include "moekit/moe/experts.h"

namespace {

constexpr int64_t kExperts = 8;
constexpr int64_t kSlots = 2;

torch::Tensor random_idx(int64_t rows) {
  torch::manual_seed(0);
  return torch::randint(kExperts, {rows, kSlots}, torch::kLong);
}

void BM_PlanDispatch(benchmark::State& state) {
  const torch::Tensor idx = random_idx(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(moekit::moe::plan_dispatch(idx, kExperts));
  state.SetItemsProcessed(state.iterations() * idx.numel());
}

void BM_GatherRows(benchmark::State& state) {
  const int64_t rows = state.range(0), d = state.range(1);
  const auto plan = moekit::moe::plan_dispatch(random_idx(rows), kExperts);
  const torch::Tensor x = torch::randn({rows, d});
  for (auto _ : state) benchmark::DoNotOptimize(moekit::moe::gather_rows(x, plan));
  state.SetBytesProcessed(state.iterations() * plan.assignments() * d * 4);
}

void BM_Combine(benchmark::State& state) {
  const int64_t rows = state.range(0), d = state.range(1);
  const auto plan = moekit::moe::plan_dispatch(random_idx(rows), kExperts);
  const torch::Tensor y = torch::randn({plan.assignments(), d});
  const torch::Tensor w = torch::rand({plan.assignments()});
  for (auto _ : state) benchmark::DoNotOptimize(moekit::moe::combine(y, w, plan));
  state.SetBytesProcessed(state.iterations() * plan.assignments() * d * 4);
}

// Gather + combine forward and backward: the dispatch overhead of a training step.
void BM_GatherCombineBackward(benchmark::State& state) {
  const int64_t rows = state.range(0), d = state.range(1);
  const auto plan = moekit::moe::plan_dispatch(random_idx(rows), kExperts);
  const torch::Tensor x = torch::randn({rows, d}, torch::requires_grad());
  const torch::Tensor w = torch::rand({plan.assignments()}, torch::requires_grad());
  const torch::Tensor probe = torch::randn({rows, d});
  for (auto _ : state) {
    auto out = moekit::moe::combine(moekit::moe::gather_rows(x, plan), w, plan);
    benchmark::DoNotOptimize(torch::autograd::grad({out}, {x, w}, {probe}));
  }
}

// The grouped FFN against a dense FFN of the same FLOPs (hidden = k·H).
void BM_GroupedFFNForwardBackward(benchmark::State& state) {
  const int64_t rows = state.range(0), d = state.range(1), hidden = 4 * d;
  auto experts = moekit::moe::FFNExperts(moekit::moe::FFNExpertsOptions(kExperts, d, hidden));
  const auto plan = moekit::moe::plan_dispatch(random_idx(rows), kExperts);
  const torch::Tensor x = torch::randn({plan.assignments(), d}, torch::requires_grad());
  const torch::Tensor probe = torch::randn({plan.assignments(), d});
  for (auto _ : state) {
    auto y = experts->forward(x, plan.counts);
    torch::autograd::backward({y}, {probe});
  }
  state.SetItemsProcessed(state.iterations() * plan.assignments() * d * hidden * 12);
}

void BM_DenseFFNForwardBackward(benchmark::State& state) {
  const int64_t rows = state.range(0), d = state.range(1), hidden = kSlots * 4 * d;
  const torch::Tensor w1 = torch::randn({d, hidden}, torch::requires_grad());
  const torch::Tensor b1 = torch::zeros({hidden}, torch::requires_grad());
  const torch::Tensor w2 = torch::randn({hidden, d}, torch::requires_grad());
  const torch::Tensor b2 = torch::zeros({d}, torch::requires_grad());
  const torch::Tensor x = torch::randn({rows, d}, torch::requires_grad());
  const torch::Tensor probe = torch::randn({rows, d});
  for (auto _ : state) {
    auto y = torch::addmm(b2, torch::relu(torch::addmm(b1, x, w1)), w2);
    torch::autograd::backward({y}, {probe});
  }
  state.SetItemsProcessed(state.iterations() * rows * d * hidden * 12);
}

void Sizes(benchmark::internal::Benchmark* b) {
  for (int64_t rows : {256, 1024, 4096}) b->Args({rows, 512});
  b->Unit(benchmark::kMicrosecond);
}

void FFNSizes(benchmark::internal::Benchmark* b) {
  for (int64_t rows : {256, 1024}) b->Args({rows, 256});
  b->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_PlanDispatch)->Arg(256)->Arg(4096)->Arg(65536)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GatherRows)->Apply(Sizes);
BENCHMARK(BM_Combine)->Apply(Sizes);
BENCHMARK(BM_GatherCombineBackward)->Apply(Sizes);
BENCHMARK(BM_GroupedFFNForwardBackward)->Apply(FFNSizes);
BENCHMARK(BM_DenseFFNForwardBackward)->Apply(FFNSizes);

}  // namespace
