#include "benchmarks/peak_memory_cuda.h"

#ifdef MOEKIT_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace moekit::bench {

#ifdef MOEKIT_WITH_CUDA
namespace {
c10::DeviceIndex cuda_index(const torch::Device& device) {
  return device.index() < 0 ? 0 : device.index();
}
// allocated_bytes[0] is the aggregate over pool types.
int64_t cuda_allocated(const torch::Device& device, bool peak) {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(cuda_index(device));
  return peak ? stats.allocated_bytes[0].peak : stats.allocated_bytes[0].current;
}
}  // namespace

int64_t reset_cuda_peak(const torch::Device& device) {
  c10::cuda::CUDACachingAllocator::resetPeakStats(cuda_index(device));
  return cuda_allocated(device, /*peak=*/false);
}
int64_t cuda_peak_bytes(const torch::Device& device) { return cuda_allocated(device, true); }
#else
int64_t reset_cuda_peak(const torch::Device&) { return 0; }
int64_t cuda_peak_bytes(const torch::Device&) { return 0; }
#endif

}  // namespace moekit::bench
