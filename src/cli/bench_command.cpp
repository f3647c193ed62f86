// `moekit bench moe-layer`: times a MoE FFN layer against a dense FFN of the same
// active FLOPs, the naive every-expert loop and the active experts alone, and
// prints a table (or, with --json, one JSON object per pass).
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "benchmarks/layer_benchmark.h"

namespace moekit::cli {

// src/cli/bench_parallel.cpp: the --nproc N run.
void run_bench_parallel(const bench::LayerBenchmarkOptions& options, int64_t nproc, bool json);

namespace {

struct BenchArgs {
  bench::LayerBenchmarkOptions options;
  int64_t experts = 8, k = 2, d = 512, hidden = 2048, tokens = 4096, repeats = 3, warmup = 1;
  int64_t seed = 0;
  std::string gate = "topk", dtype = "f32", device = "cpu", expert_gemm = "auto";
  double saturate = 1.0;
  bool eval = false, skip_naive = false, json = false;
  int64_t nproc = 1;
};

void print_table(const bench::LayerBenchmarkResult& r) {
  const auto& o = r.options;
  std::cout << fmt::format(
      "MoE layer: E={} k={} d={} H={} T={} gate={}{}{} dtype={} device={} threads={}; "
      "mean active experts/row {:.2f}; LibTorch {}, expert GEMM {} ({})\n\n",
      o.experts(), o.k(), o.d(), o.hidden(), o.tokens(), o.gate(), o.eval() ? " (eval)" : "",
      o.saturate() != 1.0 ? fmt::format(" saturate={}", o.saturate()) : "", o.dtype(), o.device(),
      r.threads, r.mean_active, r.torch_version, r.moe_path, o.expert_gemm());
  std::cout << "| variant | fwd ms | fwd GFLOP/s | fwd peak MiB | fwd+bwd ms | fwd+bwd GFLOP/s "
               "| fwd+bwd peak MiB |\n"
               "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  const double mib = 1 << 20;
  for (const auto& v : r.variants) {
    std::cout << fmt::format("| {} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.1f} |\n",
                             v.name, v.forward.ms, v.forward.gflops, v.forward.peak_bytes / mib,
                             v.forward_backward.ms, v.forward_backward.gflops,
                             v.forward_backward.peak_bytes / mib);
  }
  std::cout << "\n| ratio | fwd | fwd+bwd |\n| --- | ---: | ---: |\n";
  auto row = [&](const std::string& label, const std::string& a, const std::string& b,
                 bool memory) {
    auto value = [&](const std::string& pass) {
      return memory ? r.memory_ratio(a, b, pass) : r.time_ratio(a, b, pass);
    };
    std::cout << fmt::format("| {} | {:.3f} | {:.3f} |\n", label, value("forward"),
                             value("forward_backward"));
  };
  row("moe/dense", "moe", "dense", false);
  for (const std::string path : {"moe_grouped_mm", "moe_slice_loop"}) {
    if (r.has_variant(path)) row(path + "/dense", path, "dense", false);
  }
  if (!o.skip_naive()) row("naive/moe", "naive", "moe", false);
  row("moe/active", "moe", "active", false);
  row("peak memory moe/dense", "moe", "dense", true);
}

void run_bench(BenchArgs& a) {
  a.options.experts(a.experts).k(a.k).d(a.d).hidden(a.hidden).tokens(a.tokens).gate(a.gate)
      .dtype(a.dtype).device(a.device).eval(a.eval).saturate(a.saturate).repeats(a.repeats)
      .warmup(a.warmup).skip_naive(a.skip_naive).seed(a.seed).expert_gemm(a.expert_gemm);
  if (a.nproc > 1) return run_bench_parallel(a.options, a.nproc, a.json);
  const bench::LayerBenchmarkResult result = bench::run_layer_benchmark(a.options);
  if (a.json) {
    for (const auto& line : result.json_lines()) std::cout << line << "\n";
  } else {
    print_table(result);
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Micro-benchmarks");
  bench->require_subcommand(1);
  auto a = std::make_shared<BenchArgs>();
  auto* cmd = bench->add_subcommand(
      "moe-layer", "MoE layer vs dense FFN of equal active FLOPs vs naive loop: time, memory");
  cmd->add_option("--experts", a->experts, "experts E")->capture_default_str();
  cmd->add_option("--k", a->k, "gate slots k (dense FFN hidden = k·H)")->capture_default_str();
  cmd->add_option("--d", a->d, "model width d")->capture_default_str();
  cmd->add_option("--hidden", a->hidden, "expert hidden width H")->capture_default_str();
  cmd->add_option("--tokens", a->tokens, "rows T")->capture_default_str();
  cmd->add_option("--gate", a->gate, "gate (moekit gates)")->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "f32 | bf16")->capture_default_str();
  cmd->add_option("--device", a->device, "cpu | cuda")->capture_default_str();
  cmd->add_flag("--eval", a->eval, "gate in eval mode (e.g. THOR random at inference)");
  cmd->add_option("--saturate", a->saturate,
                  "scale comet/dselectk smooth-step inputs by this factor (1e4: saturated)")
      ->capture_default_str();
  cmd->add_option("--repeats", a->repeats, "timed runs per case (fastest counts)")->capture_default_str();
  cmd->add_option("--warmup", a->warmup, "untimed runs per case")->capture_default_str();
  cmd->add_option("--expert-gemm", a->expert_gemm,
                  "expert GEMMs of \"moe\": auto | grouped_mm | slice_loop (with _grouped_mm "
                  "both paths are also timed as moe_grouped_mm, moe_slice_loop)")
      ->capture_default_str();
  cmd->add_flag("--skip-naive", a->skip_naive, "do not time the naive every-expert loop");
  cmd->add_option("--seed", a->seed, "seed of weights and inputs")->capture_default_str();
  cmd->add_option("--nproc", a->nproc, "expert-parallel over N processes vs one")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_flag("--json", a->json, "one JSON object per pass instead of a table");
  cmd->callback([a] { run_bench(*a); });
}

}  // namespace moekit::cli
