#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <vector>

#include "moekit/gates/gate.h"
#include "moekit/moe/experts.h"

namespace moekit::moe {

/// One output per gate (task), from one expert set.
struct MultiGateOutput {
  std::vector<at::Tensor> y;              // per task: [T, ...out]
  std::vector<gates::Routing> routings;   // per task
  at::Tensor aux_loss;                    // sum of the gates' aux losses
};

/// Multi-gate mixture of experts (MMoE style): one expert set, one gate per
/// task. Each expert runs once on the union of the rows any task routes to it;
/// each task combines the shared expert outputs with its own weights.
class MultiGateMoEImpl : public torch::nn::Module, public ExpertHost {
 public:
  MultiGateMoEImpl(std::vector<std::shared_ptr<gates::Gate>> gates,
                   std::shared_ptr<Experts> experts);

  /// expert_input [T, ...] feeds the experts; gate_input.x [T, d_in] the gates.
  MultiGateOutput forward(const at::Tensor& expert_input, const gates::GateInput& gate_input);

  int64_t n_tasks() const { return static_cast<int64_t>(gates_.size()); }
  gates::Gate& gate(int64_t task) { return *gates_.at(task); }
  Experts& experts() { return *experts_; }
  std::shared_ptr<Experts> expert_set() override { return experts_; }
  /// Swaps the expert set (same n_experts), e.g. for an expert-parallel shard.
  void set_experts(std::shared_ptr<Experts> experts) override;

 private:
  std::vector<std::shared_ptr<gates::Gate>> gates_;
  std::shared_ptr<Experts> experts_;
};
TORCH_MODULE(MultiGateMoE);

}  // namespace moekit::moe
