#pragma once
// The CUDA side of PeakMemory (peak_memory_cuda.cpp): the caching allocator's
// statistics, in a build with MOEKIT_WITH_CUDA; 0 without it.
#include <torch/types.h>

#include <cstdint>

namespace moekit::bench {

/// Resets the peak statistic of `device` and returns the bytes allocated now.
int64_t reset_cuda_peak(const torch::Device& device);
/// Peak bytes allocated on `device` since reset_cuda_peak.
int64_t cuda_peak_bytes(const torch::Device& device);

}  // namespace moekit::bench
