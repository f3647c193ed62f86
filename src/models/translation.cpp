// Translation of whole sentences with a trained Transformer: the decoding API
// `moekit translate` and validation BLEU use, over greedy and beam search.
#include "moekit/models/translation.h"

#include <algorithm>

#include "moekit/data/token_batches.h"
#include "moekit/models/beam_search.h"

namespace moekit::models {
namespace {

// Sources of at most this many sentences go through the decoder together.
constexpr size_t kDecodeBatch = 32;

}  // namespace

std::vector<std::string> decode_sources(Transformer& model,
                                        const data::Tokenizer& tokenizer,
                                        const std::vector<std::vector<int64_t>>& sources,
                                        int64_t beam, int64_t max_len) {
  const bool was_training = model->is_training();
  model->eval();
  std::vector<std::string> out;
  for (size_t begin = 0; begin < sources.size(); begin += kDecodeBatch) {
    const size_t end = std::min(sources.size(), begin + kDecodeBatch);
    std::vector<std::vector<int64_t>> chunk(sources.begin() + begin, sources.begin() + end);
    const at::Tensor src =
        data::pad_sources(chunk, model->options.pad_id(), model->options.eos_id());
    const auto hyps =
        beam <= 1 ? greedy_search(model, src, max_len)
                  : beam_search(model, src,
                                        BeamSearchOptions().beam(beam).max_len(max_len));
    for (const auto& h : hyps) out.push_back(tokenizer.decode(h.tokens));
  }
  model->train(was_training);
  return out;
}

std::vector<std::string> translate_lines(Transformer& model,
                                         const data::Tokenizer& tokenizer,
                                         const std::vector<std::string>& lines,
                                         const std::string& target_language, int64_t beam,
                                         int64_t max_len) {
  const int64_t tag = tokenizer.language_tag_id(target_language);
  std::vector<std::vector<int64_t>> sources;
  for (const auto& line : lines) {
    std::vector<int64_t> ids{tag};
    for (int64_t id : tokenizer.encode(line)) ids.push_back(id);
    sources.push_back(std::move(ids));
  }
  return decode_sources(model, tokenizer, sources, beam, max_len);
}

}  // namespace moekit::models
