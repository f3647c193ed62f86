#include "moekit/data/token_batches.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <random>

#include "moekit/core/error.h"

namespace moekit::data {
namespace {

std::vector<TokenPair> random_pairs(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<TokenPair> pairs(n);
  for (auto& p : pairs) {
    p.src.assign(1 + rng() % 30, 5);
    p.tgt.assign(1 + rng() % 30, 6);
  }
  return pairs;
}

TEST(DataTokenBatches, RespectsTokenBudgetAndCoversEverySentenceOnce) {
  const auto pairs = random_pairs(500, 3);
  const int64_t budget = 128;
  const auto batches = make_token_batches(pairs, budget, 7);
  std::vector<int> seen(pairs.size(), 0);
  for (const auto& batch : batches) {
    ASSERT_FALSE(batch.empty());
    size_t longest = 0;
    for (int64_t i : batch) {
      ++seen[i];
      longest = std::max({longest, pairs[i].src.size() + 1, pairs[i].tgt.size() + 1});
    }
    EXPECT_LE(static_cast<int64_t>(batch.size() * longest), budget);
    // Padded through collate, the batch is exactly rows x longest.
    const auto padded = collate(pairs, batch, 0, 2, 3);
    EXPECT_LE(padded.src.numel(), budget);
    EXPECT_LE(padded.tgt_out.numel(), budget);
  }
  for (int count : seen) EXPECT_EQ(count, 1);
}

TEST(DataTokenBatches, LongSentenceGetsItsOwnBatch) {
  std::vector<TokenPair> pairs(3);
  pairs[0].src.assign(100, 5);
  pairs[0].tgt.assign(2, 5);
  pairs[1].src.assign(2, 5);
  pairs[1].tgt.assign(2, 5);
  pairs[2].src.assign(3, 5);
  pairs[2].tgt.assign(2, 5);
  const auto batches = make_token_batches(pairs, 16, 0);
  ASSERT_EQ(batches.size(), 2u);
  size_t total = 0;
  for (const auto& b : batches) {
    total += b.size();
    if (std::find(b.begin(), b.end(), 0) != b.end()) EXPECT_EQ(b.size(), 1u);
  }
  EXPECT_EQ(total, 3u);
}

TEST(DataTokenBatches, SeedDecidesTheBatchOrder) {
  const auto pairs = random_pairs(300, 5);
  EXPECT_EQ(make_token_batches(pairs, 64, 1), make_token_batches(pairs, 64, 1));
  EXPECT_NE(make_token_batches(pairs, 64, 1), make_token_batches(pairs, 64, 2));
}

TEST(DataTokenBatches, CollateShiftsTargetsAndPads) {
  std::vector<TokenPair> pairs(2);
  pairs[0].src = {10, 11, 12};
  pairs[0].tgt = {20};
  pairs[1].src = {13};
  pairs[1].tgt = {21, 22, 23};
  const auto b = collate(pairs, {0, 1}, /*pad*/ 0, /*bos*/ 2, /*eos*/ 3);
  EXPECT_TRUE(b.src.equal(torch::tensor({10, 11, 12, 3, 13, 3, 0, 0}, torch::kLong).view({2, 4})));
  EXPECT_TRUE(
      b.tgt_in.equal(torch::tensor({2, 20, 0, 0, 2, 21, 22, 23}, torch::kLong).view({2, 4})));
  EXPECT_TRUE(
      b.tgt_out.equal(torch::tensor({20, 3, 0, 0, 21, 22, 23, 3}, torch::kLong).view({2, 4})));
  EXPECT_EQ(b.src_tokens, 6);
  EXPECT_EQ(b.tgt_tokens, 6);
}

TEST(DataTokenBatches, RejectsNonPositiveBudget) {
  EXPECT_THROW(make_token_batches(random_pairs(3, 1), 0, 0), Error);
}

}  // namespace
}  // namespace moekit::data
