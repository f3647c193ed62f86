#include "moekit/models/task_kind.h"

#include <torch/torch.h>

#include "moekit/core/error.h"
#include "moekit/models/metrics.h"

namespace moekit::models {
namespace {

at::Tensor cross_entropy(const at::Tensor& output, const at::Tensor& target) {
  return torch::cross_entropy_loss(output, target, {}, at::Reduction::None);
}

at::Tensor logistic(const at::Tensor& output, const at::Tensor& target) {
  return torch::binary_cross_entropy_with_logits(output, target.to(output.scalar_type()), {}, {},
                                                 at::Reduction::None);
}

at::Tensor squared_error(const at::Tensor& output, const at::Tensor& target) {
  return (output - target.to(output.scalar_type())).pow(2);
}

double accuracy(const at::Tensor& output, const at::Tensor& target, const at::Tensor&) {
  return models::accuracy(output, target);
}

double auc(const at::Tensor& output, const at::Tensor& target, const at::Tensor&) {
  return models::roc_auc(output, target);
}

double masked_mse(const at::Tensor& output, const at::Tensor& target, const at::Tensor& mask) {
  const at::Tensor keep = mask.defined() ? mask.gt(0) : at::ones_like(output, at::kBool);
  return models::mean_squared_error(output.masked_select(keep),
                                   target.to(output.scalar_type()).masked_select(keep));
}

}  // namespace

const std::vector<TaskKind>& task_kinds() {
  static const std::vector<TaskKind> kinds{
      {"classification", false, &cross_entropy, "accuracy", &accuracy},
      {"binary", true, &logistic, "auc", &auc},
      {"regression", true, &squared_error, "mse", &masked_mse},
  };
  return kinds;
}

const TaskKind& task_kind(const std::string& name, const std::string& where) {
  std::string known;
  const auto& kinds = task_kinds();
  for (size_t i = 0; i < kinds.size(); ++i) {
    if (name == kinds[i].name) return kinds[i];
    known += (i == 0 ? "" : i + 1 == kinds.size() ? " or " : ", ") + std::string(kinds[i].name);
  }
  throw Error(where, fmt::format("unknown task kind '{}'; expected {}", name, known));
}

}  // namespace moekit::models
