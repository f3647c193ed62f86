#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "moekit/data/token_batches.h"
#include "moekit/data/tokenizer.h"

namespace moekit::data {

/// A tokenised parallel split plus the raw target lines (BLEU references).
struct ParallelCorpus {
  std::vector<TokenPair> pairs;
  std::vector<std::string> references;
};

/// Reads each direction's files ("uk-en" reads SPLIT.uk-en.uk as source and
/// SPLIT.uk-en.en as target when they exist, SPLIT.en-uk.* likewise, else
/// SPLIT.uk and SPLIT.en), prepends the
/// target-language tag id to each source and truncates both sides to max_len tokens.
/// Throws moekit::Error naming the file when the line counts differ.
ParallelCorpus load_parallel_corpus(const Tokenizer& tokenizer, const std::string& dir,
                                    const std::string& split,
                                    const std::vector<std::pair<std::string, std::string>>& directions,
                                    int64_t max_len);

/// Whether DIR holds SPLIT's files of every direction (as load_parallel_corpus
/// looks for them).
bool has_parallel_split(const std::string& dir, const std::string& split,
                        const std::vector<std::pair<std::string, std::string>>& directions);

/// "es-en,en-es" -> {{es,en},{en,es}}; throws naming `where` on a malformed entry.
std::vector<std::pair<std::string, std::string>> parse_directions(const std::string& text,
                                                                  const std::string& where);

}  // namespace moekit::data
