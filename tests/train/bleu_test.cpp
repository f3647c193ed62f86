#include "moekit/train/bleu.h"

#include <gtest/gtest.h>

#include <cmath>

#include "moekit/core/error.h"

namespace moekit::train {
namespace {

TEST(TrainBleu, PerfectMatchIs100) {
  const auto s = corpus_bleu({"The cat sat on the mat.", "Jesus wept."},
                             {"The cat sat on the mat.", "Jesus wept."});
  EXPECT_DOUBLE_EQ(s.score, 100.0);
  EXPECT_EQ(s.format(),
            "BLEU = 100.00 100.0/100.0/100.0/100.0 (BP = 1.000 ratio = 1.000 hyp_len = 10 "
            "ref_len = 10)");
}

// the cat sat on the mat / the cat is on the mat: matches 5/6, 3/5, 1/4, 0/3.
// exp smoothing gives the empty 4-gram order 100 / (2 * 3).
TEST(TrainBleu, PartialMatchEqualsHandComputedValue) {
  const auto s = corpus_bleu({"the cat sat on the mat"}, {"the cat is on the mat"});
  EXPECT_EQ(s.stats.correct, (std::array<int64_t, 4>{5, 3, 1, 0}));
  EXPECT_EQ(s.stats.total, (std::array<int64_t, 4>{6, 5, 4, 3}));
  const double expected = std::pow(100.0 * 5 / 6 * 60.0 * 25.0 * (100.0 / 6), 0.25);
  EXPECT_NEAR(s.score, expected, 1e-9);
  EXPECT_EQ(s.format(),
            "BLEU = 37.99 83.3/60.0/25.0/16.7 (BP = 1.000 ratio = 1.000 hyp_len = 6 ref_len = 6)");
  EXPECT_EQ(s.signature(), "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:moekit-0.1.0");
  // Without smoothing the zero 4-gram precision makes BLEU 0.
  const auto none =
      corpus_bleu({"the cat sat on the mat"}, {"the cat is on the mat"}, BleuSmooth::kNone);
  EXPECT_EQ(none.score, 0.0);
  EXPECT_NE(none.signature().find("smooth:none"), std::string::npos);
}

TEST(TrainBleu, ShortHypothesisPaysBrevityPenalty) {
  const auto s = corpus_bleu({"the cat sat on"}, {"the cat sat on the mat"});
  EXPECT_NEAR(s.bp, std::exp(1.0 - 6.0 / 4.0), 1e-12);
  EXPECT_NEAR(s.score, 100.0 * std::exp(-0.5), 1e-9);
  EXPECT_EQ(s.format(),
            "BLEU = 60.65 100.0/100.0/100.0/100.0 (BP = 0.607 ratio = 0.667 hyp_len = 4 "
            "ref_len = 6)");
  // A longer hypothesis pays nothing.
  EXPECT_EQ(corpus_bleu({"the cat sat on the mat today"}, {"the cat sat on the mat"}).bp, 1.0);
}

TEST(TrainBleu, EmptyHypothesisScoresZero) {
  const auto s = corpus_bleu({""}, {"the cat"});
  EXPECT_EQ(s.score, 0.0);
  EXPECT_EQ(s.format(),
            "BLEU = 0.00 0.0/0.0/0.0/0.0 (BP = 0.000 ratio = 0.000 hyp_len = 0 ref_len = 2)");
}

TEST(TrainBleu, ClipsRepeatedNgramsToReferenceCounts) {
  const auto s = corpus_bleu({"the the the the"}, {"the cat"});
  EXPECT_EQ(s.stats.correct[0], 1);
  EXPECT_EQ(s.stats.total[0], 4);
}

TEST(TrainBleu, StatisticsSumOverSentencesBeforeTheScore) {
  // Corpus BLEU is not the mean of sentence BLEUs: counts add up first.
  const auto a = sentence_stats("a b c d", "a b c d");
  const auto b = sentence_stats("x y", "p q");
  BleuStats sum = a;
  sum += b;
  const auto s = corpus_bleu({"a b c d", "x y"}, {"a b c d", "p q"});
  EXPECT_EQ(s.stats.correct, sum.correct);
  EXPECT_EQ(s.stats.total, (std::array<int64_t, 4>{6, 4, 2, 1}));
  EXPECT_DOUBLE_EQ(s.score, compute_bleu(sum).score);
}

TEST(TrainBleu, RejectsLineCountMismatch) {
  EXPECT_THROW(corpus_bleu({"a"}, {"a", "b"}), Error);
}

}  // namespace
}  // namespace moekit::train
