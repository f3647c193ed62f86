#pragma once
// The kinds of task a multi-task model learns (data::TaskSpec::kind), one row
// each: what the model's tower output looks like, its loss, and the metric
// evaluation reports. Every place that depends on the kind reads it here.
#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace moekit::models {

struct TaskKind {
  /// data::TaskSpec::kind: "classification" | "binary" | "regression".
  const char* name;
  /// The tower has TaskSpec::outputs columns (classification: one per class,
  /// otherwise 1); when true the output is returned as [B] instead of [B, 1].
  bool squeeze_output;
  /// Loss of each row [B] of `output` against `target` [B].
  at::Tensor (*per_row_loss)(const at::Tensor& output, const at::Tensor& target);
  /// THOR's consistency between two passes' outputs, per row [B]: the symmetric
  /// divergence ½(KL(p1‖p2) + KL(p2‖p1)) of the predictive distributions the
  /// loss implies (softmax, Bernoulli, unit-variance Gaussian).
  at::Tensor (*per_row_consistency)(const at::Tensor& output1, const at::Tensor& output2);
  /// The evaluation metric, named "<task>.<metric>" in reports.
  const char* metric;
  /// Its value on a whole split; `mask` (undefined = all rows) is read by the
  /// metrics that skip unlabelled rows (regression).
  double (*metric_value)(const at::Tensor& output, const at::Tensor& target,
                         const at::Tensor& mask);
};

/// Every kind, in the order error messages list them.
const std::vector<TaskKind>& task_kinds();

/// The kind called `name`; throws moekit::Error at `where` naming it and the
/// known kinds when there is none.
const TaskKind& task_kind(const std::string& name, const std::string& where);

}  // namespace moekit::models
