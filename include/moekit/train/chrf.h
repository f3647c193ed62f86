#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace moekit::train {

/// sacreBLEU's default chrF: character n-grams up to 6, β = 2, whitespace removed.
constexpr int kChrfMaxOrder = 6;
constexpr double kChrfBeta = 2.0;

/// Sufficient statistics of corpus chrF (sums over sentences), per order n = 1..6.
struct ChrfStats {
  std::array<int64_t, kChrfMaxOrder> hyp{};    // hypothesis n-grams (0 when the reference has none)
  std::array<int64_t, kChrfMaxOrder> ref{};    // reference n-grams
  std::array<int64_t, kChrfMaxOrder> match{};  // clipped matches
  ChrfStats& operator+=(const ChrfStats& other);
};

/// Statistics of one raw hypothesis line against one reference line: code
/// points after removing every (Unicode) whitespace character, case-sensitive.
ChrfStats chrf_sentence_stats(std::string_view hyp, std::string_view ref);

/// chrF2 (0..100) from summed statistics, as sacreBLEU 2.x computes it by
/// default (no epsilon smoothing): precision and recall averaged over the
/// orders that both sides have, then F_β of the two averages.
double compute_chrf(const ChrfStats& stats);

/// Corpus chrF2 of raw lines with one reference each, as `sacrebleu REF -m chrf
/// < HYP`. Throws moekit::Error when the line counts differ.
double corpus_chrf(const std::vector<std::string>& hyps, const std::vector<std::string>& refs);

/// "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:moekit-0.1.0"
std::string chrf_signature();

}  // namespace moekit::train
