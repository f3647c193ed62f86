// Shared by the harnesses: readers take paths, so each input goes to a file,
// and the one allowed failure is a moekit::Error that names that file.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "moekit/core/error.h"

namespace moekit::fuzz {

/// A per-process scratch folder (in /dev/shm when there is one: inputs are
/// written thousands of times a second).
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    std::string d = std::string(base) + "/moekit_fuzz_" + std::to_string(getpid());
    std::string cmd = "mkdir -p '" + d + "'";
    if (std::system(cmd.c_str()) != 0) std::abort();
    return d;
  }();
  return dir;
}

inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  if (!out.good()) std::abort();
}

/// Runs `read`; returns normally when it succeeds or throws a moekit::Error
/// whose text holds `must_name`. Anything else is a finding: abort so that
/// libFuzzer keeps the input.
template <typename F>
void expect_clean(F&& read, const std::string& must_name) {
  try {
    read();
  } catch (const Error& e) {
    // Not e.what(): input quoted in the message may hold NUL bytes.
    const std::string text = e.where() + ": " + e.message();
    if (text.find(must_name) == std::string::npos) {
      std::fprintf(stderr, "moekit::Error does not name '%s': %s\n", must_name.c_str(), e.what());
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "escaped exception (not moekit::Error): %s\n", e.what());
    std::abort();
  }
}

}  // namespace moekit::fuzz
