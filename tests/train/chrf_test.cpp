#include "moekit/train/chrf.h"

#include <gtest/gtest.h>

#include "moekit/core/error.h"

namespace moekit::train {
namespace {

// abc / abd: 1-grams 2 of 3, 2-grams 1 of 2, 3-grams 0 of 1, no 4..6-grams:
// precision = recall = (2/3 + 1/2 + 0) / 3, so F = 7/18.
TEST(TrainChrf, HandComputedValue) {
  const ChrfStats s = chrf_sentence_stats("abc", "abd");
  EXPECT_EQ(s.hyp, (std::array<int64_t, 6>{3, 2, 1, 0, 0, 0}));
  EXPECT_EQ(s.ref, (std::array<int64_t, 6>{3, 2, 1, 0, 0, 0}));
  EXPECT_EQ(s.match, (std::array<int64_t, 6>{2, 1, 0, 0, 0, 0}));
  EXPECT_NEAR(compute_chrf(s), 100.0 * 7 / 18, 1e-12);
}

// abc inside abcdef: precision 1 at orders 1..3, recall 3/6, 2/5, 1/4; orders
// 4..6 have no hypothesis n-grams and drop out. F2 = 5·P·R / (4·P + R).
TEST(TrainChrf, BetaWeighsRecallFourTimesPrecision) {
  const ChrfStats s = chrf_sentence_stats("abc", "abcdef");
  const double p = 1.0, r = (3.0 / 6 + 2.0 / 5 + 1.0 / 4) / 3;
  EXPECT_NEAR(compute_chrf(s), 100.0 * 5 * p * r / (4 * p + r), 1e-12);
}

// Values sacreBLEU 2.x (mjpost/sacrebleu, CHRF() defaults) gives on these lines.
TEST(TrainChrf, MatchesSacreBleu) {
  const std::vector<std::string> hyps{"The cat sat on the mat.", "Jesus wept!",
                                      "\xe1\xba\xb8 k\xc3\xba \xc3\xa0\xc3\xa1r\xe1\xbb\x8d\xcc\x80 o",
                                      "x"};
  const std::vector<std::string> refs{"The cat is on the mat.", "Jesus wept.",
                                      "\xe1\xba\xb8 k\xc3\xba \xc3\xa0\xc3\xa1r\xe1\xbb\x8d\xcc\x80",
                                      "Nothing here at all"};
  EXPECT_NEAR(corpus_chrf(hyps, refs), 55.716321575265425, 1e-9);
  const double sentence[] = {67.17273492330233, 85.90608465608466, 96.17320480751631, 0.0};
  for (size_t i = 0; i < hyps.size(); ++i) {
    EXPECT_NEAR(compute_chrf(chrf_sentence_stats(hyps[i], refs[i])), sentence[i], 1e-9) << i;
  }
}

TEST(TrainChrf, WhitespaceIsIgnoredAndEmptyScoresZero) {
  EXPECT_DOUBLE_EQ(corpus_chrf({"a b"}, {"ab"}), 100.0);
  EXPECT_DOUBLE_EQ(corpus_chrf({"a\xc2\xa0\tb"}, {"ab"}), 100.0);  // NBSP and tab
  EXPECT_DOUBLE_EQ(corpus_chrf({"ab"}, {"xyz"}), 0.0);
  EXPECT_DOUBLE_EQ(corpus_chrf({""}, {""}), 0.0);
  // A reference without n-grams of an order adds no hypothesis n-grams of it.
  EXPECT_EQ(chrf_sentence_stats("abcd", "a").hyp[1], 0);
}

TEST(TrainChrf, LineCountMismatchThrows) {
  EXPECT_THROW(corpus_chrf({"a"}, {"a", "b"}), Error);
}

}  // namespace
}  // namespace moekit::train
