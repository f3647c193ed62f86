// Test helper: a local-search gate as PermutationSearchGate, and the same
// gate bare and wrapped from one seed (for the permutation-search tests).
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

#include "moekit/gates/gate.h"
#include "moekit/gates/permutation_search.h"

namespace moekit::testing {

/// `gate` as the local-search wrapper make_gate returns (a test failure if not).
inline std::shared_ptr<gates::PermutationSearchGate> as_search(
    const std::shared_ptr<gates::Gate>& gate) {
  auto search = std::dynamic_pointer_cast<gates::PermutationSearchGate>(gate);
  EXPECT_NE(search, nullptr) << "make_gate did not wrap the gate";
  return search;
}

// The same gate twice, bare and wrapped: the inner parameters are drawn before
// L, so one seed gives both the same inner gate.
struct BareAndWrapped {
  std::shared_ptr<gates::Gate> bare;
  std::shared_ptr<gates::PermutationSearchGate> wrapped;
};

inline BareAndWrapped bare_and_wrapped(gates::GateOptions options, uint64_t seed = 0,
                                       const std::string& name = "softmax") {
  torch::manual_seed(seed);
  auto bare = gates::make_gate(name, options.local_search(false));
  torch::manual_seed(seed);
  auto wrapped = as_search(gates::make_gate(name, options.local_search(true)));
  return {bare, wrapped};
}

}  // namespace moekit::testing
