#include "moekit/moe/module_experts.h"

#include <torch/torch.h>

#include "moekit/core/error.h"

namespace moekit::moe {

ModuleExpertsImpl::ModuleExpertsImpl(std::vector<torch::nn::AnyModule> experts)
    : experts_(std::move(experts)) {
  MOEKIT_CHECK(!experts_.empty(), "experts", "need at least one expert module");
  for (size_t e = 0; e < experts_.size(); ++e) {
    register_module("expert_" + std::to_string(e), experts_[e].ptr());
  }
}

at::Tensor ModuleExpertsImpl::forward_expert(int64_t e, const at::Tensor& x) {
  return experts_.at(e).forward(x);
}

void ModuleExpertsImpl::pretty_print(std::ostream& stream) const {
  stream << "moekit::ModuleExperts(n_experts=" << experts_.size() << ")";
}

}  // namespace moekit::moe
