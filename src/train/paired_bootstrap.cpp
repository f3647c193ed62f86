#include "moekit/train/paired_bootstrap.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "moekit/core/error.h"

namespace moekit::train {
namespace {

std::vector<double> column_sums(const SentenceStats& stats, const std::vector<int64_t>& rows) {
  std::vector<double> sums(stats.front().size(), 0.0);
  for (int64_t r : rows) {
    for (size_t c = 0; c < sums.size(); ++c) sums[c] += stats[r][c];
  }
  return sums;
}

std::vector<int64_t> all_rows(size_t n) {
  std::vector<int64_t> rows(n);
  for (size_t i = 0; i < n; ++i) rows[i] = static_cast<int64_t>(i);
  return rows;
}

}  // namespace

PairedBootstrapResult paired_bootstrap(const SentenceStats& a, const SentenceStats& b,
                                       const CorpusScore& score,
                                       const PairedBootstrapOptions& options) {
  MOEKIT_CHECK(a.size() == b.size(), "paired bootstrap",
               "the systems have {} and {} sentences; they must translate the same test set",
               a.size(), b.size());
  MOEKIT_CHECK(!a.empty(), "paired bootstrap", "no sentences");
  MOEKIT_CHECK(options.resamples >= 1, "resamples", "must be >= 1, got {}", options.resamples);
  PairedBootstrapResult result;
  result.resamples = options.resamples;
  const auto everything = all_rows(a.size());
  result.baseline = score(column_sums(a, everything));
  result.system = score(column_sums(b, everything));
  result.difference = result.system - result.baseline;

  std::mt19937_64 rng(options.seed);
  std::uniform_int_distribution<int64_t> pick(0, static_cast<int64_t>(a.size()) - 1);
  std::vector<int64_t> rows(a.size());
  std::vector<double> differences;
  differences.reserve(options.resamples);
  for (int64_t s = 0; s < options.resamples; ++s) {
    for (auto& r : rows) r = pick(rng);
    differences.push_back(score(column_sums(b, rows)) - score(column_sums(a, rows)));
  }

  // p-value: how often a resampled |difference|, centred on its mean, reaches
  // the observed one (sacreBLEU's _compute_p_value, after multeval, but with
  // ties counted: identical systems must not look different).
  double mean_abs = 0;
  for (double d : differences) mean_abs += std::abs(d);
  mean_abs /= options.resamples;
  int64_t exceed = 0;
  for (double d : differences) exceed += (std::abs(d) - mean_abs >= std::abs(result.difference));
  result.p_value = std::min(
      1.0, static_cast<double>(exceed + 1) / static_cast<double>(options.resamples + 1));

  std::sort(differences.begin(), differences.end());
  const int64_t lower = options.resamples / 40;
  result.low = differences[lower];
  result.high = differences[options.resamples - lower - 1];
  return result;
}

}  // namespace moekit::train
