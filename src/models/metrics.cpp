#include "moekit/models/metrics.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "moekit/core/error.h"

namespace moekit::models {

double accuracy(const at::Tensor& logits, const at::Tensor& labels) {
  MOEKIT_CHECK(logits.dim() == 2 && labels.dim() == 1 && logits.size(0) == labels.size(0),
               "accuracy", "expected logits [N, C] and labels [N]");
  if (labels.numel() == 0) return 0.0;
  return logits.argmax(1).eq(labels).to(at::kDouble).mean().item<double>();
}

double roc_auc(const at::Tensor& scores, const at::Tensor& labels) {
  MOEKIT_CHECK(scores.numel() == labels.numel(), "roc_auc", "{} scores but {} labels",
               scores.numel(), labels.numel());
  const at::Tensor s = scores.reshape(-1).to(at::kCPU, at::kDouble).contiguous();
  const at::Tensor y = labels.reshape(-1).to(at::kCPU, at::kDouble).contiguous();
  const double* sp = s.data_ptr<double>();
  const double* yp = y.data_ptr<double>();
  const int64_t n = s.numel();

  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return sp[a] < sp[b]; });
  // Sum of the (1-based, tie-averaged) ranks of the positives.
  double positive_rank_sum = 0.0;
  int64_t positives = 0;
  for (int64_t i = 0; i < n;) {
    int64_t j = i;
    while (j < n && sp[order[j]] == sp[order[i]]) ++j;
    const double average_rank = 0.5 * static_cast<double>(i + 1 + j);  // mean of i+1 .. j
    for (int64_t t = i; t < j; ++t) {
      MOEKIT_CHECK(yp[order[t]] == 0.0 || yp[order[t]] == 1.0, "roc_auc",
                   "labels must be 0 or 1, got {}", yp[order[t]]);
      if (yp[order[t]] == 1.0) {
        positive_rank_sum += average_rank;
        ++positives;
      }
    }
    i = j;
  }
  const int64_t negatives = n - positives;
  MOEKIT_CHECK(positives > 0 && negatives > 0, "roc_auc",
               "needs both classes; got {} positives and {} negatives", positives, negatives);
  const double p = static_cast<double>(positives);
  return (positive_rank_sum - p * (p + 1) / 2) / (p * static_cast<double>(negatives));
}

double mean_squared_error(const at::Tensor& predictions, const at::Tensor& targets) {
  MOEKIT_CHECK(predictions.sizes() == targets.sizes(), "mean_squared_error",
               "shapes differ: {} vs {}", predictions.numel(), targets.numel());
  if (predictions.numel() == 0) return 0.0;
  return (predictions.to(at::kDouble) - targets.to(at::kDouble)).pow(2).mean().item<double>();
}

}  // namespace moekit::models
