#include "moekit/moe/grouped_gemm.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <limits>
#include <map>
#include <mutex>
#include <tuple>

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

// Runs the three forms FFNExperts uses (2d x 3d, 2d x 3d transposed, 2d x 2d)
// on a tiny problem with an empty group.
bool probe_grouped_mm(const at::Device& device, at::ScalarType dtype) {
  try {
    const auto options = at::TensorOptions(dtype).device(device);
    const at::Tensor x = at::ones({16, 16}, options);
    const at::Tensor w = at::ones({3, 16, 16}, options);
    const std::vector<int64_t> counts{8, 0, 8};
    const at::Tensor ends = slice_ends(counts, device);
    const at::Tensor y = at::_grouped_mm(x, w, ends);
    const at::Tensor gx = at::_grouped_mm(y, w.transpose(1, 2), ends);
    const at::Tensor gw = at::_grouped_mm(x.t(), y, ends);
    return y.size(0) == 16 && gx.size(1) == 16 && gw.size(0) == 3 &&
           y.select(0, 0).select(0, 0).item<double>() == 16.0;
  } catch (const std::exception& e) {
    spdlog::debug("at::_grouped_mm does not run on {} in {}: {}", device.str(),
                  c10::toString(dtype), e.what());
    return false;
  }
}
#endif

#if !MOEKIT_HAS_GROUPED_MM
[[noreturn]] void not_compiled() {
  throw Error("grouped_mm", fmt::format("LibTorch {} has no at::_grouped_mm (needs >= 2.8)",
                                        TORCH_VERSION));
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

bool grouped_mm_available(const at::Device& device, at::ScalarType dtype) {
#if MOEKIT_HAS_GROUPED_MM
  static std::mutex mutex;
  static std::map<std::tuple<int, int, int>, bool> probed;
  const auto key = std::make_tuple(static_cast<int>(device.type()),
                                   static_cast<int>(device.has_index() ? device.index() : -1),
                                   static_cast<int>(dtype));
  std::lock_guard<std::mutex> lock(mutex);
  auto it = probed.find(key);
  if (it == probed.end()) it = probed.emplace(key, probe_grouped_mm(device, dtype)).first;
  return it->second;
#else
  return false;
#endif
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

bool uses_grouped_mm(const at::Tensor& x, const at::Tensor& w) {
  const ExpertGemm choice = expert_gemm();
  if (choice == ExpertGemm::kSliceLoop || !grouped_mm_compiled()) return false;
  if (choice == ExpertGemm::kAuto && !(x.is_cuda() && x.scalar_type() == at::kBFloat16)) {
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
  return at::_grouped_mm(row_major(gy), row_major(w).transpose(1, 2),
                         slice_ends(counts, gy.device()));
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
