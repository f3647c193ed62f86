#include "moekit/moe/moe_layer.h"

#include <torch/torch.h>

#include "moekit/core/error.h"
#include "moekit/moe/dispatch.h"

namespace moekit::moe {

MoELayerImpl::MoELayerImpl(MoELayerOptions options) {
  gates::GateOptions gate_options = options.gate_options();
  gate_options.d_in(options.d_model()).n_experts(options.n_experts());
  gate_ = register_module("gate", gates::make_gate(options.gate(), gate_options));
  auto experts = FFNExperts(FFNExpertsOptions(options.n_experts(), options.d_model(),
                                              options.hidden())
                                .activation(options.activation()));
  experts_ = register_module("experts", experts.ptr());
}

MoELayerImpl::MoELayerImpl(std::shared_ptr<gates::Gate> gate, std::shared_ptr<Experts> experts) {
  MOEKIT_CHECK(gate && experts, "moe_layer", "needs a gate and experts");
  gate_ = register_module("gate", std::move(gate));
  experts_ = register_module("experts", std::move(experts));
}

MoEOutput MoELayerImpl::forward(const at::Tensor& x, const at::Tensor& ids,
                                const at::Tensor& seq, const at::Tensor& state) {
  MOEKIT_CHECK(x.dim() >= 1, "x", "expected [..., d], got a scalar");
  const at::Tensor x2d = x.reshape({-1, x.size(-1)});  // [T, d]
  auto flat = [](const at::Tensor& t) { return t.defined() ? t.reshape(-1) : t; };
  gates::GateInput in{x2d, flat(ids), flat(seq), flat(state)};
  gates::Routing routing = gate_->forward(in);
  at::Tensor y = forward_routed(x2d, routing);
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = y.size(-1);
  return MoEOutput{y.view(shape), routing, routing.aux_loss};
}

at::Tensor MoELayerImpl::forward_routed(const at::Tensor& x2d, const gates::Routing& routing) {
  const DispatchPlan plan = plan_dispatch(routing.idx, experts_->n_experts());
  const at::Tensor y_grouped = experts_->forward(gather_rows(x2d, plan), plan.counts);  // [A, d_out]
  return combine(y_grouped, assignment_weights(plan, routing), plan);                    // [T, d_out]
}

void MoELayerImpl::set_experts(std::shared_ptr<Experts> experts) {
  MOEKIT_CHECK(experts && experts->n_experts() == experts_->n_experts(), "experts",
               "a replacement needs {} experts", experts_->n_experts());
  experts_ = replace_module("experts", std::move(experts));
}

void MoELayerImpl::pretty_print(std::ostream& stream) const {
  stream << "moekit::MoELayer";
}

}  // namespace moekit::moe
