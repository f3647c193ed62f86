// Precompiled header shared by every moekit target: LibTorch's headers take
// most of the compile time, so they are parsed once per build.
#pragma once
#include <torch/torch.h>
#include <fmt/format.h>
#include <string>
#include <vector>
