#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace moekit::data {

/// One tokenised sentence pair (ids without BOS/EOS; the source already carries its
/// target-language tag).
struct TokenPair {
  std::vector<int64_t> src, tgt;
};

/// Batches of pair indices for one epoch. Pairs are sorted by length (max of source and
/// target, index breaks ties), cut greedily so that a batch's padded size
/// `rows · (longest + 1)` stays within `max_tokens` (a single longer pair gets a batch of its
/// own), and the batches are shuffled with `seed`. Every pair lands in exactly one batch.
/// Throws moekit::Error when max_tokens < 1.
std::vector<std::vector<int64_t>> make_token_batches(const std::vector<TokenPair>& pairs,
                                                     int64_t max_tokens, uint64_t seed);

/// A padded batch: src = tokens + EOS, tgt_in = BOS + tokens, tgt_out = tokens + EOS,
/// all right-padded with pad_id.
struct PaddedBatch {
  at::Tensor src;      // [B, S] int64
  at::Tensor tgt_in;   // [B, T] int64
  at::Tensor tgt_out;  // [B, T] int64
  int64_t src_tokens = 0, tgt_tokens = 0;  // non-pad counts
};

PaddedBatch collate(const std::vector<TokenPair>& pairs, const std::vector<int64_t>& indices,
                    int64_t pad_id, int64_t bos_id, int64_t eos_id);

/// Right-pads sentences (each gets EOS appended) into [B, S] int64.
at::Tensor pad_sources(const std::vector<std::vector<int64_t>>& sentences, int64_t pad_id,
                       int64_t eos_id);

}  // namespace moekit::data
