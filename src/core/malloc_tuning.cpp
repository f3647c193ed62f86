#include "moekit/core/malloc_tuning.h"

#include <cstdlib>
#include <cstring>
#include <initializer_list>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace moekit {

namespace {

bool user_configured_malloc() {
  if (const char* opt_out = std::getenv("MOEKIT_DEFAULT_MALLOC");
      opt_out && *opt_out && std::strcmp(opt_out, "0") != 0) {
    return true;
  }
  for (const char* name : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_TRIM_THRESHOLD_"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  return tunables != nullptr && std::strstr(tunables, "glibc.malloc.") != nullptr;
}

}  // namespace

MallocTuning keep_large_blocks_in_heap() {
#ifdef __GLIBC__
  if (user_configured_malloc()) return MallocTuning::left_to_user;
  constexpr int kOneGiB = 1 << 30;
  constexpr int kHeapPad = 256 << 20;
  // Setting the mmap threshold explicitly also stops glibc from moving it.
  mallopt(M_MMAP_THRESHOLD, kOneGiB);
  mallopt(M_TRIM_THRESHOLD, kOneGiB);
  mallopt(M_TOP_PAD, kHeapPad);
  return MallocTuning::applied;
#else
  return MallocTuning::not_glibc;
#endif
}

}  // namespace moekit
