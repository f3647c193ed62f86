#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "moekit/data/tokenizer.h"
#include "moekit/models/transformer.h"

namespace moekit::models {

/// Greedy (beam <= 1) or beam search decoding of tokenised sources (each
/// starting with its target-language tag), in batches; returns detokenised
/// lines. Runs the model in eval mode and restores its mode afterwards.
std::vector<std::string> decode_sources(Transformer& model, const data::Tokenizer& tokenizer,
                                        const std::vector<std::vector<int64_t>>& sources,
                                        int64_t beam, int64_t max_len);

/// Greedy (beam 1) or beam search translation of raw lines into `target_language`,
/// batched; returns detokenised lines. Runs the model in eval mode.
std::vector<std::string> translate_lines(Transformer& model,
                                         const data::Tokenizer& tokenizer,
                                         const std::vector<std::string>& lines,
                                         const std::string& target_language, int64_t beam,
                                         int64_t max_len);

}  // namespace moekit::models
