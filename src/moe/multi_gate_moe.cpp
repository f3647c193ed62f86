#include "moekit/moe/multi_gate_moe.h"

#include <torch/torch.h>

#include "moekit/core/error.h"
#include "moekit/moe/dispatch.h"

namespace moekit::moe {

MultiGateMoEImpl::MultiGateMoEImpl(std::vector<std::shared_ptr<gates::Gate>> gates,
                                   std::shared_ptr<Experts> experts) {
  MOEKIT_CHECK(!gates.empty(), "gates", "a multi-gate MoE needs at least one gate");
  MOEKIT_CHECK(experts != nullptr, "experts", "a multi-gate MoE needs experts");
  for (size_t t = 0; t < gates.size(); ++t) {
    gates_.push_back(register_module("gate_" + std::to_string(t), std::move(gates[t])));
  }
  experts_ = register_module("experts", std::move(experts));
}

void MultiGateMoEImpl::set_experts(std::shared_ptr<Experts> experts) {
  MOEKIT_CHECK(experts && experts->n_experts() == experts_->n_experts(), "experts",
               "a replacement needs {} experts", experts_->n_experts());
  experts_ = replace_module("experts", std::move(experts));
}

MultiGateOutput MultiGateMoEImpl::forward(const at::Tensor& expert_input,
                                          const gates::GateInput& gate_input) {
  MOEKIT_CHECK(expert_input.size(0) == gate_input.x.size(0), "expert_input",
               "expert and gate inputs need the same rows, got {} and {}", expert_input.size(0),
               gate_input.x.size(0));
  MultiGateOutput out;
  for (auto& gate : gates_) out.routings.push_back(gate->forward(gate_input));
  const DispatchPlan plan = plan_union_dispatch(out.routings, experts_->n_experts());
  const at::Tensor y_grouped = experts_->forward(gather_rows(expert_input, plan), plan.counts);
  out.aux_loss = at::zeros({}, gate_input.x.options());
  for (const auto& routing : out.routings) {
    out.y.push_back(combine(y_grouped, assignment_weights(plan, routing), plan));
    out.aux_loss = out.aux_loss + routing.aux_loss;
  }
  return out;
}

}  // namespace moekit::moe
