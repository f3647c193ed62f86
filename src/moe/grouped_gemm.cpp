#include "moekit/moe/grouped_gemm.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "moekit/core/error.h"
#include "moekit/core/torch_compat.h"

namespace moekit::moe {
namespace {

std::atomic<ExpertGemm> g_expert_gemm{ExpertGemm::kAuto};

#if MOEKIT_HAS_GROUPED_MM
// End offsets of the slices as _grouped_mm wants them: int32 on `device`. The
// counts are already on the host, so this is a copy, not a sync.
at::Tensor slice_ends(const std::vector<int64_t>& counts, const at::Device& device) {
  std::vector<int32_t> ends(counts.size());
  int64_t end = 0;
  for (size_t e = 0; e < counts.size(); ++e) ends[e] = static_cast<int32_t>(end += counts[e]);
  return at::tensor(ends, at::TensorOptions(at::kInt)).to(device, /*non_blocking=*/true);
}

// NOTE: a tensor with a size-1 dimension counts as contiguous whatever that
// dimension's stride, but _grouped_mm checks every stride: give it the
// canonical row-major layout.
at::Tensor row_major(const at::Tensor& t) {
  int64_t expected = 1;
  bool canonical = true;
  for (int64_t i = t.dim() - 1; i >= 0; --i) {
    canonical = canonical && t.stride(i) == expected;
    expected *= t.size(i);
  }
  return canonical ? t : at::empty(t.sizes(), t.options()).copy_(t);
}

// Deterministic values in [-1, 1]: probing draws nothing from the global RNG,
// so it cannot change a seeded run.
at::Tensor pattern(at::IntArrayRef shape, double phase, const at::TensorOptions& options) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return at::sin(at::arange(n, at::TensorOptions(at::kFloat)).mul(0.7071).add(phase))
      .reshape(shape)
      .to(options);
}

// max |a - reference| / max |reference|, in fp32.
double relative_error(const at::Tensor& a, const at::Tensor& reference) {
  const double scale = std::max(1e-30, reference.abs().max().item<double>());
  return (a.to(at::kFloat) - reference).abs().max().item<double>() / scale;
}

// A few units of rounding of the dtype: what a GEMM that accumulates in fp32
// and rounds its output once stays well inside.
double accuracy_bound(at::ScalarType dtype) {
  if (dtype == at::kBFloat16) return 4.0 / 256;
  if (dtype == at::kHalf) return 4.0 / 2048;
  return 1e-4;
}

struct ProbeErrors {
  double forward = 0, input_grad_view = 0, input_grad_copy = 0, weight_grad = 0;
};

// The three forms FFNExperts uses (2d x 3d; 2d x 3d with the weight as a
// transposed view, and with a contiguous copy of it; 2d x 2d) on rows of
// three groups, one empty, x [24, K], w [3, K, N], against fp32 GEMMs per group.
ProbeErrors probe_errors(const at::Device& device, at::ScalarType dtype, int64_t K, int64_t N) {
  const auto options = at::TensorOptions(dtype).device(device);
  const std::vector<int64_t> counts{9, 0, 15};
  const int64_t rows = 24;
  const at::Tensor x = pattern({rows, K}, 0.1, options), w = pattern({3, K, N}, 0.2, options);
  const at::Tensor gy = pattern({rows, N}, 0.3, options);
  const at::Tensor ends = slice_ends(counts, device);
  const at::Tensor y = at::_grouped_mm(x, w, ends);
  const at::Tensor gx_view = at::_grouped_mm(gy, w.transpose(1, 2), ends);
  const at::Tensor gx_copy = at::_grouped_mm(gy, w.transpose(1, 2).contiguous(), ends);
  const at::Tensor gw = at::_grouped_mm(x.t(), gy, ends);
  const at::Tensor xf = x.to(at::kFloat), wf = w.to(at::kFloat), gyf = gy.to(at::kFloat);
  at::Tensor y_ref = at::zeros({rows, N}, xf.options()), gx_ref = at::zeros({rows, K}, xf.options());
  ProbeErrors err;
  int64_t offset = 0;
  for (int64_t e = 0; e < 3; ++e) {
    const int64_t c = counts[e];
    if (c > 0) {
      y_ref.narrow(0, offset, c).copy_(at::mm(xf.narrow(0, offset, c), wf[e]));
      gx_ref.narrow(0, offset, c).copy_(at::mm(gyf.narrow(0, offset, c), wf[e].t()));
      const at::Tensor gw_ref = at::mm(xf.narrow(0, offset, c).t(), gyf.narrow(0, offset, c));
      err.weight_grad = std::max(err.weight_grad, relative_error(gw[e], gw_ref));
    }
    offset += c;
  }
  err.forward = relative_error(y, y_ref);
  err.input_grad_view = relative_error(gx_view, gx_ref);
  err.input_grad_copy = relative_error(gx_copy, gx_ref);
  return err;
}

// NOTE: not only "does it run": a torch's _grouped_mm can run and be inexact
// for some form and dtype (torch 2.11's CPU bf16 input gradients were off by
// up to 11 % on an H200 machine's CPU, 2.14's are exact), and moekit must
// never take a path that gives wrong gradients. Widths from the smallest the
// 16-byte rule allows (8 in bf16) up.
GroupedMmSupport probe_grouped_mm(const at::Device& device, at::ScalarType dtype) {
  GroupedMmSupport support;
  const double bound = accuracy_bound(dtype);
  try {
    support.runs = support.exact = support.transposed_weight = true;
    for (const auto& [K, N] : std::vector<std::pair<int64_t, int64_t>>{
             {16, 8}, {24, 8}, {8, 24}, {64, 48}}) {
      const ProbeErrors e = probe_errors(device, dtype, K, N);
      const std::string errors = fmt::format(
          "K={} N={}: relative error forward {:.2g}, input gradient {:.2g} (transposed view) / "
          "{:.2g} (contiguous copy), weight gradient {:.2g}; bound {:.2g}",
          K, N, e.forward, e.input_grad_view, e.input_grad_copy, e.weight_grad, bound);
      if (e.forward > bound || e.weight_grad > bound || e.input_grad_copy > bound) {
        support.exact = false;
        support.note = "inexact: " + errors;
        break;
      }
      if (e.input_grad_view > bound && support.transposed_weight) {
        support.transposed_weight = false;
        support.note = "the input gradient takes a contiguous copy of the weight: " + errors;
      }
    }
  } catch (const std::exception& e) {
    support = GroupedMmSupport{};
    const std::string what = e.what();
    support.note = "does not run: " + what.substr(0, what.find('\n'));
  }
  if (support.runs && !support.exact) {
    spdlog::warn("at::_grouped_mm on {} in {} is not used: {}", device.str(),
                 c10::toString(dtype), support.note);
  } else if (!support.note.empty()) {
    spdlog::debug("at::_grouped_mm on {} in {}: {}", device.str(), c10::toString(dtype),
                  support.note);
  }
  return support;
}
#endif

#if !MOEKIT_HAS_GROUPED_MM
[[noreturn]] void not_compiled() {
  throw Error("grouped_mm", fmt::format("LibTorch {} has no at::_grouped_mm (needs >= 2.8)",
                                        compat::torch_version()));
}
#endif

}  // namespace

