// Test helper: expect a moekit::Error whose message holds given pieces.
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "moekit/core/error.h"

namespace moekit::testing {

/// Runs `f`, expecting moekit::Error whose text holds every piece of `parts`.
template <typename F>
void expect_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected moekit::Error";
  } catch (const Error& e) {
    for (const auto& part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
          << "'" << part << "' missing from: " << e.what();
    }
  }
}

}  // namespace moekit::testing
