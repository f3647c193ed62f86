#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace moekit::data {

/// What one task predicts and how it is scored.
struct TaskSpec {
  std::string name;
  /// classification (cross-entropy, accuracy) | binary (logistic, ROC AUC) | regression (MSE)
  std::string kind;
  /// Classes for classification; 1 otherwise.
  int64_t outputs = 1;
};

/// Rows for a multi-task model: one input, optional categorical columns and
/// hash keys, one target per task. All tensors share the row dimension.
struct MultiTaskDataset {
  at::Tensor input;                 // [N, ...] float: images [N, C, H, W] or features [N, F]
  at::Tensor categorical;           // [N, C] int64, or undefined
  at::Tensor ids;                   // [N] int64 keys for key-based gates (hash), or undefined
  std::vector<at::Tensor> targets;  // per task: [N] int64 (classification) or float
  /// Per task: [N] float 0/1, the rows whose target counts (e.g. ratings exist
  /// only for watched items); an undefined or missing entry means every row.
  std::vector<at::Tensor> masks;

  int64_t size() const { return input.defined() ? input.size(0) : 0; }
  /// The rows `rows` [R] int64 of every tensor.
  MultiTaskDataset select(const at::Tensor& rows) const;
};

}  // namespace moekit::data
