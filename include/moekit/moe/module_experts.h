#pragma once
#include <torch/nn/modules/container/any.h>

#include <vector>

#include "moekit/moe/experts.h"

namespace moekit::moe {

/// Experts that are arbitrary modules with `Tensor forward(Tensor)` (CNNs,
/// deeper MLPs). Expert e is registered as "expert_<e>".
class ModuleExpertsImpl : public Experts {
 public:
  explicit ModuleExpertsImpl(std::vector<torch::nn::AnyModule> experts);

  int64_t n_experts() const override { return static_cast<int64_t>(experts_.size()); }
  at::Tensor forward_expert(int64_t e, const at::Tensor& x) override;
  using Experts::forward;
  void pretty_print(std::ostream& stream) const override;

 private:
  std::vector<torch::nn::AnyModule> experts_;
};
TORCH_MODULE(ModuleExperts);

}  // namespace moekit::moe
