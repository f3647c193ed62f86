#pragma once
#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <vector>

#include "moekit/gates/gate_options.h"
#include "moekit/gates/routing.h"

namespace moekit::gates {

/// What a gate reads: the gate inputs, plus keys for the gates that need them.
struct GateInput {
  at::Tensor x;    // [T, d_in]
  at::Tensor ids;  // [T] int64; read only by key-based gates (hash)
  at::Tensor seq;  // [T] int64 sequence index; read only by random with granularity=sequence
};

/// Every gate maps GateInput to a Routing. No side channels: the auxiliary
/// loss travels in Routing::aux_loss, already scaled.
class Gate : public torch::nn::Module {
 public:
  using torch::nn::Module::Module;
  virtual Routing forward(const GateInput& in) = 0;
};

/// One registry row: a gate's name, what it is, and the options it reads.
struct GateInfo {
  std::string name;
  std::string summary;
  std::vector<std::string> options;
};

/// The registered gates, in registry order.
const std::vector<GateInfo>& registered_gates();

/// Builds the gate `name`, wrapped in permutation local search when
/// options.local_search() is set. Throws moekit::Error naming `name` and the
/// registered gates when it is unknown, or naming the option at fault.
std::shared_ptr<Gate> make_gate(const std::string& name, const GateOptions& options);

}  // namespace moekit::gates
