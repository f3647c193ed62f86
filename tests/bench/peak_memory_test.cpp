#include "benchmarks/peak_memory.h"

#include <c10/core/CPUAllocator.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace moekit::bench {
namespace {

TEST(BenchPeakMemory, CountsAKnownAllocationAndItsRelease) {
  const ScopedCpuMemoryCounter counter;
  PeakMemory memory(torch::kCPU);
  memory.reset();
  const int64_t live = cpu_live_bytes();
  {
    const at::Tensor t = torch::empty({1000}, torch::kFloat);
    EXPECT_EQ(cpu_live_bytes() - live, 4000);
  }
  EXPECT_EQ(cpu_live_bytes(), live);
  EXPECT_EQ(memory.peak_above_start(), 4000);  // the peak outlives the tensor
  memory.reset();
  EXPECT_EQ(memory.peak_above_start(), 0);
}

TEST(BenchPeakMemory, RestoresThePreviousAllocatorAfterNestedScopes) {
  c10::Allocator* const before = c10::GetCPUAllocator();
  {
    const ScopedCpuMemoryCounter outer;
    EXPECT_EQ(outer.previous(), before);
    c10::Allocator* const counting = c10::GetCPUAllocator();
    EXPECT_NE(counting, before);
    {
      const ScopedCpuMemoryCounter inner;
      EXPECT_EQ(c10::GetCPUAllocator(), counting);  // nested: one counter
    }
    EXPECT_EQ(c10::GetCPUAllocator(), counting);
  }
  EXPECT_EQ(c10::GetCPUAllocator(), before);
  // A tensor made while counting is freed safely after the counter is gone.
  at::Tensor kept;
  {
    const ScopedCpuMemoryCounter counter;
    kept = torch::ones({16});
  }
  EXPECT_EQ(kept.sum().item<float>(), 16.0f);
  kept = at::Tensor();
}

}  // namespace
}  // namespace moekit::bench
