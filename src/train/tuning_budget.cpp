#include "moekit/train/tuning_budget.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "moekit/core/error.h"
#include "moekit/train/tune.h"

namespace moekit::train {
namespace {

// Quantile q of `v` (sorted in place), linearly interpolated between order statistics.
double quantile(std::vector<double>& v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto below = static_cast<size_t>(std::floor(pos));
  const size_t above = std::min(below + 1, v.size() - 1);
  return v[below] + (pos - static_cast<double>(below)) * (v[above] - v[below]);
}

std::vector<double> resample(const std::vector<double>& v, const std::vector<size_t>& index) {
  std::vector<double> out;
  for (size_t i : index) out.push_back(v[i]);
  return out;
}

std::vector<size_t> draw_indices(size_t n, std::mt19937_64& rng) {
  std::uniform_int_distribution<size_t> pick(0, n - 1);
  std::vector<size_t> index(n);
  for (auto& i : index) i = pick(rng);
  return index;
}

BudgetRatio ratio_of(const std::vector<double>& plain, const std::vector<double>& search) {
  const std::vector<double> plain_curve = expected_best_curve(plain);
  BudgetRatio r;
  r.target = plain_curve.back();
  r.plain_trials = trials_to_reach(plain_curve, r.target);
  r.search_trials = trials_to_reach(expected_best_curve(search), r.target);
  r.ratio = static_cast<double>(r.plain_trials) / static_cast<double>(r.search_trials);
  return r;
}

}  // namespace

CurveBand expected_best_band(const std::vector<double>& losses, int64_t replicates, uint64_t seed) {
  MOEKIT_CHECK(!losses.empty(), "expected_best_band", "no trials");
  MOEKIT_CHECK(replicates >= 2, "replicates", "must be >= 2, got {}", replicates);
  std::mt19937_64 rng(seed);
  std::vector<std::vector<double>> at_n(losses.size());
  for (int64_t b = 0; b < replicates; ++b) {
    const auto curve = expected_best_curve(resample(losses, draw_indices(losses.size(), rng)));
    for (size_t n = 0; n < curve.size(); ++n) at_n[n].push_back(curve[n]);
  }
  CurveBand band;
  for (auto& values : at_n) {
    band.low.push_back(quantile(values, 0.025));
    band.high.push_back(quantile(values, 0.975));
  }
  return band;
}

int64_t trials_to_reach(const std::vector<double>& curve, double target) {
  for (size_t n = 0; n < curve.size(); ++n) {
    // A relative tolerance: the plain arm's own target must count as reached.
    if (curve[n] <= target + 1e-12 * std::max(1.0, std::abs(target))) return static_cast<int64_t>(n) + 1;
  }
  return static_cast<int64_t>(curve.size()) + 1;
}

BudgetRatio budget_ratio(const std::vector<double>& plain, const std::vector<double>& search,
                         int64_t replicates, uint64_t seed) {
  MOEKIT_CHECK(!plain.empty() && !search.empty(), "budget_ratio", "both arms need trials");
  MOEKIT_CHECK(replicates >= 2, "replicates", "must be >= 2, got {}", replicates);
  BudgetRatio result = ratio_of(plain, search);
  std::mt19937_64 rng(seed);
  const bool paired = plain.size() == search.size();
  std::vector<double> ratios;
  for (int64_t b = 0; b < replicates; ++b) {
    const auto p = draw_indices(plain.size(), rng);
    const auto s = paired ? p : draw_indices(search.size(), rng);
    ratios.push_back(ratio_of(resample(plain, p), resample(search, s)).ratio);
  }
  result.low = quantile(ratios, 0.025);
  result.high = quantile(ratios, 0.975);
  return result;
}

}  // namespace moekit::train
