#pragma once

namespace moekit {

/// Sets LibTorch's intra-op thread count (the Debian build starts at 1).
/// `requested` <= 0 means every core. Returns the count in force.
int configure_threads(int requested);

}  // namespace moekit
