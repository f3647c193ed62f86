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
  /// [T] per-row routing state that start_sequences() returned, handed back at
  /// every step of incremental decoding; undefined otherwise.
  at::Tensor state;
};

/// Every gate maps GateInput to a Routing. No side channels: the auxiliary
/// loss travels in Routing::aux_loss, already scaled.
class Gate : public torch::nn::Module {
 public:
  using torch::nn::Module::Module;
  virtual Routing forward(const GateInput& in) = 0;

  /// Called once after every optimiser step (see step_gate_schedules): gates
  /// whose schedule counts optimiser steps, like local search, advance here
  /// rather than per forward pass, so two-pass (consistency) training and
  /// gradient accumulation do not change the schedule. Default: nothing.
  virtual void optimizer_step() {}
  /// Called by epoch-based trainers before training, so a gate can turn a
  /// schedule given in epochs into optimiser steps. Default: nothing.
  virtual void set_steps_per_epoch(int64_t /*steps_per_epoch*/) {}
  /// Incremental decoding calls this once before the first step, with the
  /// sequence index of every row ([B] int64; beams of one sentence share it).
  /// A gate whose routing of a sequence must stay the same across steps (THOR's
  /// one expert per sentence) returns per-row state [B]; decoding passes it back
  /// in GateInput::state at every step, reordered with the beams. Default: no
  /// state (undefined), every step is routed afresh.
  virtual at::Tensor start_sequences(const at::Tensor& /*seq*/) { return {}; }
};

/// Calls optimizer_step() on every gate in `model` (any depth). Trainers call
/// it once after each optimiser step.
void step_gate_schedules(torch::nn::Module& model);

/// Calls set_steps_per_epoch() on every gate in `model` (any depth).
void set_gate_steps_per_epoch(torch::nn::Module& model, int64_t steps_per_epoch);

/// One registry row: a gate's name, what it is, and the options it reads.
struct GateInfo {
  std::string name;
  std::string summary;
  std::vector<std::string> options;
  /// Experts each input goes to once the gate is trained: "dense" (all),
  /// "1" or "k" (gate.k).
  std::string routes;
};

/// Experts `gate` sends each input to once trained (0 for a dense gate): what a
/// sparse gate's mean active experts at test should be.
int64_t routed_experts(const std::string& gate, int64_t k);

/// The options of the local-search wrapper, which any gate reads when
/// local_search is on.
const std::vector<std::string>& local_search_options();

/// The registered gates, in registry order.
const std::vector<GateInfo>& registered_gates();

/// Builds the gate `name`, wrapped in permutation local search when
/// options.local_search() is set. Throws moekit::Error naming `name` and the
/// registered gates when it is unknown, or naming the option at fault.
std::shared_ptr<Gate> make_gate(const std::string& name, const GateOptions& options);

/// One gate per task of a multi-gate model. With options.local_search() the
/// tasks share one permutation Π, as COMET's reference code learns it
/// (the first task's gate owns it, the others route through it), unless
/// options.permutation_per_task() asks for one Π per task gate.
std::vector<std::shared_ptr<Gate>> make_task_gates(const std::string& name,
                                                   const GateOptions& options, int64_t n_tasks);

}  // namespace moekit::gates
