#include "moekit/train/paired_stats.h"

#include <cmath>
#include <limits>

#include "moekit/core/error.h"

namespace moekit::train {

double t_quantile_975(int64_t df) {
  MOEKIT_CHECK(df >= 1, "t_quantile_975", "degrees of freedom must be >= 1, got {}", df);
  static const double table[] = {12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060,
                                 2.2622,  2.2281, 2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199,
                                 2.1098,  2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639,
                                 2.0595,  2.0555, 2.0518, 2.0484, 2.0452, 2.0423};
  if (df <= 30) return table[df - 1];
  // Cornish-Fisher: t = z + g1/ν + g2/ν² + g3/ν³ with z the normal quantile.
  const double z = 1.959963984540054, v = static_cast<double>(df);
  const double z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
  const double g1 = (z3 + z) / 4;
  const double g2 = (5 * z5 + 16 * z3 + 3 * z) / 96;
  const double g3 = (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / 384;
  return z + g1 / v + g2 / (v * v) + g3 / (v * v * v);
}

PairedDifference paired_difference(const std::vector<double>& a, const std::vector<double>& b) {
  MOEKIT_CHECK(a.size() == b.size() && !a.empty(), "paired_difference",
               "needs the same number (> 0) of runs in both arms, got {} and {}", a.size(), b.size());
  PairedDifference d;
  d.n = static_cast<int64_t>(a.size());
  for (size_t i = 0; i < a.size(); ++i) d.mean += a[i] - b[i];
  d.mean /= static_cast<double>(d.n);
  if (d.n < 2) {
    d.low = d.high = std::numeric_limits<double>::quiet_NaN();
    return d;
  }
  double ss = 0;
  for (size_t i = 0; i < a.size(); ++i) ss += std::pow(a[i] - b[i] - d.mean, 2);
  const double se = std::sqrt(ss / static_cast<double>(d.n - 1) / static_cast<double>(d.n));
  const double half = t_quantile_975(d.n - 1) * se;
  d.low = d.mean - half;
  d.high = d.mean + half;
  return d;
}

}  // namespace moekit::train