std::string to_string(ExpertGemm choice) {
  switch (choice) {
    case ExpertGemm::kAuto: return "auto";
    case ExpertGemm::kGroupedMm: return "grouped_mm";
    case ExpertGemm::kSliceLoop: return "slice_loop";
  }
  return "auto";
}

ExpertGemm parse_expert_gemm(const std::string& name, const std::string& where) {
  for (ExpertGemm c : {ExpertGemm::kAuto, ExpertGemm::kGroupedMm, ExpertGemm::kSliceLoop}) {
    if (name == to_string(c)) return c;
  }
  throw Error(where, fmt::format("unknown expert GEMM '{}'; expected auto, grouped_mm or "
                                 "slice_loop", name));
}

void set_expert_gemm(ExpertGemm choice) { g_expert_gemm = choice; }
ExpertGemm expert_gemm() { return g_expert_gemm.load(); }

bool grouped_mm_compiled() { return MOEKIT_HAS_GROUPED_MM != 0; }

GroupedMmSupport grouped_mm_support(const at::Device& device, at::ScalarType dtype) {
#if MOEKIT_HAS_GROUPED_MM
  static std::mutex mutex;
  static std::map<std::tuple<int, int, int>, GroupedMmSupport> probed;
  const auto key = std::make_tuple(static_cast<int>(device.type()),
                                   static_cast<int>(device.has_index() ? device.index() : -1),
                                   static_cast<int>(dtype));
  std::lock_guard<std::mutex> lock(mutex);
  auto it = probed.find(key);
  if (it == probed.end()) it = probed.emplace(key, probe_grouped_mm(device, dtype)).first;
  return it->second;
#else
  GroupedMmSupport support;
  support.note =
      fmt::format("LibTorch {} has no at::_grouped_mm (needs >= 2.8)", compat::torch_version());
  return support;
#endif
}

