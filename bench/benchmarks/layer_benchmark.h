#pragma once
#include <torch/arg.h>

#include <cstdint>
#include <string>
#include <vector>

namespace moekit::bench {

/// What `moekit bench moe-layer` measures: a MoE FFN layer (E experts d -> H -> d,
/// gate G picking k) against a dense FFN of the same active FLOPs (hidden = k·H),
/// the naive loop (every expert on every row, masked), and the experts alone on
/// the rows the gate picked ("active": no gate, no gather/scatter). Where the
/// running torch has `_grouped_mm` for this device and dtype (moe/grouped_gemm.h),
/// the layer also runs once with each expert GEMM path ("moe_grouped_mm",
/// "moe_slice_loop"), whatever `expert_gemm` picks for "moe".
struct LayerBenchmarkOptions {
  TORCH_ARG(int64_t, experts) = 8;
  TORCH_ARG(int64_t, k) = 2;
  TORCH_ARG(int64_t, d) = 512;
  TORCH_ARG(int64_t, hidden) = 2048;
  TORCH_ARG(int64_t, tokens) = 4096;
  /// Registry name of the gate.
  TORCH_ARG(std::string, gate) = "topk";
  /// f32 | bf16
  TORCH_ARG(std::string, dtype) = "f32";
  /// cpu | cuda
  TORCH_ARG(std::string, device) = "cpu";
  /// Gate in eval mode (e.g. THOR's random gate at inference) instead of training.
  TORCH_ARG(bool, eval) = false;
  /// Scale the smooth-step pre-activations of comet/dselectk by this factor
  /// (> 1 pushes them out of the band: "once saturated"); 1 = as initialised.
  TORCH_ARG(double, saturate) = 1.0;
  /// Timed repetitions per case, the variants taking turns (the fastest counts),
  /// after `warmup` untimed ones.
  TORCH_ARG(int64_t, repeats) = 3;
  TORCH_ARG(int64_t, warmup) = 1;
  /// Expert GEMM path of "moe" and "active": auto | grouped_mm | slice_loop.
  TORCH_ARG(std::string, expert_gemm) = "auto";
  /// Skip the naive loop (it costs E/k times the MoE layer).
  TORCH_ARG(bool, skip_naive) = false;
  TORCH_ARG(int64_t, seed) = 0;

 public:
  /// Throws moekit::Error naming the field at fault.
  void validate() const;
};

/// One variant timed in one pass.
struct LayerTiming {
  double ms = 0;          // fastest wall time of one call over the repetitions
  double gflops = 0;      // achieved: this variant's own FLOPs / time
  int64_t peak_bytes = 0; // peak CPU/CUDA memory allocated above the start of a call
                          // (parameters and their gradients excluded: allocated before)
};

/// Forward (no grad) and forward+backward of one variant.
struct LayerVariantResult {
  std::string name;  // moe | dense | naive | active | moe_grouped_mm | moe_slice_loop
  LayerTiming forward, forward_backward;
};

struct LayerBenchmarkResult {
  LayerBenchmarkOptions options;
  int threads = 1;
  double mean_active = 0;  // mean experts with non-zero weight per row
  /// The expert GEMM path "moe" took: "grouped_mm" or "slice_loop".
  std::string moe_path;
  std::string torch_version;
  /// moe, dense, naive (unless skipped), active, then moe_grouped_mm and
  /// moe_slice_loop where `_grouped_mm` runs.
  std::vector<LayerVariantResult> variants;

  /// Whether a variant called `name` was measured.
  bool has_variant(const std::string& name) const;
  /// The variant called `name`; throws moekit::Error when absent.
  const LayerVariantResult& variant(const std::string& name) const;
  /// time(a) / time(b) in one pass ("forward" or "forward_backward").
  double time_ratio(const std::string& a, const std::string& b, const std::string& pass) const;
  /// peak_bytes(a) / peak_bytes(b) in one pass.
  double memory_ratio(const std::string& a, const std::string& b, const std::string& pass) const;
  /// One JSON object per pass, each on one line: sizes, per-variant ms, GFLOP/s and
  /// peak MiB, the ratios "moe/dense", "naive/moe", "moe/active", "memory moe/dense"
  /// and, with both paths, "moe_grouped_mm/dense" and "moe_slice_loop/dense"; the
  /// torch version and the path "moe" took.
  std::vector<std::string> json_lines() const;
};

/// Builds the layer and baselines from `options`, times them and measures their
/// peak memory. Deterministic inputs from options.seed. Writes nothing.
LayerBenchmarkResult run_layer_benchmark(const LayerBenchmarkOptions& options);

}  // namespace moekit::bench
