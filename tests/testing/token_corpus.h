// Test helper: a parallel corpus of token ids that cycle through a small
// vocabulary, sentences of a few lengths, for the model-level tests that need
// no tokenizer (importance, moefy, distillation).
#pragma once
#include <cstdint>

#include "moekit/data/parallel_corpus.h"

namespace moekit::testing {

/// n pairs over ids [3, vocab) (0-2 are pad, BOS, EOS): source lengths 3-6,
/// target lengths 2-4, references "x".
inline data::ParallelCorpus cycling_token_corpus(int64_t n, int64_t vocab) {
  data::ParallelCorpus corpus;
  for (int64_t i = 0; i < n; ++i) {
    data::TokenPair p;
    for (int64_t t = 0; t < 3 + i % 4; ++t) p.src.push_back(3 + (i * 7 + t * 5) % (vocab - 3));
    for (int64_t t = 0; t < 2 + i % 3; ++t) p.tgt.push_back(3 + (i * 3 + t * 11) % (vocab - 3));
    corpus.pairs.push_back(p);
    corpus.references.emplace_back("x");
  }
  return corpus;
}

}  // namespace moekit::testing
