#pragma once
#include <cstdint>
#include <vector>

namespace moekit::train {

/// The 0.975 quantile of Student's t with `df` degrees of freedom (df >= 1):
/// exact table values to df = 30, the Cornish-Fisher expansion beyond (error
/// below 1e-4 there).
double t_quantile_975(int64_t df);

/// Mean of a[i] - b[i] over paired runs (the same seed in two arms) and its
/// 95% t-interval; low/high are NaN for fewer than two pairs.
struct PairedDifference {
  double mean = 0;
  double low = 0;
  double high = 0;
  int64_t n = 0;
};
PairedDifference paired_difference(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace moekit::train
