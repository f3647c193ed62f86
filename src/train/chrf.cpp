#include "moekit/train/chrf.h"

#include <algorithm>
#include <string>
#include <unordered_map>

#include "moekit/core/error.h"
#include "moekit/core/utf8.h"

namespace moekit::train {
namespace {

// What Python's str.split() splits on (str.isspace), which sacreBLEU uses to
// drop whitespace before taking character n-grams.
bool is_space(uint32_t c) {
  if ((c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20)) return true;
  if (c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a)) return true;
  return c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

std::u32string code_points_without_spaces(std::string_view s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    size_t len = 1;
    const uint32_t c = decode_utf8_at(s, i, &len);
    if (!is_space(c)) out.push_back(c);
    i += len;
  }
  return out;
}

using NgramCounts = std::unordered_map<std::u32string, int64_t>;

NgramCounts count_ngrams(const std::u32string& text, size_t n) {
  NgramCounts counts;
  for (size_t i = 0; i + n <= text.size(); ++i) ++counts[text.substr(i, n)];
  return counts;
}

}  // namespace

ChrfStats& ChrfStats::operator+=(const ChrfStats& other) {
  for (int n = 0; n < kChrfMaxOrder; ++n) {
    hyp[n] += other.hyp[n];
    ref[n] += other.ref[n];
    match[n] += other.match[n];
  }
  return *this;
}

ChrfStats chrf_sentence_stats(std::string_view hyp, std::string_view ref) {
  const std::u32string h = code_points_without_spaces(hyp);
  const std::u32string r = code_points_without_spaces(ref);
  ChrfStats stats;
  for (int n = 1; n <= kChrfMaxOrder; ++n) {
    const NgramCounts hyp_counts = count_ngrams(h, n);
    const NgramCounts ref_counts = count_ngrams(r, n);
    int64_t hyp_total = 0, match = 0, ref_total = 0;
    for (const auto& [gram, count] : hyp_counts) {
      hyp_total += count;
      const auto it = ref_counts.find(gram);
      if (it != ref_counts.end()) match += std::min(count, it->second);
    }
    for (const auto& [gram, count] : ref_counts) ref_total += count;
    // sacreBLEU counts no hypothesis n-grams for an order the reference lacks.
    stats.hyp[n - 1] = ref_counts.empty() ? 0 : hyp_total;
    stats.ref[n - 1] = ref_total;
    stats.match[n - 1] = match;
  }
  return stats;
}

double compute_chrf(const ChrfStats& stats) {
  double precision = 0, recall = 0;
  int effective_order = 0;
  for (int n = 0; n < kChrfMaxOrder; ++n) {
    if (stats.hyp[n] > 0 && stats.ref[n] > 0) {
      precision += static_cast<double>(stats.match[n]) / stats.hyp[n];
      recall += static_cast<double>(stats.match[n]) / stats.ref[n];
      ++effective_order;
    }
  }
  if (effective_order == 0) return 0.0;
  precision /= effective_order;
  recall /= effective_order;
  if (precision + recall == 0) return 0.0;
  const double factor = kChrfBeta * kChrfBeta;
  return 100.0 * (1 + factor) * precision * recall / (factor * precision + recall);
}

double corpus_chrf(const std::vector<std::string>& hyps, const std::vector<std::string>& refs) {
  MOEKIT_CHECK(hyps.size() == refs.size(), "chrf", "{} hypotheses but {} references", hyps.size(),
               refs.size());
  ChrfStats total;
  for (size_t i = 0; i < hyps.size(); ++i) total += chrf_sentence_stats(hyps[i], refs[i]);
  return compute_chrf(total);
}

std::string chrf_signature() { return "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:moekit-0.1.0"; }

}  // namespace moekit::train
