// Torch-version differences, and only those (STYLE.md "Device-split kernels"):
// code that needs an ATen op or API newer than the oldest supported LibTorch
// (1.13) uses a macro or type from here instead of comparing versions itself.
// Built and tested against 1.13 (bookworm) and 2.x (`make test-torch2`).
//
// Differences handled elsewhere without a version check, for the record:
// - C++ standard: 2.x headers need C++20; CMakeLists.txt takes LibTorch's.
// - c10d: ProcessGroupGloo derives from ProcessGroup in 1.13, Backend in 2.x;
//   src/dist/process_group.cpp holds the concrete class.
// - c10::optional is std::optional in 2.x: moekit uses neither in its API.
#pragma once
#include <c10/core/Allocator.h>
#include <torch/optim/optimizer.h>
#include <torch/version.h>

#include <cstddef>
#include <cstring>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

/// 1 when ATen has `at::_grouped_mm` (torch >= 2.8): one GEMM over row slices
/// given their int32 end offsets. Where it runs differs by version, device and
/// dtype (2.8: CUDA sm90 bf16; later also other GPUs and CPU, fp32/bf16/fp16),
/// so callers probe it at run time (moe/grouped_gemm.h) instead of assuming.
#if (TORCH_VERSION_MAJOR > 2) || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 8)
#define MOEKIT_HAS_GROUPED_MM 1
#else
#define MOEKIT_HAS_GROUPED_MM 0
#endif

namespace moekit::compat {

/// The LibTorch version moekit was built against, e.g. "1.13.0" (for reports
/// and messages; code that depends on a version uses the macros above).
inline const char* torch_version() { return TORCH_VERSION; }

/// A c10::Allocator to derive from with one interface on every LibTorch:
/// implement `allocate_impl`. NOTE: 1.13 declares `allocate(size_t) const`,
/// 2.x a non-const `allocate(size_t)` and a pure virtual `copy_data`. Both
/// `allocate` overloads are defined here, so whichever the base declares is
/// overridden and the other is an ordinary member; `copy_data` is an override
/// in 2.x and an unused member in 1.13. No version number is compared, so the
/// releases in between (where each change landed) build as well.
class Allocator : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) const { return allocate_impl(n); }
  c10::DataPtr allocate(size_t n) { return allocate_impl(n); }
  /// Requires: both from this allocator, each at least `count` bytes.
  void copy_data(void* dest, const void* src, std::size_t count) const {
    if (count > 0) std::memcpy(dest, src, count);
  }

 protected:
  virtual c10::DataPtr allocate_impl(size_t n) const = 0;
};

/// The key type of torch::optim::Optimizer::state(): in 1.13 the parameter's
/// TensorImpl address printed to a string, in 2.x that address itself.
using OptimizerStateKey =
    typename std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;

namespace detail {
template <typename Key>
Key optimizer_state_key(void* impl) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream text;  // what 1.13's c10::guts::to_string(impl) writes
    text << impl;
    return text.str();
  } else {
    return static_cast<Key>(impl);
  }
}

template <typename T, typename = void>
struct has_use_libuv : std::false_type {};
template <typename T>
struct has_use_libuv<T, std::void_t<decltype(std::declval<T&>().useLibUV)>> : std::true_type {};
}  // namespace detail

/// c10d::TCPStoreOptions: 2.x has `useLibUV`, true by default, and a torch
/// built without libuv (Debian's) then fails every rendezvous; 1.13 has no
/// such field and the plain socket server only. Picks the plain server on
/// both (moekit's rendezvous is a handful of keys).
template <typename StoreOptions>
void use_plain_tcp_store(StoreOptions& options) {
  if constexpr (detail::has_use_libuv<StoreOptions>::value) options.useLibUV = false;
}

/// Where parameter `p`'s state is in torch::optim::Optimizer::state().
inline OptimizerStateKey optimizer_state_key(const at::Tensor& p) {
  return detail::optimizer_state_key<OptimizerStateKey>(p.unsafeGetTensorImpl());
}

}  // namespace moekit::compat
