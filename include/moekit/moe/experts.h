#pragma once
#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <string>
#include <vector>

namespace moekit::moe {

/// Where an Experts keeps each expert's tensors, for code that splits an
/// expert set over processes (dist/expert_parallel.h, dist/full_state.h).
enum class ExpertLayout {
  /// Every parameter and buffer is [n_experts, ...]: expert e owns index e of dim 0.
  kStacked,
  /// Expert e's tensors live under its submodule "expert_<e>".
  kPerExpertModule,
};

/// A set of n experts. Dispatch hands it the rows grouped by expert; expert e
/// runs on its own contiguous slice only.
class Experts : public torch::nn::Module {
 public:
  using torch::nn::Module::Module;

  virtual int64_t n_experts() const = 0;

  /// Runs expert e on every row of x: [R, ...] -> [R, ...out].
  virtual at::Tensor forward_expert(int64_t e, const at::Tensor& x) = 0;

  /// Runs each expert on its slice of `x_grouped` ([A, ...], rows of expert e at
  /// [offsets[e], offsets[e] + counts[e])), returns the outputs in the same order.
  /// Experts with no rows are skipped.
  virtual at::Tensor forward(const at::Tensor& x_grouped, const std::vector<int64_t>& counts);

  /// How this set keeps its experts' tensors (kPerExpertModule unless overridden).
  virtual ExpertLayout layout() const { return ExpertLayout::kPerExpertModule; }

  /// Experts [first, first + count) as a set of `count` experts holding copies
  /// of their tensors (so the rest can be freed), or nullptr when this class
  /// cannot build one; callers then wrap the expert modules instead.
  virtual std::shared_ptr<Experts> slice(int64_t first, int64_t count) const { return nullptr; }
};

/// A module that routes rows to an expert set it owns (MoELayer, MultiGateMoE):
/// what expert parallelism looks for to shard the experts of a model.
class ExpertHost {
 public:
  virtual ~ExpertHost() = default;
  /// The expert set, as registered under "experts".
  virtual std::shared_ptr<Experts> expert_set() = 0;
  /// Swaps the expert set (same n_experts), registered under the same name.
  virtual void set_experts(std::shared_ptr<Experts> experts) = 0;
};

/// Options of FFNExperts: n experts of d_in -> hidden -> d_out.
struct FFNExpertsOptions {
  FFNExpertsOptions(int64_t n_experts, int64_t d_in, int64_t hidden)
      : n_experts_(n_experts), d_in_(d_in), hidden_(hidden) {}
  TORCH_ARG(int64_t, n_experts);
  TORCH_ARG(int64_t, d_in);
  TORCH_ARG(int64_t, hidden);
  /// Output width; 0 means d_in.
  TORCH_ARG(int64_t, d_out) = 0;
  /// relu | gelu | silu | tanh
  TORCH_ARG(std::string, activation) = "relu";

 public:
  int64_t resolved_d_out() const { return d_out_ > 0 ? d_out_ : d_in_; }
  /// Throws moekit::Error naming the field at fault.
  void validate() const;
};

/// Two-layer FFN experts with batched weights: w1 [E, d_in, hidden], b1 [E, hidden],
/// w2 [E, hidden, d_out], b2 [E, d_out]. Parameter names are the checkpoint format.
class FFNExpertsImpl : public Experts {
 public:
  explicit FFNExpertsImpl(FFNExpertsOptions options);

  void reset();
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  int64_t n_experts() const override { return options.n_experts(); }
  ExpertLayout layout() const override { return ExpertLayout::kStacked; }
  /// A new FFNExperts with rows [first, first + count) of every weight, on
  /// their device and in their dtype.
  std::shared_ptr<Experts> slice(int64_t first, int64_t count) const override;
  at::Tensor forward_expert(int64_t e, const at::Tensor& x) override;
  /// Grouped path: one `at::_grouped_mm` per weight where expert_gemm() and the
  /// running torch allow it (moe/grouped_gemm.h: by default on CUDA), else one
  /// GEMM per expert slice per weight; one autograd node per weight whose
  /// gradient is written per slice into one [E, ...] tensor. x_grouped
  /// is [A, d_in]; returns [A, d_out]; matches forward_expert slice by slice.
  at::Tensor forward(const at::Tensor& x_grouped, const std::vector<int64_t>& counts) override;

  FFNExpertsOptions options;
  at::Tensor w1, b1, w2, b2;
};
TORCH_MODULE(FFNExperts);

/// Applies the activation named in FFNExpertsOptions::activation.
at::Tensor apply_activation(const std::string& name, const at::Tensor& x);

}  // namespace moekit::moe
