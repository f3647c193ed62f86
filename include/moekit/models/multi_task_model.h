#pragma once
#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

#include "moekit/data/multi_task_dataset.h"
#include "moekit/gates/gate_options.h"
#include "moekit/moe/multi_gate_moe.h"

namespace moekit::models {

/// Options of the multi-gate multi-task model (MMoE style, COMET's setting).
struct MultiTaskModelOptions {
  MultiTaskModelOptions(std::vector<int64_t> input_shape, std::vector<data::TaskSpec> tasks)
      : input_shape_(std::move(input_shape)), tasks_(std::move(tasks)) {}
  /// Shape of one input row: {C, H, W} for images, {F} for features.
  TORCH_ARG(std::vector<int64_t>, input_shape);
  TORCH_ARG(std::vector<data::TaskSpec>, tasks);
  /// cnn (conv5x5(10)-pool-conv5x5(20)-pool-dense-dense) | mlp (dense-dense)
  /// | dense (one dense layer + ReLU + dropout, the COMET recommender's)
  TORCH_ARG(std::string, expert) = "cnn";
  /// Dropout inside each dense expert (the reference: 0.5).
  TORCH_ARG(double, expert_dropout) = 0.0;
  TORCH_ARG(int64_t, n_experts) = 6;
  /// Width of each expert's output and of the mlp expert's hidden layer.
  TORCH_ARG(int64_t, expert_width) = 50;
  TORCH_ARG(int64_t, tower_hidden) = 50;
  /// Vocabulary of each categorical column, embedded and appended to the features.
  TORCH_ARG(std::vector<int64_t>, categorical_sizes) = {};
  TORCH_ARG(int64_t, embedding_dim) = 16;
  /// Registry name of the gate every task uses.
  TORCH_ARG(std::string, gate) = "softmax";
  /// d_in and n_experts are filled in by the model.
  TORCH_ARG(gates::GateOptions, gate_options) = gates::GateOptions(0, 0);

 public:
  void validate() const;  // throws moekit::Error naming the field
};

struct MultiTaskOutput {
  std::vector<at::Tensor> outputs;  // per task: logits [B, C] or [B] (binary, regression)
  std::vector<gates::Routing> routings;
  at::Tensor aux_loss;
};

/// Shared experts, one gate and one tower per task. Gates read the flattened
/// features (and `ids` for hash); experts read the features in their shape.
class MultiTaskModelImpl : public torch::nn::Module {
 public:
  explicit MultiTaskModelImpl(MultiTaskModelOptions options);
  void reset();
  MultiTaskOutput forward(const data::MultiTaskDataset& batch);
  /// Sum over tasks of each task's loss times its weight (empty `weights` = 1
  /// each), and the unweighted per-task values in `per_task`.
  at::Tensor loss(const MultiTaskOutput& out, const data::MultiTaskDataset& batch,
                  std::vector<double>* per_task = nullptr,
                  const std::vector<double>& weights = {}) const;
  /// THOR's consistency of two passes over `batch`: per task, the mean over
  /// labelled rows of TaskKind::per_row_consistency, weighted as in loss().
  at::Tensor consistency(const MultiTaskOutput& out1, const MultiTaskOutput& out2,
                         const data::MultiTaskDataset& batch,
                         const std::vector<double>& weights = {}) const;
  /// One task's loss over rows where `mask` (undefined = all) is 1.
  at::Tensor task_loss(int64_t task, const at::Tensor& output, const at::Tensor& target,
                       const at::Tensor& mask) const;
  void pretty_print(std::ostream& stream) const override;

  MultiTaskModelOptions options;

 private:
  at::Tensor features(const data::MultiTaskDataset& batch);
  int64_t feature_width() const;

  std::vector<torch::nn::Embedding> embeddings_;
  moe::MultiGateMoE moe_{nullptr};
  std::vector<torch::nn::Sequential> towers_;
};
TORCH_MODULE(MultiTaskModel);

}  // namespace moekit::models