bool grouped_mm_available(const at::Device& device, at::ScalarType dtype) {
  const GroupedMmSupport support = grouped_mm_support(device, dtype);
  return support.runs && support.exact;
}

bool grouped_mm_fits(const at::Tensor& x, const at::Tensor& w) {
  if (x.dim() != 2 || w.dim() != 3 || x.scalar_type() != w.scalar_type()) return false;
  if (x.device() != w.device() || x.size(1) != w.size(1)) return false;
  if (x.size(0) == 0 || x.size(0) > std::numeric_limits<int32_t>::max()) return false;
  const int64_t element = static_cast<int64_t>(x.element_size());
  if (16 % element != 0) return false;
  const int64_t per_16_bytes = 16 / element;
  if (x.size(1) % per_16_bytes != 0 || w.size(2) % per_16_bytes != 0) return false;
  auto aligned = [](const at::Tensor& t) {
    return reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0;
  };
  return aligned(x) && aligned(w);
}

bool auto_prefers_grouped_mm(const at::Device& device, at::ScalarType /*dtype*/) {
  return device.is_cuda();
}

bool uses_grouped_mm(const at::Tensor& x, const at::Tensor& w) {
  const ExpertGemm choice = expert_gemm();
  if (choice == ExpertGemm::kSliceLoop || !grouped_mm_compiled()) return false;
  if (choice == ExpertGemm::kAuto && !auto_prefers_grouped_mm(x.device(), x.scalar_type())) {
    return false;
  }
  return grouped_mm_fits(x, w) && grouped_mm_available(x.device(), x.scalar_type());
}

at::Tensor grouped_mm(const at::Tensor& x, const at::Tensor& w,
                      const std::vector<int64_t>& counts) {
#if MOEKIT_HAS_GROUPED_MM
  return at::_grouped_mm(row_major(x), row_major(w), slice_ends(counts, x.device()));
#else
  not_compiled();
#endif
}

at::Tensor grouped_mm_input_grad(const at::Tensor& gy, const at::Tensor& w,
                                 const std::vector<int64_t>& counts) {
#if MOEKIT_HAS_GROUPED_MM
  at::Tensor w_t = row_major(w).transpose(1, 2);  // [E, N, K], a view
  if (!grouped_mm_support(w.device(), w.scalar_type()).transposed_weight) w_t = w_t.contiguous();
  return at::_grouped_mm(row_major(gy), w_t, slice_ends(counts, gy.device()));
#else
  not_compiled();
#endif
}

at::Tensor grouped_mm_weight_grad(const at::Tensor& x, const at::Tensor& gy,
                                  const std::vector<int64_t>& counts) {
#if MOEKIT_HAS_GROUPED_MM
  // The 2d x 2d form splits the contraction dimension (the rows) by the offsets.
  at::Tensor gw = at::_grouped_mm(row_major(x).t(), row_major(gy), slice_ends(counts, x.device()));
  // NOTE: an empty group's output is not written on every device: clear it.
  for (size_t e = 0; e < counts.size(); ++e) {
    if (counts[e] == 0) gw[static_cast<int64_t>(e)].zero_();
  }
  return gw;
#else
  not_compiled();
#endif
}

}  // namespace moekit::moe
