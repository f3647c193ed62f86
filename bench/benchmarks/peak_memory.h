#pragma once
// Peak memory of one benchmark call, on CPU or CUDA. Part of the benchmark
// target (bench/CMakeLists.txt), never of the library: counting CPU bytes
// swaps the process-wide CPU allocator, which no library code may do.
#include <c10/core/Allocator.h>
#include <torch/types.h>

#include <cstdint>

namespace moekit::bench {

/// While alive, every CPU allocation goes through a counting wrapper around
/// the CPU allocator that was installed before; the destructor puts that one
/// back. Nested scopes count into the same totals.
///
/// NOTE: why a process-wide swap. LibTorch 1.13 keeps no CPU allocation
/// statistics, and its profiler's memory reports (c10::reportMemoryUsage-
/// ToProfiler) follow thread-local state that the intra-op worker threads do
/// not inherit, while the expert GEMM blocks allocate on those threads
/// (at::parallel_for). Only the allocator itself sees every byte. Create one
/// only where no other thread is allocating through a different scope.
class ScopedCpuMemoryCounter {
 public:
  ScopedCpuMemoryCounter();
  ~ScopedCpuMemoryCounter();
  ScopedCpuMemoryCounter(const ScopedCpuMemoryCounter&) = delete;
  ScopedCpuMemoryCounter& operator=(const ScopedCpuMemoryCounter&) = delete;

  /// The allocator installed before this scope (restored on exit).
  c10::Allocator* previous() const { return previous_; }

 private:
  c10::Allocator* previous_;
};

/// Bytes allocated through the counting allocator and not yet freed, and the
/// highest that value reached since reset_cpu_peak(); 0 when never installed.
int64_t cpu_live_bytes();
int64_t cpu_peak_bytes();
/// Sets the peak to the current live bytes.
void reset_cpu_peak();

/// Peak bytes allocated above the level at reset(), on `device`: counted by
/// ScopedCpuMemoryCounter on CPU (one must be alive), read from the CUDA
/// caching allocator's statistics on CUDA (0 in a build without
/// MOEKIT_WITH_CUDA).
class PeakMemory {
 public:
  explicit PeakMemory(const torch::Device& device) : device_(device) {}
  void reset();
  int64_t peak_above_start() const;

 private:
  torch::Device device_;
  int64_t start_ = 0;
};

}  // namespace moekit::bench
