#include "benchmarks/layer_benchmark.h"

#include <nlohmann/json.hpp>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>

#include "benchmarks/peak_memory.h"
#include "moekit/core/error.h"
#include "moekit/core/torch_compat.h"
#include "moekit/gates/gate.h"
#include "moekit/moe/dispatch.h"
#include "moekit/moe/experts.h"
#include "moekit/moe/grouped_gemm.h"
#include "moekit/moe/moe_layer.h"
#include "moekit/moe/reference.h"

namespace moekit::bench {

using moe::DispatchPlan;
using moe::ExpertGemm;
using moe::ExpertGemmGuard;
using moe::MoELayer;
using moe::MoELayerOptions;

namespace {

// --- timing --------------------------------------------------------------------------

// One variant to time: its forward, the gradient fed to its output, its FLOPs.
struct Case {
  std::string name;
  std::function<at::Tensor()> forward;
  at::Tensor probe;
  double forward_flops = 0;
};

// Times every case in both passes. NOTE: the cases take turns within each
// repetition and the fastest repetition counts, so a burst of load from other
// processes on shared cores hits all variants alike instead of skewing a ratio.
std::vector<LayerVariantResult> measure_cases(const std::vector<Case>& cases,
                                              const LayerBenchmarkOptions& options,
                                              const torch::Device& device) {
  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  std::vector<LayerVariantResult> results(cases.size());
  for (size_t i = 0; i < cases.size(); ++i) results[i].name = cases[i].name;
  PeakMemory memory(device);
  for (const bool backward : {false, true}) {
    auto call = [&](const Case& c) {
      if (backward) {
        torch::autograd::backward({c.forward()}, {c.probe});
      } else {
        torch::NoGradGuard no_grad;
        c.forward();
      }
    };
    for (int64_t w = 0; w < options.warmup(); ++w) {
      for (const Case& c : cases) call(c);
    }
    std::vector<std::vector<double>> ms(cases.size());
    std::vector<int64_t> peak(cases.size(), 0);
    for (int64_t r = 0; r < options.repeats(); ++r) {
      for (size_t i = 0; i < cases.size(); ++i) {
        sync();
        memory.reset();
        const auto start = std::chrono::steady_clock::now();
        call(cases[i]);
        sync();
        ms[i].push_back(std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - start)
                            .count());
        peak[i] = std::max(peak[i], memory.peak_above_start());
      }
    }
    for (size_t i = 0; i < cases.size(); ++i) {
      LayerTiming& t = backward ? results[i].forward_backward : results[i].forward;
      t.ms = *std::min_element(ms[i].begin(), ms[i].end());
      t.gflops = (backward ? 3 : 1) * cases[i].forward_flops / (t.ms * 1e6);
      t.peak_bytes = peak[i];
    }
  }
  return results;
}

// "Once saturated": scale the smooth-step inputs (COMET splits, DSelect-k
// selector logits) so that almost every row lands outside the band.
void saturate_gate(torch::nn::Module& gate, double factor) {
  torch::NoGradGuard no_grad;
  for (auto& item : gate.named_parameters()) {
    const std::string& key = item.key();
    const bool smooth_step_input = key.rfind("split_", 0) == 0 || key == "z" ||
                                   key.rfind("z_proj.", 0) == 0;
    if (smooth_step_input) item.value().mul_(factor);
  }
}

at::Tensor uniform_parameter(std::vector<int64_t> shape, int64_t fan_in,
                             const torch::TensorOptions& options) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  return torch::empty(shape, options.dtype(torch::kFloat)).uniform_(-bound, bound).to(options)
      .requires_grad_(true);
}

}  // namespace

