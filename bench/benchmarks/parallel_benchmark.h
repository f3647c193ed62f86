#pragma once
#include <cstdint>
#include <string>

#include "moekit/dist/process_group.h"
#include "benchmarks/layer_benchmark.h"

namespace moekit::bench {

/// `moekit bench moe-layer --nproc N`: the MoE layer of `options` (gate, E, k, d,
/// H) trained on one global batch of options.tokens() rows, timed in one run
/// two ways: expert-parallel over the group's W ranks (tokens/W rows each, the
/// experts sharded, cores/W intra-op threads each), and in one process (rank 0
/// alone with every core, the others waiting). Forward + backward per step.
struct ParallelBenchmarkResult {
  int64_t world_size = 1;
  int64_t tokens = 0;          // global rows per step
  int threads_single = 1;      // intra-op threads of the one-process run
  int threads_per_rank = 1;    // of each rank in the parallel run
  double ms_single = 0;        // fastest step, one process
  double ms_parallel = 0;      // fastest step, slowest rank, expert-parallel
  double tokens_per_s_single() const { return tokens / (ms_single / 1e3); }
  double tokens_per_s_parallel() const { return tokens / (ms_parallel / 1e3); }
  /// One JSON object on one line.
  std::string json() const;
};

/// Collective: every rank of `group` calls it; every rank gets rank 0's result.
/// `cores` = the cores shared by the ranks of this machine (0: hardware threads).
ParallelBenchmarkResult run_parallel_layer_benchmark(dist::Group& group,
                                                     const LayerBenchmarkOptions& options,
                                                     int cores = 0);

}  // namespace moekit::bench
