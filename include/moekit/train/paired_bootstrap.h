#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace moekit::train {

/// Paired bootstrap resampling of two systems on one test set (Koehn 2004), as
/// sacreBLEU's `--paired-bs` runs it: the same resampled sentence indices for
/// both systems, the corpus score recomputed from summed sentence statistics.
struct PairedBootstrapOptions {
  int64_t resamples = 1000;
  uint64_t seed = 12345;  // sacreBLEU's SACREBLEU_SEED default
};

struct PairedBootstrapResult {
  double baseline = 0;    // corpus score of system A
  double system = 0;      // corpus score of system B
  double difference = 0;  // B - A
  /// 95% interval of the resampled differences B - A (sacreBLEU's rule: the
  /// (n/40)-th smallest and largest of n resamples).
  double low = 0, high = 0;
  /// sacreBLEU's centred p-value, counting ties: (1 + #{resamples with
  /// |B - A| - mean(|B - A|) >= |observed difference|}) / (1 + resamples).
  /// sacreBLEU counts only `>`, which gives identical systems (every resampled
  /// difference 0) p = 1 / (1 + resamples), as if they differed; with `>=`
  /// they get p = 1. Elsewhere the two agree but on exact ties.
  double p_value = 1;
  int64_t resamples = 0;
};

/// Per-sentence statistics (one row per sentence, every row the same width)
/// and the corpus score of their column sums.
using SentenceStats = std::vector<std::vector<double>>;
using CorpusScore = std::function<double(const std::vector<double>& summed)>;

/// Throws moekit::Error when the two systems have different numbers of
/// sentences, there are none, or resamples < 1.
PairedBootstrapResult paired_bootstrap(const SentenceStats& a, const SentenceStats& b,
                                       const CorpusScore& score,
                                       const PairedBootstrapOptions& options = {});

}  // namespace moekit::train