void LayerBenchmarkOptions::validate() const {
  MOEKIT_CHECK(experts_ >= 1, "experts", "must be >= 1, got {}", experts_);
  MOEKIT_CHECK(k_ >= 1 && k_ <= experts_, "k", "must lie in [1, experts = {}], got {}", experts_,
               k_);
  MOEKIT_CHECK(d_ >= 1, "d", "must be >= 1, got {}", d_);
  MOEKIT_CHECK(hidden_ >= 1, "hidden", "must be >= 1, got {}", hidden_);
  MOEKIT_CHECK(tokens_ >= 1, "tokens", "must be >= 1, got {}", tokens_);
  MOEKIT_CHECK(dtype_ == "f32" || dtype_ == "bf16", "dtype", "must be f32 or bf16, got '{}'",
               dtype_);
  MOEKIT_CHECK(device_ == "cpu" || device_ == "cuda", "device", "must be cpu or cuda, got '{}'",
               device_);
  MOEKIT_CHECK(device_ != "cuda" || torch::cuda::is_available(), "device",
               "cuda requested but no CUDA device is available");
  MOEKIT_CHECK(saturate_ > 0, "saturate", "must be > 0, got {}", saturate_);
  MOEKIT_CHECK(repeats_ >= 1, "repeats", "must be >= 1, got {}", repeats_);
  MOEKIT_CHECK(warmup_ >= 0, "warmup", "must be >= 0, got {}", warmup_);
  moe::parse_expert_gemm(expert_gemm_, "expert_gemm");
}

bool LayerBenchmarkResult::has_variant(const std::string& name) const {
  for (const auto& v : variants) {
    if (v.name == name) return true;
  }
  return false;
}

const LayerVariantResult& LayerBenchmarkResult::variant(const std::string& name) const {
  for (const auto& v : variants) {
    if (v.name == name) return v;
  }
  throw Error("variant", fmt::format("no variant '{}' was measured", name));
}

namespace {
const LayerTiming& pass_of(const LayerVariantResult& v, const std::string& pass) {
  MOEKIT_CHECK(pass == "forward" || pass == "forward_backward", "pass",
               "must be forward or forward_backward, got '{}'", pass);
  return pass == "forward" ? v.forward : v.forward_backward;
}
}  // namespace

double LayerBenchmarkResult::time_ratio(const std::string& a, const std::string& b,
                                        const std::string& pass) const {
  return pass_of(variant(a), pass).ms / pass_of(variant(b), pass).ms;
}

double LayerBenchmarkResult::memory_ratio(const std::string& a, const std::string& b,
                                          const std::string& pass) const {
  return static_cast<double>(pass_of(variant(a), pass).peak_bytes) /
         static_cast<double>(std::max<int64_t>(1, pass_of(variant(b), pass).peak_bytes));
}

std::vector<std::string> LayerBenchmarkResult::json_lines() const {
  std::vector<std::string> lines;
  for (const std::string pass : {"forward", "forward_backward"}) {
    nlohmann::ordered_json j;
    j["pass"] = pass;
    j["gate"] = options.gate();
    j["device"] = options.device();
    j["dtype"] = options.dtype();
    j["experts"] = options.experts();
    j["k"] = options.k();
    j["d"] = options.d();
    j["hidden"] = options.hidden();
    j["tokens"] = options.tokens();
    j["eval"] = options.eval();
    j["saturate"] = options.saturate();
    j["threads"] = threads;
    j["torch"] = torch_version;
    j["expert_gemm"] = options.expert_gemm();
    j["moe_path"] = moe_path;
    j["mean_active"] = mean_active;
    for (const auto& v : variants) {
      const LayerTiming& t = pass_of(v, pass);
      j[v.name + "_ms"] = t.ms;
      j[v.name + "_gflops"] = t.gflops;
      j[v.name + "_peak_mib"] = static_cast<double>(t.peak_bytes) / (1 << 20);
    }
    j["moe/dense"] = time_ratio("moe", "dense", pass);
    for (const std::string path : {"moe_grouped_mm", "moe_slice_loop"}) {
      if (has_variant(path)) j[path + "/dense"] = time_ratio(path, "dense", pass);
    }
    for (const auto& v : variants) {
      if (v.name == "naive") j["naive/moe"] = time_ratio("naive", "moe", pass);
    }
    j["moe/active"] = time_ratio("moe", "active", pass);
    j["memory moe/dense"] = memory_ratio("moe", "dense", pass);
    lines.push_back(j.dump());
  }
  return lines;
}

