#include "moekit/data/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "moekit/core/error.h"

namespace moekit::data {
namespace {

namespace fs = std::filesystem;

// Trains one tiny joint BPE model per test binary run; empty when the shim is missing.
const std::string& tiny_model() {
  static const std::string model = [] {
    if (Tokenizer::library_path().empty()) return std::string();
    const fs::path dir = fs::path(::testing::TempDir()) / "moekit_tokenizer";
    fs::create_directories(dir);
    const char* const es[] = {"Y lloró Jesús.", "En el principio crió Dios los cielos y la tierra.",
                              "Y dijo Dios: Sea la luz, y fué la luz.",
                              "Dijeron entonces los Judíos: Mirad cómo le amaba."};
    const char* const en[] = {"Jesus wept.",
                              "In the beginning, God created the heavens and the earth.",
                              "God said, “Let there be light,” and there was light.",
                              "The Jews therefore said, “See how much affection he had for him!”"};
    std::ofstream out_es(dir / "train.es"), out_en(dir / "train.en");
    for (int rep = 0; rep < 20; ++rep) {
      for (const char* s : es) out_es << s << "\n";
      for (const char* s : en) out_en << s << "\n";
    }
    out_es.close();
    out_en.close();
    Tokenizer::train(
        TokenizerTrainOptions({(dir / "train.es").string(), (dir / "train.en").string()},
                              (dir / "spm").string())
            .vocab_size(120));
    return (dir / "spm.model").string();
  }();
  return model;
}

#define MOEKIT_REQUIRE_TOKENIZER()                                               \
  if (tiny_model().empty())                                                      \
  GTEST_SKIP() << "SentencePiece shim libmoekit_spm.so not found (build target " \
                  "moekit_spm or set MOEKIT_SPM_LIB)"

TEST(DataTokenizer, EncodeDecodeRoundTrips) {
  MOEKIT_REQUIRE_TOKENIZER();
  const Tokenizer tok(tiny_model());
  EXPECT_EQ(tok.vocab_size(), 120);
  for (const std::string s :
       {"Y lloró Jesús.", "God said, “Let there be light,” and there was light.",
        "Dios dijo: luz"}) {
    const auto ids = tok.encode(s);
    EXPECT_FALSE(ids.empty());
    EXPECT_EQ(tok.decode(ids), s);
    // Pieces concatenate back to the text, with U+2581 marking each space.
    std::string joined, expected = "▁";
    for (const auto& piece : tok.encode_pieces(s)) joined += piece;
    for (char c : s) expected += c == ' ' ? std::string("▁") : std::string(1, c);
    EXPECT_EQ(joined, expected);
  }
}

TEST(DataTokenizer, LanguageTagsAreSinglePiecesWithFixedIds) {
  MOEKIT_REQUIRE_TOKENIZER();
  const Tokenizer tok(tiny_model());
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.unk_id(), 1);
  EXPECT_EQ(tok.bos_id(), 2);
  EXPECT_EQ(tok.eos_id(), 3);
  EXPECT_EQ(tok.language_tag_id("en"), 4);
  EXPECT_EQ(tok.language_tag_id("es"), 5);
  EXPECT_EQ(tok.id_to_piece(4), "<2en>");
  const auto pieces = tok.encode_pieces("<2en> Y lloró Jesús.");
  EXPECT_NE(std::find(pieces.begin(), pieces.end(), "<2en>"), pieces.end());
  EXPECT_EQ(tok.piece_to_id("no-such-piece"), -1);
  EXPECT_THROW(tok.language_tag_id("fr"), Error);
}

TEST(DataTokenizer, RejectsBadIdsAndMissingModels) {
  MOEKIT_REQUIRE_TOKENIZER();
  const Tokenizer tok(tiny_model());
  EXPECT_THROW(tok.decode({5, 120}), Error);
  EXPECT_THROW(tok.decode({-1}), Error);
  EXPECT_THROW(tok.id_to_piece(120), Error);
  EXPECT_THROW(Tokenizer((fs::path(::testing::TempDir()) / "missing.model").string()), Error);
  EXPECT_THROW(Tokenizer::train(TokenizerTrainOptions({"/nonexistent/x.txt"}, "m")), Error);
}

}  // namespace
}  // namespace moekit::data
