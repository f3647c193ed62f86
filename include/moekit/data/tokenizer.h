#pragma once
#include <torch/arg.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace moekit::data {

/// Options of SentencePiece training (the names are spm_train's flags).
struct TokenizerTrainOptions {
  TokenizerTrainOptions(std::vector<std::string> inputs, std::string model_prefix)
      : inputs_(std::move(inputs)), model_prefix_(std::move(model_prefix)) {}
  /// Plain-text files, one sentence per line (no commas in the paths).
  TORCH_ARG(std::vector<std::string>, inputs);
  /// Writes MODEL_PREFIX.model and MODEL_PREFIX.vocab.
  TORCH_ARG(std::string, model_prefix);
  TORCH_ARG(int64_t, vocab_size) = 8000;
  TORCH_ARG(std::string, model_type) = "bpe";
  /// Pieces never split, e.g. target-language tags.
  TORCH_ARG(std::vector<std::string>, user_defined_symbols) = std::vector<std::string>{"<2en>",
                                                                                       "<2es>"};
  TORCH_ARG(double, character_coverage) = 1.0;
  TORCH_ARG(int64_t, num_threads) = 2;

 public:
  void validate() const;  // throws moekit::Error naming the field
};

/// A SentencePiece model. Special ids: pad 0, unk 1, bos 2, eos 3, then the
/// user-defined symbols (the language tags) from 4.
///
/// NOTE: libsentencepiece and LibTorch cannot share a process's symbol space
/// (two protobufs; DESIGN.md, Known pitfalls). SentencePiece lives in our
/// shim library `libmoekit_spm.so`, opened at first use with RTLD_DEEPBIND.
/// It is looked for at $MOEKIT_SPM_LIB, next to the executable, in ../lib
/// from it, in the build tree and in the install prefix.
class Tokenizer {
 public:
  /// Loads MODEL (an `.model` file). Throws moekit::Error naming the file.
  explicit Tokenizer(const std::string& model_path);

  /// Trains a model; throws moekit::Error with SentencePiece's message.
  static void train(const TokenizerTrainOptions& options);

  /// The shim's path, or "" when none is found (the tokenizer is unavailable).
  static std::string library_path();

  std::vector<int64_t> encode(const std::string& text) const;
  std::vector<std::string> encode_pieces(const std::string& text) const;
  /// Throws moekit::Error on an id outside [0, vocab_size).
  std::string decode(const std::vector<int64_t>& ids) const;

  int64_t vocab_size() const;
  /// -1 when the piece is not in the vocabulary (SentencePiece maps it to unk).
  int64_t piece_to_id(const std::string& piece) const;
  std::string id_to_piece(int64_t id) const;
  int64_t pad_id() const;
  int64_t unk_id() const;
  int64_t bos_id() const;
  int64_t eos_id() const;

  /// "<2en>" for "en": prepend it to a source sentence to ask for English.
  static std::string language_tag(const std::string& language);
  /// Id of language_tag(language); throws moekit::Error when the model lacks it.
  int64_t language_tag_id(const std::string& language) const;

  const std::string& model_path() const { return model_path_; }

 private:
  struct Handle;
  std::shared_ptr<Handle> handle_;
  std::string model_path_;
};

}  // namespace moekit::data
