#pragma once
// How many random-search trials a gate needs: the bootstrap band of the
// expected-best curve and COMET's budget ratio (claim C2: local search cuts
// the trials Top-k and Hash need).
#include <cstdint>
#include <vector>

namespace moekit::train {

/// 95% bootstrap band of expected_best_curve(losses): the trials resampled
/// with replacement `replicates` times (seeded), each resample's curve, and
/// its 2.5% and 97.5% quantiles (linear interpolation) at every n.
struct CurveBand {
  std::vector<double> low, high;
};
CurveBand expected_best_band(const std::vector<double>& losses, int64_t replicates = 1000,
                             uint64_t seed = 0);

/// The smallest n (1-based) whose expected best is <= target, or
/// curve.size() + 1 when no n reaches it.
int64_t trials_to_reach(const std::vector<double>& curve, double target);

/// R = trials the plain arm needs / trials the "+ LS" arm needs to reach the
/// plain arm's expected best at its largest budget. An arm that never reaches
/// it counts as needing one trial more than it ran, so R is then an upper
/// bound. The interval resamples the trials (both arms with the same
/// indices when they ran as many: trial t is paired) `replicates` times.
struct BudgetRatio {
  double target = 0;              // the plain arm's expected best at n = its trials
  int64_t plain_trials = 0;       // trials the plain arm needs to reach it
  int64_t search_trials = 0;      // trials the "+ LS" arm needs (size + 1: never)
  double ratio = 0, low = 0, high = 0;  // R and its 95% bootstrap interval
};
BudgetRatio budget_ratio(const std::vector<double>& plain, const std::vector<double>& search,
                         int64_t replicates = 1000, uint64_t seed = 0);

}  // namespace moekit::train
