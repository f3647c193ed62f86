#include "moekit/train/bleu.h"

#include <fmt/format.h>

#include <cmath>
#include <sstream>
#include <unordered_map>

#include "moekit/core/error.h"
#include "moekit/train/tokenizer_13a.h"

namespace moekit::train {
namespace {

// sacreBLEU's my_log: log(0) is a large finite negative, so exp() gives 0.
double my_log(double x) { return x == 0.0 ? -9999999999.0 : std::log(x); }

using NgramCounts = std::unordered_map<std::string_view, int64_t>;

// n-grams of orders 1..4 as views into the line `tokens` split, which must
// be single-space separated so that a view spans exactly n tokens.
NgramCounts count_ngrams(const std::vector<std::string_view>& tokens) {
  NgramCounts counts;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const char* begin = tokens[i].data();
    for (size_t n = 1; n <= static_cast<size_t>(kBleuMaxOrder) && i + n <= tokens.size(); ++n) {
      const std::string_view& last = tokens[i + n - 1];
      ++counts[std::string_view(begin, static_cast<size_t>(last.data() + last.size() - begin))];
    }
  }
  return counts;
}

int64_t ngram_order(std::string_view ngram) {
  int64_t n = 1;
  for (char c : ngram) n += c == ' ';
  return n;
}

}  // namespace

BleuStats& BleuStats::operator+=(const BleuStats& other) {
  sys_len += other.sys_len;
  ref_len += other.ref_len;
  for (int n = 0; n < kBleuMaxOrder; ++n) {
    correct[n] += other.correct[n];
    total[n] += other.total[n];
  }
  return *this;
}

BleuStats sentence_stats(std::string_view hyp_tokens, std::string_view ref_tokens) {
  const auto hyp = python_split(hyp_tokens);
  const auto ref = python_split(ref_tokens);
  BleuStats stats;
  stats.sys_len = static_cast<int64_t>(hyp.size());
  stats.ref_len = static_cast<int64_t>(ref.size());
  // Re-join so that an n-gram is a contiguous single-spaced view.
  std::string hyp_line, ref_line;
  for (auto t : hyp) hyp_line.append(hyp_line.empty() ? "" : " ").append(t);
  for (auto t : ref) ref_line.append(ref_line.empty() ? "" : " ").append(t);
  const auto hyp_counts = count_ngrams(python_split(hyp_line));
  const auto ref_counts = count_ngrams(python_split(ref_line));
  for (const auto& [ngram, count] : hyp_counts) {
    const int64_t n = ngram_order(ngram);
    const auto it = ref_counts.find(ngram);
    if (it != ref_counts.end()) stats.correct[n - 1] += std::min(count, it->second);
  }
  for (int64_t n = 1; n <= kBleuMaxOrder; ++n) {
    stats.total[n - 1] = std::max<int64_t>(0, stats.sys_len - n + 1);
  }
  return stats;
}

BleuScore compute_bleu(const BleuStats& stats, BleuSmooth smooth) {
  BleuScore s;
  s.stats = stats;
  s.smooth = smooth;
  const auto sys_len = static_cast<double>(stats.sys_len);
  const auto ref_len = static_cast<double>(stats.ref_len);
  if (stats.sys_len < stats.ref_len) {
    s.bp = stats.sys_len > 0 ? std::exp(1.0 - ref_len / sys_len) : 0.0;
  } else {
    s.bp = 1.0;
  }
  s.ratio = stats.ref_len != 0 ? sys_len / ref_len : 0.0;
  bool any_match = false;
  for (int64_t c : stats.correct) any_match = any_match || c != 0;
  if (!any_match) return s;  // sacreBLEU's early stop: score 0, precisions 0

  double smooth_mteval = 1.0;
  for (int n = 0; n < kBleuMaxOrder; ++n) {
    if (stats.total[n] == 0) break;
    if (stats.correct[n] == 0) {
      if (smooth == BleuSmooth::kExp) {
        smooth_mteval *= 2;
        s.precisions[n] = 100.0 / (smooth_mteval * static_cast<double>(stats.total[n]));
      }
    } else {
      s.precisions[n] =
          100.0 * static_cast<double>(stats.correct[n]) / static_cast<double>(stats.total[n]);
    }
  }
  double log_sum = 0.0;
  for (double p : s.precisions) log_sum += my_log(p);
  s.score = s.bp * std::exp(log_sum / kBleuMaxOrder);
  return s;
}

BleuScore corpus_bleu(const std::vector<std::string>& hyps, const std::vector<std::string>& refs,
                      BleuSmooth smooth) {
  MOEKIT_CHECK(hyps.size() == refs.size(), "bleu",
               "the hypothesis has {} lines but the reference has {}", hyps.size(), refs.size());
  BleuStats total;
  for (size_t i = 0; i < hyps.size(); ++i) total += line_stats(hyps[i], refs[i]);
  return compute_bleu(total, smooth);
}

BleuStats line_stats(std::string_view hyp, std::string_view ref) {
  return sentence_stats(tokenize_13a(python_rstrip(hyp)), tokenize_13a(python_rstrip(ref)));
}

std::string BleuScore::format() const {
  return fmt::format(
      "BLEU = {:.2f} {:.1f}/{:.1f}/{:.1f}/{:.1f} (BP = {:.3f} ratio = {:.3f} "
      "hyp_len = {} ref_len = {})",
      score, precisions[0], precisions[1], precisions[2], precisions[3], bp, ratio, stats.sys_len,
      stats.ref_len);
}

std::string BleuScore::signature() const {
  return fmt::format("nrefs:1|case:mixed|eff:no|tok:13a|smooth:{}|version:moekit-0.1.0",
                     smooth == BleuSmooth::kExp ? "exp" : "none");
}

}  // namespace moekit::train
