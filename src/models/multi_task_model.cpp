#include "moekit/models/multi_task_model.h"

#include <torch/torch.h>

#include "moekit/core/error.h"
#include "moekit/gates/gate.h"
#include "moekit/models/cnn_expert.h"
#include "moekit/models/dense_expert.h"
#include "moekit/models/task_kind.h"
#include "moekit/moe/experts.h"
#include "moekit/moe/module_experts.h"

namespace moekit::models {

void MultiTaskModelOptions::validate() const {
  MOEKIT_CHECK(!tasks_.empty(), "tasks", "need at least one task");
  for (const auto& t : tasks_) {
    task_kind(t.kind, "tasks." + t.name);
    MOEKIT_CHECK(t.outputs >= 1, "tasks." + t.name, "outputs must be >= 1, got {}", t.outputs);
  }
  MOEKIT_CHECK(expert_ == "cnn" || expert_ == "mlp" || expert_ == "dense", "model.expert",
               "unknown expert '{}'; expected cnn, mlp or dense", expert_);
  MOEKIT_CHECK(expert_ != "cnn" || categorical_sizes_.empty(), "model.expert",
               "categorical columns need the mlp or dense expert");
  MOEKIT_CHECK(expert_dropout_ >= 0 && expert_dropout_ < 1, "model.expert_dropout",
               "must lie in [0, 1), got {}", expert_dropout_);
  MOEKIT_CHECK(expert_dropout_ == 0 || expert_ == "dense", "model.expert_dropout",
               "only the dense expert has dropout (model.expert is {})", expert_);
  MOEKIT_CHECK(n_experts_ >= 1, "model.n_experts", "must be >= 1, got {}", n_experts_);
  MOEKIT_CHECK(expert_width_ >= 1 && tower_hidden_ >= 1, "model.expert_width",
               "widths must be >= 1");
  MOEKIT_CHECK(!input_shape_.empty(), "input_shape", "must not be empty");
  for (int64_t size : categorical_sizes_) {
    MOEKIT_CHECK(size >= 1, "categorical_sizes", "vocabulary sizes must be >= 1, got {}", size);
  }
}

MultiTaskModelImpl::MultiTaskModelImpl(MultiTaskModelOptions options_) : options(std::move(options_)) {
  options.validate();
  reset();
}

int64_t MultiTaskModelImpl::feature_width() const {
  int64_t width = 1;
  for (int64_t s : options.input_shape()) width *= s;
  return width + options.embedding_dim() * static_cast<int64_t>(options.categorical_sizes().size());
}

void MultiTaskModelImpl::reset() {
  for (size_t c = 0; c < options.categorical_sizes().size(); ++c) {
    embeddings_.push_back(register_module(
        "embedding_" + std::to_string(c),
        torch::nn::Embedding(options.categorical_sizes()[c], options.embedding_dim())));
  }
  const int64_t n = options.n_experts(), width = options.expert_width();
  std::shared_ptr<moe::Experts> experts;
  if (options.expert() == "cnn") {
    std::vector<torch::nn::AnyModule> cnns;
    for (int64_t e = 0; e < n; ++e) cnns.emplace_back(CnnExpert(options.input_shape(), width));
    experts = moe::ModuleExperts(std::move(cnns)).ptr();
  } else if (options.expert() == "dense") {
    std::vector<torch::nn::AnyModule> dense;
    for (int64_t e = 0; e < n; ++e) {
      dense.emplace_back(DenseExpert(feature_width(), width, options.expert_dropout()));
    }
    experts = moe::ModuleExperts(std::move(dense)).ptr();
  } else {
    experts = moe::FFNExperts(moe::FFNExpertsOptions(n, feature_width(), width).d_out(width)).ptr();
  }
  gates::GateOptions gate_options = options.gate_options();
  gate_options.d_in(feature_width()).n_experts(n);
  // One gate per task; with local search they share one Π (the reference's default).
  auto task_gates = gates::make_task_gates(options.gate(), gate_options,
                                           static_cast<int64_t>(options.tasks().size()));
  moe_ = register_module("moe", moe::MultiGateMoE(task_gates, experts));
  for (const auto& task : options.tasks()) {
    towers_.push_back(register_module(
        "tower_" + task.name,
        torch::nn::Sequential(torch::nn::Linear(width, options.tower_hidden()), torch::nn::ReLU(),
                              torch::nn::Linear(options.tower_hidden(), task.outputs))));
  }
}

at::Tensor MultiTaskModelImpl::features(const data::MultiTaskDataset& batch) {
  at::Tensor x = batch.input;
  if (embeddings_.empty()) return x;
  std::vector<at::Tensor> parts{x.flatten(1)};
  for (size_t c = 0; c < embeddings_.size(); ++c) {
    parts.push_back(embeddings_[c]->forward(batch.categorical.select(1, c)));
  }
  return at::cat(parts, 1);
}

MultiTaskOutput MultiTaskModelImpl::forward(const data::MultiTaskDataset& batch) {
  const at::Tensor x = features(batch);
  auto moe_out = moe_->forward(x, gates::GateInput{x.flatten(1), batch.ids, {}});
  MultiTaskOutput out{{}, std::move(moe_out.routings), moe_out.aux_loss};
  for (size_t t = 0; t < towers_.size(); ++t) {
    at::Tensor y = towers_[t]->forward(moe_out.y[t]);
    const auto& spec = options.tasks()[t];
    if (task_kind(spec.kind, "tasks." + spec.name).squeeze_output) y = y.squeeze(1);
    out.outputs.push_back(y);
  }
  return out;
}

namespace {

// The mean of per-row values over rows where `mask` (undefined = all) is 1.
at::Tensor masked_mean(const at::Tensor& per_row, const at::Tensor& mask) {
  if (!mask.defined()) return per_row.mean();
  const at::Tensor m = mask.to(per_row.scalar_type());
  return (per_row * m).sum() / m.sum().clamp_min(1.0);
}

double weight_of(const std::vector<double>& weights, size_t task) {
  if (weights.empty()) return 1.0;
  MOEKIT_CHECK(task < weights.size(), "train.task_weights", "gives {} weights for task {}",
               weights.size(), task + 1);
  return weights[task];
}

at::Tensor mask_of(const data::MultiTaskDataset& batch, size_t task) {
  return task < batch.masks.size() ? batch.masks[task] : at::Tensor();
}

}  // namespace

at::Tensor MultiTaskModelImpl::task_loss(int64_t task, const at::Tensor& output,
                                         const at::Tensor& target, const at::Tensor& mask) const {
  const auto& spec = options.tasks().at(task);
  return masked_mean(task_kind(spec.kind, "tasks." + spec.name).per_row_loss(output, target), mask);
}


at::Tensor MultiTaskModelImpl::loss(const MultiTaskOutput& out, const data::MultiTaskDataset& batch,
                                    std::vector<double>* per_task,
                                    const std::vector<double>& weights) const {
  at::Tensor total = at::zeros({}, out.aux_loss.options());
  if (per_task) per_task->clear();
  for (size_t t = 0; t < out.outputs.size(); ++t) {
    const at::Tensor value = task_loss(t, out.outputs[t], batch.targets.at(t), mask_of(batch, t));
    if (per_task) per_task->push_back(value.item<double>());
    total = total + weight_of(weights, t) * value;
  }
  return total;
}

at::Tensor MultiTaskModelImpl::consistency(const MultiTaskOutput& out1, const MultiTaskOutput& out2,
                                           const data::MultiTaskDataset& batch,
                                           const std::vector<double>& weights) const {
  at::Tensor total = at::zeros({}, out1.aux_loss.options());
  for (size_t t = 0; t < out1.outputs.size(); ++t) {
    const auto& spec = options.tasks()[t];
    const auto& kind = task_kind(spec.kind, "tasks." + spec.name);
    const at::Tensor per_row = kind.per_row_consistency(out1.outputs[t], out2.outputs.at(t));
    total = total + weight_of(weights, t) * masked_mean(per_row, mask_of(batch, t));
  }
  return total;
}

void MultiTaskModelImpl::pretty_print(std::ostream& stream) const {
  stream << "moekit::MultiTaskModel(expert=" << options.expert()
         << ", n_experts=" << options.n_experts() << ", gate=" << options.gate()
         << ", tasks=" << options.tasks().size() << ")";
}

}  // namespace moekit::models
