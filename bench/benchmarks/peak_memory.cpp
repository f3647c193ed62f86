#include "benchmarks/peak_memory.h"

#include <c10/core/CPUAllocator.h>

#include <atomic>

#include "benchmarks/peak_memory_cuda.h"
#include "moekit/core/torch_compat.h"

namespace moekit::bench {
namespace {

std::atomic<int64_t> g_live_bytes{0};
std::atomic<int64_t> g_peak_bytes{0};

struct CountedBlock {
  c10::DataPtr inner;
  int64_t bytes;
};

void release_counted(void* ctx) {
  auto* block = static_cast<CountedBlock*>(ctx);
  g_live_bytes -= block->bytes;
  delete block;
}

// compat::Allocator gives one interface over 1.13's `allocate(size_t) const`
// and 2.x's non-const `allocate` with its pure virtual `copy_data`.
class CountingAllocator final : public compat::Allocator {
 public:
  c10::Allocator* base = nullptr;

 protected:
  c10::DataPtr allocate_impl(size_t n) const override {
    c10::DataPtr inner = base->allocate(n);
    void* data = inner.get();
    const c10::Device device = inner.device();
    const int64_t live = g_live_bytes += static_cast<int64_t>(n);
    int64_t peak = g_peak_bytes.load();
    while (live > peak && !g_peak_bytes.compare_exchange_weak(peak, live)) {
    }
    return c10::DataPtr(data, new CountedBlock{std::move(inner), static_cast<int64_t>(n)},
                        &release_counted, device);
  }
};

// NOTE: never destroyed: storages allocated while it was installed keep a
// pointer to it and may free (or resize) after it is uninstalled.
CountingAllocator& counting_allocator() {
  static auto* allocator = new CountingAllocator();
  return *allocator;
}

}  // namespace

ScopedCpuMemoryCounter::ScopedCpuMemoryCounter() : previous_(c10::GetCPUAllocator()) {
  if (previous_ == &counting_allocator()) return;  // nested: already counting
  counting_allocator().base = previous_;
  c10::SetCPUAllocator(&counting_allocator());
}

ScopedCpuMemoryCounter::~ScopedCpuMemoryCounter() { c10::SetCPUAllocator(previous_); }

int64_t cpu_live_bytes() { return g_live_bytes.load(); }
int64_t cpu_peak_bytes() { return g_peak_bytes.load(); }
void reset_cpu_peak() { g_peak_bytes = g_live_bytes.load(); }

void PeakMemory::reset() {
  if (device_.is_cuda()) {
    start_ = reset_cuda_peak(device_);
    return;
  }
  start_ = cpu_live_bytes();
  reset_cpu_peak();
}

int64_t PeakMemory::peak_above_start() const {
  if (device_.is_cuda()) return cuda_peak_bytes(device_) - start_;
  return cpu_peak_bytes() - start_;
}

}  // namespace moekit::bench