LayerBenchmarkResult run_layer_benchmark(const LayerBenchmarkOptions& options) {
  options.validate();
  const torch::Device device(options.device() == "cuda" ? torch::kCUDA : torch::kCPU);
  const auto dtype = options.dtype() == "bf16" ? torch::kBFloat16 : torch::kFloat;
  const auto tensor_options = torch::TensorOptions(dtype).device(device);
  const int64_t T = options.tokens(), d = options.d(), H = options.hidden();
  const int64_t E = options.experts(), k = options.k();
  const ExpertGemm choice = moe::parse_expert_gemm(options.expert_gemm(), "expert_gemm");
  ScopedCpuMemoryCounter counter;

  torch::manual_seed(options.seed());
  MoELayer layer(MoELayerOptions(d, H, E).gate(options.gate()).gate_options(
      gates::GateOptions(d, E).k(k).seed(options.seed())));
  if (options.saturate() != 1.0) saturate_gate(layer->gate(), options.saturate());
  layer->to(device, dtype);
  if (options.eval()) layer->eval();
  auto& experts = layer->experts();

  // Dense FFN with the same active FLOPs per row: hidden = k·H. Its ReLU runs in
  // place (as the experts' does): the activation costs no extra [T, k·H] tensor.
  const at::Tensor w1 = uniform_parameter({d, k * H}, d, tensor_options);
  const at::Tensor b1 = uniform_parameter({k * H}, d, tensor_options);
  const at::Tensor w2 = uniform_parameter({k * H, d}, k * H, tensor_options);
  const at::Tensor b2 = uniform_parameter({d}, k * H, tensor_options);

  const at::Tensor x = torch::randn({T, d}, tensor_options).requires_grad_(true);
  const at::Tensor ids = torch::randint(1024, {T}, torch::TensorOptions(torch::kLong).device(device));
  const at::Tensor probe = torch::randn({T, d}, tensor_options);

  // The routing of one call, for "active" and the FLOP counts.
  gates::Routing routing;
  {
    torch::NoGradGuard no_grad;
    routing = layer->gate().forward(gates::GateInput{x, ids, {}});
  }
  const DispatchPlan plan = moe::plan_dispatch(routing.idx, E);
  const at::Tensor x_grouped = moe::gather_rows(x, plan).detach().requires_grad_(true);
  const at::Tensor probe_grouped = torch::randn({plan.assignments(), d}, tensor_options);
  const double per_row = 4.0 * static_cast<double>(d) * static_cast<double>(H);  // 2 GEMMs
  const double active_flops = static_cast<double>(plan.assignments()) * per_row;

  LayerBenchmarkResult result;
  result.options = options;
  result.threads = at::get_num_threads();
  result.mean_active = routing.mean_active_experts();
  result.torch_version = compat::torch_version();
  // Both expert GEMMs fit when both of the experts' weights do ([E, d, H], [E, H, d]).
  const bool both_paths =
      moe::grouped_mm_available(device, dtype) &&
      moe::grouped_mm_fits(x_grouped, torch::empty({E, d, H}, tensor_options)) &&
      moe::grouped_mm_fits(torch::empty({1, H}, tensor_options), torch::empty({E, H, d}, tensor_options));
  {
    ExpertGemmGuard guard(choice);
    result.moe_path = moe::uses_grouped_mm(x_grouped, torch::empty({E, d, H}, tensor_options))
                          ? "grouped_mm"
                          : "slice_loop";
  }
  // A case's backward takes the path its forward took (GroupedLinearFunction
  // saves it), so guarding the forward is enough.
  auto moe_with = [&](ExpertGemm path) {
    return [&layer, &x, &ids, path] {
      ExpertGemmGuard guard(path);
      return layer->forward(x, ids).y;
    };
  };
  std::vector<Case> cases;
  cases.push_back({"moe", moe_with(choice), probe, active_flops});
  cases.push_back(
      {"dense", [&] { return at::addmm(b2, at::addmm(b1, x, w1).relu_(), w2); },
       probe, static_cast<double>(T * k) * per_row});
  if (!options.skip_naive()) {
    cases.push_back({"naive",
                     [&] {
                       const gates::Routing r = layer->gate().forward(gates::GateInput{x, ids, {}});
                       return moe::naive_moe_forward(experts, x, r.weights);
                     },
                     probe, static_cast<double>(T * E) * per_row});
  }
  cases.push_back({"active",
                   [&] {
                     ExpertGemmGuard guard(choice);
                     return experts.forward(x_grouped, plan.counts);
                   },
                   probe_grouped, active_flops});
  if (both_paths) {
    cases.push_back({"moe_grouped_mm", moe_with(ExpertGemm::kGroupedMm), probe, active_flops});
    cases.push_back({"moe_slice_loop", moe_with(ExpertGemm::kSliceLoop), probe, active_flops});
  }
  result.variants = measure_cases(cases, options, device);
  return result;
}

}  // namespace moekit::bench
