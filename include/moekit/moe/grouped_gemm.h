#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace moekit::moe {

/// How FFNExperts runs its expert GEMMs on the grouped rows (DESIGN.md "The
/// routing core"): one `at::_grouped_mm` per weight, or one GEMM per expert
/// slice (the slice loop, which every LibTorch has).
enum class ExpertGemm {
  /// `_grouped_mm` where it is the fast path: CUDA (bf16 and fp32 both measured
  /// faster there than the loop, on an H200: README "CUDA"), when the running
  /// torch provides it. The slice loop elsewhere. NOTE: on CPU the slice
  /// loop stays the default: torch's CPU `_grouped_mm` (2.x, GroupedMMUtils.h)
  /// runs its groups one after the other, one BLAS call each, whereas the loop
  /// runs expert slices in parallel; `moekit bench moe-layer` measures both.
  kAuto,
  /// `_grouped_mm` wherever it runs (device, dtype, 16-byte aligned widths);
  /// the slice loop where it does not.
  kGroupedMm,
  /// Always the slice loop.
  kSliceLoop,
};

/// "auto" | "grouped_mm" | "slice_loop".
std::string to_string(ExpertGemm choice);
/// Inverse of to_string; throws moekit::Error naming `where` and the choices.
ExpertGemm parse_expert_gemm(const std::string& name, const std::string& where = "expert_gemm");

/// The process-wide choice (default kAuto), read when a grouped forward starts;
/// its backward takes the path its forward took. Like torch.backends flags.
void set_expert_gemm(ExpertGemm choice);
ExpertGemm expert_gemm();

/// Sets the choice for one scope, restores the previous one on exit.
class ExpertGemmGuard {
 public:
  explicit ExpertGemmGuard(ExpertGemm choice) : previous_(expert_gemm()) {
    set_expert_gemm(choice);
  }
  ~ExpertGemmGuard() { set_expert_gemm(previous_); }
  ExpertGemmGuard(const ExpertGemmGuard&) = delete;
  ExpertGemmGuard& operator=(const ExpertGemmGuard&) = delete;

 private:
  ExpertGemm previous_;
};

/// Whether the LibTorch this was built with has `at::_grouped_mm` at all.
bool grouped_mm_compiled();

/// What a probe of `at::_grouped_mm` found for one device and dtype (run once
/// per pair, on small problems, against fp32 GEMMs).
struct GroupedMmSupport {
  bool runs = false;   // the three forms FFNExperts uses run
  bool exact = false;  // and agree with fp32 GEMMs to a few units of rounding
  /// The input gradient may read the weight as a transposed view; when false it
  /// takes a contiguous copy (the view was inexact, the copy is not).
  bool transposed_weight = false;
  std::string note;  // why not, or what was worked around; empty when all is well
};
GroupedMmSupport grouped_mm_support(const at::Device& device, at::ScalarType dtype);

/// Whether `at::_grouped_mm` runs on `device` in `dtype` with the running torch,
/// and exactly (grouped_mm_support); false when not compiled.
bool grouped_mm_available(const at::Device& device, at::ScalarType dtype);

/// Whether x [A, K] · w [E, K, N] meets `_grouped_mm`'s layout rules: rows of
/// every operand 16-byte aligned (K and N multiples of 16 / element size), 16-byte
/// aligned data, one dtype, at least one row.
bool grouped_mm_fits(const at::Tensor& x, const at::Tensor& w);

/// Where kAuto takes `_grouped_mm` when it is available and fits: CUDA, any dtype.
bool auto_prefers_grouped_mm(const at::Device& device, at::ScalarType dtype);

/// Whether FFNExperts' grouped forward runs x · w as `_grouped_mm` under the
/// current choice: the choice allows it, it is available and the shapes fit.
bool uses_grouped_mm(const at::Tensor& x, const at::Tensor& w);

/// The three GEMMs of one grouped linear layer as `_grouped_mm` calls, rows of
/// expert e at [offsets[e], offsets[e] + counts[e]). No bias: `_grouped_mm` has
/// none. Throw moekit::Error where `_grouped_mm` is not compiled in; callers
/// check uses_grouped_mm first.
/// x [A, K], w [E, K, N] -> y [A, N].
at::Tensor grouped_mm(const at::Tensor& x, const at::Tensor& w, const std::vector<int64_t>& counts);
/// gy [A, N], w [E, K, N] -> gx [A, K] = gy[slice e] · w[e]ᵀ.
at::Tensor grouped_mm_input_grad(const at::Tensor& gy, const at::Tensor& w,
                                 const std::vector<int64_t>& counts);
/// x [A, K], gy [A, N] -> gw [E, K, N] = x[slice e]ᵀ · gy[slice e]; zero for
/// experts without rows.
at::Tensor grouped_mm_weight_grad(const at::Tensor& x, const at::Tensor& gy,
                                  const std::vector<int64_t>& counts);

}  // namespace moekit::moe
