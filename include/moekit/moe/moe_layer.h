#pragma once
#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <string>

#include "moekit/gates/gate.h"
#include "moekit/moe/experts.h"

namespace moekit::moe {

/// Options of a MoE FFN layer: FFN experts d_model -> hidden -> d_model and a
/// gate from the registry.
struct MoELayerOptions {
  MoELayerOptions(int64_t d_model, int64_t hidden, int64_t n_experts)
      : d_model_(d_model), hidden_(hidden), n_experts_(n_experts) {}
  TORCH_ARG(int64_t, d_model);
  TORCH_ARG(int64_t, hidden);
  TORCH_ARG(int64_t, n_experts);
  /// Registry name of the gate (`moekit gates`).
  TORCH_ARG(std::string, gate) = "softmax";
  /// Gate knobs; d_in and n_experts are filled in from the layer.
  TORCH_ARG(gates::GateOptions, gate_options) = gates::GateOptions(0, 0);
  TORCH_ARG(std::string, activation) = "relu";
};

/// What a MoE layer returns: the output, the routing and its auxiliary loss.
struct MoEOutput {
  at::Tensor y;         // [..., d_out]
  gates::Routing routing;
  at::Tensor aux_loss;  // scalar, add it to the training loss
};

/// gate + experts + dispatch/combine (DESIGN.md "The routing core"): rows are
/// sorted by expert, each expert runs once on its contiguous slice, outputs are
/// weighted and scatter-added back. Never runs an expert on a row it does not serve.
class MoELayerImpl : public torch::nn::Module, public ExpertHost {
 public:
  explicit MoELayerImpl(MoELayerOptions options);
  /// Any gate over any expert set (e.g. ModuleExperts); x is the gate input too.
  MoELayerImpl(std::shared_ptr<gates::Gate> gate, std::shared_ptr<Experts> experts);

  /// x [..., d]; ids/seq/state [...] as GateInput needs them (flattened like x).
  MoEOutput forward(const at::Tensor& x, const at::Tensor& ids = {}, const at::Tensor& seq = {},
                    const at::Tensor& state = {});

  /// Experts and combine for a routing computed elsewhere (e.g. a forced expert).
  at::Tensor forward_routed(const at::Tensor& x2d, const gates::Routing& routing);

  void pretty_print(std::ostream& stream) const override;

  gates::Gate& gate() { return *gate_; }
  Experts& experts() { return *experts_; }
  std::shared_ptr<Experts> expert_set() override { return experts_; }
  /// Swaps the expert set (same n_experts), e.g. for an expert-parallel shard
  /// (dist::shard_moe_experts); it is registered under the same name.
  void set_experts(std::shared_ptr<Experts> experts) override;

 private:
  std::shared_ptr<gates::Gate> gate_;
  std::shared_ptr<Experts> experts_;
};
TORCH_MODULE(MoELayer);

}  // namespace moekit::moe
