#include "benchmarks/parallel_benchmark.h"

#include <torch/torch.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <thread>

#include "moekit/core/error.h"
#include "moekit/dist/expert_parallel.h"
#include "moekit/moe/moe_layer.h"

namespace moekit::bench {
namespace {

moe::MoELayer make_layer(const LayerBenchmarkOptions& o) {
  torch::manual_seed(o.seed());
  auto gate_options = gates::GateOptions(o.d(), o.experts()).k(o.k()).seed(o.seed());
  return moe::MoELayer(
      moe::MoELayerOptions(o.d(), o.hidden(), o.experts()).gate(o.gate()).gate_options(gate_options));
}

double step_ms(moe::MoELayer& layer, const at::Tensor& x) {
  const auto start = std::chrono::steady_clock::now();
  layer->zero_grad();
  auto out = layer->forward(x);
  (out.y.pow(2).mean() + out.aux_loss).backward();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

std::string ParallelBenchmarkResult::json() const {
  return fmt::format(
      "{{\"world_size\": {}, \"tokens\": {}, \"threads_single\": {}, \"threads_per_rank\": {}, "
      "\"ms_single\": {:.3f}, \"ms_parallel\": {:.3f}, \"tokens_per_s_single\": {:.1f}, "
      "\"tokens_per_s_parallel\": {:.1f}, \"speedup\": {:.3f}}}",
      world_size, tokens, threads_single, threads_per_rank, ms_single, ms_parallel,
      tokens_per_s_single(), tokens_per_s_parallel(), ms_single / ms_parallel);
}

ParallelBenchmarkResult run_parallel_layer_benchmark(dist::Group& group,
                                                     const LayerBenchmarkOptions& options,
                                                     int cores) {
  options.validate();
  MOEKIT_CHECK(options.device() == "cpu" && options.dtype() == "f32", "bench",
               "--nproc runs on cpu with f32 only (got {} {})", options.device(), options.dtype());
  const int64_t W = group.world_size(), r = group.rank();
  MOEKIT_CHECK(options.tokens() % W == 0, "tokens", "{} rows do not split over {} ranks",
               options.tokens(), W);
  if (cores <= 0) cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int saved_threads = at::get_num_threads();
  ParallelBenchmarkResult result;
  result.world_size = W;
  result.tokens = options.tokens();
  result.threads_single = cores;
  result.threads_per_rank = std::max<int>(1, cores / static_cast<int>(W));

  torch::manual_seed(options.seed() + 1);
  const at::Tensor x = torch::randn({options.tokens(), options.d()});
  const int64_t rows = options.tokens() / W;

  // Expert-parallel: every rank at once, a step as slow as its slowest rank.
  {
    at::set_num_threads(result.threads_per_rank);
    auto shared_group = std::shared_ptr<dist::Group>(&group, [](dist::Group*) {});
    auto layer = make_layer(options);
    dist::shard_moe_experts(shared_group, *layer);
    const at::Tensor x_local = x.narrow(0, r * rows, rows);
    double best = std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < options.warmup() + options.repeats(); ++i) {
      group.barrier();
      at::Tensor times = at::zeros({W}, at::kDouble);
      times[r] = step_ms(layer, x_local);
      group.all_reduce_sum({times});
      if (i >= options.warmup()) best = std::min(best, times.max().item<double>());
    }
    result.ms_parallel = best;
  }
  // One process with every core, while the others wait at the barrier.
  at::Tensor single = at::zeros({1}, at::kDouble);
  if (r == 0) {
    at::set_num_threads(result.threads_single);
    auto layer = make_layer(options);
    double best = std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < options.warmup() + options.repeats(); ++i) {
      const double ms = step_ms(layer, x);
      if (i >= options.warmup()) best = std::min(best, ms);
    }
    single[0] = best;
  }
  group.broadcast({single}, 0);
  result.ms_single = single.item<double>();
  at::set_num_threads(saved_threads);
  return result;
}

}  // namespace moekit::bench
