#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace moekit::train {

constexpr int kBleuMaxOrder = 4;

/// Sufficient statistics of corpus BLEU (sums over sentences).
struct BleuStats {
  int64_t sys_len = 0;                           // hypothesis tokens
  int64_t ref_len = 0;                           // reference tokens
  std::array<int64_t, kBleuMaxOrder> correct{};  // clipped n-gram matches, n = 1..4
  std::array<int64_t, kBleuMaxOrder> total{};    // hypothesis n-grams

  BleuStats& operator+=(const BleuStats& other);
};

/// Statistics of one already tokenised hypothesis against one reference.
BleuStats sentence_stats(std::string_view hyp_tokens, std::string_view ref_tokens);

/// `exp` is sacreBLEU's default: an order with no match (while some order
/// matches) gets precision 100 / (2^k · total), k counting such orders.
/// `none` leaves it at 0, which makes BLEU 0.
enum class BleuSmooth { kExp, kNone };

struct BleuScore {
  double score = 0;                                // 0..100
  double bp = 0;                                   // brevity penalty
  double ratio = 0;                                // sys_len / ref_len
  std::array<double, kBleuMaxOrder> precisions{};  // percent
  BleuStats stats;
  BleuSmooth smooth = BleuSmooth::kExp;

  /// "BLEU = 23.45 55.1/30.2/18.9/12.0 (BP = 0.983 ratio = 0.983 hyp_len = 10 ref_len = 11)"
  std::string format() const;
  /// "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:moekit-0.1.0"
  std::string signature() const;
};

/// sacreBLEU's compute_bleu: brevity penalty, geometric mean of the four
/// precisions, smoothing, and BLEU 0 when no n-gram matches at all.
BleuScore compute_bleu(const BleuStats& stats, BleuSmooth smooth = BleuSmooth::kExp);

/// Statistics of one raw (detokenised) hypothesis line against its reference,
/// tokenised as corpus_bleu does: what a paired bootstrap resamples.
BleuStats line_stats(std::string_view hyp, std::string_view ref);

/// Corpus BLEU of raw (detokenised) lines with one reference each, tokenised
/// with 13a and case-sensitive, as `sacrebleu REF < HYP`. Throws moekit::Error
/// when the line counts differ.
BleuScore corpus_bleu(const std::vector<std::string>& hyps, const std::vector<std::string>& refs,
                      BleuSmooth smooth = BleuSmooth::kExp);

}  // namespace moekit::train
