// Torch-version guards, and only those (STYLE.md "Device-split kernels"): code
// that needs an ATen op newer than the oldest supported LibTorch (1.13) tests
// one of these macros instead of comparing versions itself.
#pragma once
#include <torch/version.h>

/// 1 when ATen has `at::_grouped_mm` (torch >= 2.8): one grouped GEMM over
/// expert slices given their end offsets (CUDA, bf16; sm90+ in 2.8).
#if (TORCH_VERSION_MAJOR > 2) || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 8)
#define MOEKIT_HAS_GROUPED_MM 1
#else
#define MOEKIT_HAS_GROUPED_MM 0
#endif
