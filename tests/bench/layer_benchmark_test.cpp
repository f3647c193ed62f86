#include "benchmarks/layer_benchmark.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "moekit/core/error.h"
#include "moekit/core/torch_compat.h"
#include "moekit/moe/grouped_gemm.h"

namespace moekit::bench {
namespace {

LayerBenchmarkOptions tiny() {
  return LayerBenchmarkOptions().experts(4).k(2).d(8).hidden(16).tokens(37).repeats(1).warmup(0);
}

// moe_grouped_mm and moe_slice_loop are measured where _grouped_mm runs (2.x).
size_t path_variants() { return moe::grouped_mm_available(torch::kCPU, torch::kFloat) ? 2 : 0; }

// GFLOP/s · ms recovers each variant's own FLOP count: 4·d·H per row it runs
// (two GEMMs), on T·k rows for moe, dense and active (topk keeps exactly k),
// T·E for naive; fwd+bwd counts 3 times the forward.
TEST(BenchLayerBenchmark, MeasuresEveryVariantInBothPassesWithItsFlops) {
  const LayerBenchmarkResult r = run_layer_benchmark(tiny());
  ASSERT_EQ(r.variants.size(), 4u + path_variants());
  const std::vector<std::string> names{"moe", "dense", "naive", "active"};
  const double per_row = 4.0 * 8 * 16;
  const std::vector<double> rows{37 * 2, 37 * 2, 37 * 4, 37 * 2};
  for (size_t i = 0; i < names.size(); ++i) {
    const auto& v = r.variants[i];
    EXPECT_EQ(v.name, names[i]);
    EXPECT_NEAR(v.forward.gflops * v.forward.ms * 1e6, rows[i] * per_row, 1e-6 * rows[i] * per_row)
        << v.name;
    EXPECT_NEAR(v.forward_backward.gflops * v.forward_backward.ms * 1e6, 3 * rows[i] * per_row,
                3e-6 * rows[i] * per_row)
        << v.name;
    EXPECT_GT(v.forward_backward.peak_bytes, 0) << v.name;  // the counter saw its tensors
  }
  EXPECT_NEAR(r.mean_active, 2.0, 1e-9);  // topk keeps exactly k = 2
  EXPECT_EQ(r.threads, at::get_num_threads());
  EXPECT_EQ(r.torch_version, compat::torch_version());
  EXPECT_EQ(r.options.experts(), 4);
  EXPECT_EQ(r.options.tokens(), 37);
  EXPECT_THROW(r.variant("bogus"), Error);
}

TEST(BenchLayerBenchmark, PeakMemoryCoversTheDenseHiddenActivation) {
  const LayerBenchmarkResult r = run_layer_benchmark(tiny());
  // fwd+bwd of the dense FFN holds at least relu(h) [T, k·H] floats.
  EXPECT_GE(r.variant("dense").forward_backward.peak_bytes, 37 * 2 * 16 * 4);
  EXPECT_GE(r.variant("dense").forward.peak_bytes, 37 * 8 * 4);  // its output
}

TEST(BenchLayerBenchmark, RatiosAgreeWithTimingsAndJsonParses) {
  const LayerBenchmarkResult r = run_layer_benchmark(tiny());
  const double moe_dense = r.variant("moe").forward_backward.ms / r.variant("dense").forward_backward.ms;
  EXPECT_DOUBLE_EQ(r.time_ratio("moe", "dense", "forward_backward"), moe_dense);
  const auto lines = r.json_lines();
  ASSERT_EQ(lines.size(), 2u);
  const auto forward = nlohmann::json::parse(lines[0]);
  const auto both = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(forward.at("pass"), "forward");
  EXPECT_EQ(both.at("pass"), "forward_backward");
  EXPECT_DOUBLE_EQ(both.at("moe/dense").get<double>(), moe_dense);
  EXPECT_DOUBLE_EQ(forward.at("naive/moe").get<double>(), r.time_ratio("naive", "moe", "forward"));
  for (const char* key : {"moe_ms", "dense_gflops", "naive_peak_mib", "active_ms", "moe/active",
                          "memory moe/dense", "threads", "tokens"}) {
    EXPECT_TRUE(both.contains(key)) << key;
  }
  EXPECT_THROW(r.time_ratio("moe", "dense", "sideways"), Error);
}

TEST(BenchLayerBenchmark, SaturatedCometActivatesAtMostKExperts) {
  const auto unsaturated = run_layer_benchmark(tiny().gate("comet").skip_naive(true));
  const auto saturated = run_layer_benchmark(tiny().gate("comet").skip_naive(true).saturate(1e5));
  EXPECT_GT(unsaturated.mean_active, 2.0);
  EXPECT_LE(saturated.mean_active, 2.0);
  EXPECT_EQ(saturated.variants.size(), 3u + path_variants());
  EXPECT_FALSE(saturated.json_lines()[0].find("naive/moe") != std::string::npos);
}

TEST(BenchLayerBenchmark, TimesBothExpertGemmPathsWhereGroupedMmRuns) {
  const LayerBenchmarkResult r = run_layer_benchmark(tiny().skip_naive(true));
  EXPECT_EQ(r.moe_path, "slice_loop");  // auto on CPU
  const auto both = nlohmann::json::parse(r.json_lines()[1]);
  EXPECT_EQ(both.at("moe_path"), "slice_loop");
  EXPECT_EQ(both.at("torch").get<std::string>().empty(), false);
  if (path_variants() == 0) {
    EXPECT_FALSE(r.has_variant("moe_grouped_mm"));
    EXPECT_FALSE(both.contains("moe_grouped_mm/dense"));
    GTEST_SKIP() << "no CPU _grouped_mm in this LibTorch: one path only";
  }
  for (const std::string name : {"moe_grouped_mm", "moe_slice_loop"}) {
    EXPECT_TRUE(r.has_variant(name)) << name;
    EXPECT_DOUBLE_EQ(both.at(name + "/dense").get<double>(),
                     r.time_ratio(name, "dense", "forward_backward"));
  }
  const LayerBenchmarkResult grouped = run_layer_benchmark(tiny().skip_naive(true).expert_gemm("grouped_mm"));
  EXPECT_EQ(grouped.moe_path, "grouped_mm");
  // Unaligned widths: _grouped_mm cannot run them, so one path only.
  EXPECT_FALSE(run_layer_benchmark(tiny().skip_naive(true).d(6)).has_variant("moe_grouped_mm"));
}

TEST(BenchLayerBenchmark, RejectsBadOptions) {
  EXPECT_THROW(run_layer_benchmark(tiny().expert_gemm("cutlass")), Error);
  EXPECT_THROW(run_layer_benchmark(tiny().dtype("f16")), Error);
  EXPECT_THROW(run_layer_benchmark(tiny().k(5)), Error);
  EXPECT_THROW(run_layer_benchmark(tiny().repeats(0)), Error);
  EXPECT_THROW(run_layer_benchmark(tiny().gate("bogus")), Error);
}

}  // namespace
}  // namespace moekit::bench
