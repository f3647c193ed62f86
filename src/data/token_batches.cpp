#include "moekit/data/token_batches.h"

#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "moekit/core/error.h"

namespace moekit::data {

std::vector<std::vector<int64_t>> make_token_batches(const std::vector<TokenPair>& pairs,
                                                     int64_t max_tokens, uint64_t seed) {
  MOEKIT_CHECK(max_tokens >= 1, "max_tokens", "must be >= 1, got {}", max_tokens);
  auto length = [&](int64_t i) {
    return static_cast<int64_t>(std::max(pairs[i].src.size(), pairs[i].tgt.size())) + 1;
  };
  std::vector<int64_t> order(pairs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return length(a) < length(b); });
  std::vector<std::vector<int64_t>> batches;
  std::vector<int64_t> current;
  for (int64_t i : order) {
    // Sorted ascending, so the newcomer is the batch's longest.
    if (!current.empty() &&
        static_cast<int64_t>(current.size() + 1) * length(i) > max_tokens) {
      batches.push_back(std::move(current));
      current.clear();
    }
    current.push_back(i);
  }
  if (!current.empty()) batches.push_back(std::move(current));
  // Own Fisher-Yates over mt19937_64: std::shuffle's algorithm differs between libraries.
  std::mt19937_64 rng(seed);
  for (size_t i = batches.size(); i > 1; --i) {
    std::swap(batches[i - 1], batches[rng() % i]);
  }
  return batches;
}

at::Tensor pad_sources(const std::vector<std::vector<int64_t>>& sentences, int64_t pad_id,
                       int64_t eos_id) {
  size_t longest = 0;
  for (const auto& s : sentences) longest = std::max(longest, s.size() + 1);
  at::Tensor out = torch::full({static_cast<int64_t>(sentences.size()),
                                static_cast<int64_t>(longest)},
                               pad_id, torch::kLong);
  auto acc = out.accessor<int64_t, 2>();
  for (size_t r = 0; r < sentences.size(); ++r) {
    for (size_t t = 0; t < sentences[r].size(); ++t) acc[r][t] = sentences[r][t];
    acc[r][sentences[r].size()] = eos_id;
  }
  return out;
}

PaddedBatch collate(const std::vector<TokenPair>& pairs, const std::vector<int64_t>& indices,
                    int64_t pad_id, int64_t bos_id, int64_t eos_id) {
  std::vector<std::vector<int64_t>> src, tgt;
  PaddedBatch batch;
  for (int64_t i : indices) {
    MOEKIT_CHECK(i >= 0 && i < static_cast<int64_t>(pairs.size()), "collate",
                 "index {} outside [0, {})", i, pairs.size());
    src.push_back(pairs[i].src);
    tgt.push_back(pairs[i].tgt);
    batch.src_tokens += static_cast<int64_t>(pairs[i].src.size()) + 1;
    batch.tgt_tokens += static_cast<int64_t>(pairs[i].tgt.size()) + 1;
  }
  batch.src = pad_sources(src, pad_id, eos_id);
  batch.tgt_out = pad_sources(tgt, pad_id, eos_id);
  // tgt_in = BOS + tokens: shift tgt_out right; EOS in the last real slot drops out.
  batch.tgt_in = torch::full_like(batch.tgt_out, pad_id);
  auto in = batch.tgt_in.accessor<int64_t, 2>();
  for (size_t r = 0; r < tgt.size(); ++r) {
    in[r][0] = bos_id;
    for (size_t t = 0; t < tgt[r].size(); ++t) in[r][t + 1] = tgt[r][t];
  }
  return batch;
}

}  // namespace moekit::data
