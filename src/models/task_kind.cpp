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

// ½(KL(p‖q) + KL(q‖p)) = ½ Σ (p − q)(log p − log q), summed over the classes.
at::Tensor softmax_divergence(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor la = at::log_softmax(a, -1), lb = at::log_softmax(b, -1);
  return 0.5 * ((la.exp() - lb.exp()) * (la - lb)).sum(-1);
}

// The same for Bernoulli(sigmoid(logit)): the two outcomes' terms.
at::Tensor bernoulli_divergence(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor pa = at::sigmoid(a), pb = at::sigmoid(b);
  // log p − log q of outcome 1 and of outcome 0, from the logits for stability.
  const at::Tensor d1 = at::log_sigmoid(a) - at::log_sigmoid(b);
  const at::Tensor d0 = at::log_sigmoid(-a) - at::log_sigmoid(-b);
  return 0.5 * ((pa - pb) * d1 + ((1 - pa) - (1 - pb)) * d0);
}

// Unit-variance Gaussians: KL either way is ½(μ1 − μ2)², so is their mean.
at::Tensor gaussian_divergence(const at::Tensor& a, const at::Tensor& b) {
  return 0.5 * (a - b).pow(2);
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
      {"classification", false, &cross_entropy, &softmax_divergence, "accuracy", &accuracy},
      {"binary", true, &logistic, &bernoulli_divergence, "auc", &auc},
      {"regression", true, &squared_error, &gaussian_divergence, "mse", &masked_mse},
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
