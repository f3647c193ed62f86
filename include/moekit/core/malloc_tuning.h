#pragma once

namespace moekit {

/// What `keep_large_blocks_in_heap` did.
enum class MallocTuning {
  applied,       ///< glibc keeps blocks up to 1 GiB in its heap from now on
  left_to_user,  ///< the environment opted out or set glibc's own variables
  not_glibc,     ///< another C library: nothing to tune
};

/// glibc's malloc serves every block above its mmap threshold (at most 32 MB)
/// with a fresh `mmap` and unmaps it on free, so each large tensor (a batch's
/// logits, an expert's hidden activations) is page-faulted in again on every
/// step. On virtual machines a page fault is slow enough that this made
/// training 1.6-2.3x slower (README, "Large temporaries and glibc's malloc").
/// This raises the mmap and trim thresholds to 1 GiB and pads heap growth by
/// 256 MiB so that freed blocks are reused, at the price of keeping up to
/// 1 GiB of freed memory mapped. It is left alone when the environment sets
/// MOEKIT_DEFAULT_MALLOC (to anything but 0), any of MALLOC_MMAP_THRESHOLD_,
/// MALLOC_TOP_PAD_, MALLOC_TRIM_THRESHOLD_ or a glibc.malloc tunable in
/// GLIBC_TUNABLES (the user's choice wins).
/// The CLI calls it first thing; a library user opts in by calling it.
MallocTuning keep_large_blocks_in_heap();

}  // namespace moekit
