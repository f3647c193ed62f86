#include "moekit/core/malloc_tuning.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace moekit {
namespace {

#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)

constexpr size_t kLargeBlock = size_t{64} << 20;  // above glibc's largest mmap threshold

// Number of blocks glibc is serving with their own mmap right now.
size_t mmapped_blocks() { return mallinfo2().hblks; }

// Whether glibc serves a large block with its own mmap.
bool large_block_is_mmapped() {
  const size_t before = mmapped_blocks();
  void* block = std::malloc(kLargeBlock);
  EXPECT_NE(block, nullptr);
  // Through a volatile pointer, so that the compiler cannot drop the unused
  // malloc/free pair (GCC 15 did, and then nothing was ever mmapped).
  void* volatile escaped = block;
  static_cast<volatile char*>(escaped)[0] = 1;
  const size_t during = mmapped_blocks();
  std::free(escaped);
  return during > before;
}

// Sets or clears one environment variable for the scope of a test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      setenv(name_, old_->c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// The user's own glibc settings win; this runs first so that the process is
// still untuned, and proves a 64 MB block is mmapped by default.
TEST(CoreMallocTuning, LeavesGlibcAloneWhenTheUserConfiguredIt) {
  ScopedEnv tunables("GLIBC_TUNABLES", "glibc.malloc.top_pad=0");
  EXPECT_EQ(keep_large_blocks_in_heap(), MallocTuning::left_to_user);
  EXPECT_TRUE(large_block_is_mmapped());
  ScopedEnv threshold("MALLOC_TRIM_THRESHOLD_", "131072");
  ScopedEnv no_tunables("GLIBC_TUNABLES", nullptr);
  EXPECT_EQ(keep_large_blocks_in_heap(), MallocTuning::left_to_user);
  EXPECT_TRUE(large_block_is_mmapped());
  ScopedEnv no_threshold("MALLOC_TRIM_THRESHOLD_", nullptr);
  ScopedEnv opt_out("MOEKIT_DEFAULT_MALLOC", "1");
  EXPECT_EQ(keep_large_blocks_in_heap(), MallocTuning::left_to_user);
  EXPECT_TRUE(large_block_is_mmapped());
}

TEST(CoreMallocTuning, KeepsLargeBlocksInTheHeapAndReusesThem) {
  ScopedEnv a("MALLOC_MMAP_THRESHOLD_", nullptr), b("MALLOC_TOP_PAD_", nullptr),
      c("MALLOC_TRIM_THRESHOLD_", nullptr), d("GLIBC_TUNABLES", nullptr),
      e("MOEKIT_DEFAULT_MALLOC", "0");
  ASSERT_EQ(keep_large_blocks_in_heap(), MallocTuning::applied);
  EXPECT_FALSE(large_block_is_mmapped());
  // Freed and asked for again, the block comes from memory the heap kept.
  const size_t heap_before = mallinfo2().arena;
  EXPECT_FALSE(large_block_is_mmapped());
  EXPECT_EQ(mallinfo2().arena, heap_before);
}

#else

TEST(CoreMallocTuning, ReportsWhenThereIsNothingToTune) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "AddressSanitizer replaces malloc; glibc's settings do not apply";
#else
  EXPECT_EQ(keep_large_blocks_in_heap(), MallocTuning::not_glibc);
#endif
}

#endif

}  // namespace
}  // namespace moekit
