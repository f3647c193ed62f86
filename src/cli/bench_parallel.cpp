// `moekit bench moe-layer --nproc N`: the expert-parallel layer in N processes
// against one process, timed in the same run (dist/parallel_benchmark.h).
// Started outside a process group, it re-runs itself under `moekit launch`.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>

#include "moekit/core/error.h"
#include "benchmarks/parallel_benchmark.h"
#include "moekit/dist/process_group.h"

namespace moekit::cli {

void run_bench_parallel(const bench::LayerBenchmarkOptions& options, int64_t nproc, bool json) {
  if (std::getenv("WORLD_SIZE") == nullptr) {
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> args;
    for (size_t begin = 0; begin < raw.size();) {
      const size_t end = raw.find('\0', begin);
      args.push_back(raw.substr(begin, end - begin));
      begin = end == std::string::npos ? raw.size() : end + 1;
    }
    MOEKIT_CHECK(!args.empty(), "bench", "cannot read this process's command line");
    std::vector<std::string> launch{args[0], "launch", "--nproc", std::to_string(nproc), "--"};
    launch.insert(launch.end(), args.begin() + 1, args.end());
    std::vector<char*> argv;
    for (auto& s : launch) argv.push_back(s.data());
    argv.push_back(nullptr);
    std::cout.flush();
    ::execv("/proc/self/exe", argv.data());
    throw Error("bench", "cannot re-run moekit under launch");
  }
  auto group = dist::default_group();
  MOEKIT_CHECK(group->world_size() == nproc, "--nproc",
               "is {} but this process group has {} ranks", nproc, group->world_size());
  const auto r = bench::run_parallel_layer_benchmark(*group, options);
  if (group->rank() != 0) return;
  if (json) {
    std::cout << r.json() << "\n";
    return;
  }
  std::cout << fmt::format(
      "expert-parallel MoE layer, forward+backward: E={} k={} d={} H={} gate={}, {} rows per "
      "step\n\n| run | threads | ms/step | tokens/s |\n| --- | ---: | ---: | ---: |\n"
      "| 1 process | {} | {:.1f} | {:.0f} |\n| {} processes | {} each | {:.1f} | {:.0f} |\n\n"
      "speedup {:.2f}x\n",
      options.experts(), options.k(), options.d(), options.hidden(), options.gate(), r.tokens,
      r.threads_single, r.ms_single, r.tokens_per_s_single(), r.world_size, r.threads_per_rank,
      r.ms_parallel, r.tokens_per_s_parallel(), r.ms_single / r.ms_parallel);
}

}  // namespace moekit::cli
