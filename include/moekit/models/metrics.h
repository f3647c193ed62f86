#pragma once
#include <ATen/ATen.h>

namespace moekit::models {

/// Fraction of rows whose argmax over logits [N, C] equals labels [N].
double accuracy(const at::Tensor& logits, const at::Tensor& labels);

/// Area under the ROC curve of scores [N] for binary labels [N] (0/1), equal to
/// scikit-learn's roc_auc_score: the Mann-Whitney statistic with tied scores
/// sharing their average rank. Throws moekit::Error when only one class is present.
double roc_auc(const at::Tensor& scores, const at::Tensor& labels);

/// Mean squared error of predictions against targets of the same shape.
double mean_squared_error(const at::Tensor& predictions, const at::Tensor& targets);

}  // namespace moekit::models
