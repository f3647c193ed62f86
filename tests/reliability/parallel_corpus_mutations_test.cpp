// Replays mutated corpus files as `moekit data bible` writes them (SPLIT.es /
// SPLIT.en, one verse per line), read back by train-mt: each must load or
// throw moekit::Error naming the corpus folder.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "moekit/data/parallel_corpus.h"
#include "moekit/data/tokenizer.h"
#include "testing/mutate.h"

namespace moekit::train {
namespace {
namespace fs = std::filesystem;

TEST(ReliabilityParallelCorpusMutations, CorpusFileMutantsLoadOrNameTheFolder) {
  if (data::Tokenizer::library_path().empty()) {
    GTEST_SKIP() << "SentencePiece shim libmoekit_spm.so not found (or refused under ASan)";
  }
  const fs::path dir = fs::path(::testing::TempDir()) / "moekit_corpus_mutations";
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    std::ofstream es(dir / "train.es"), en(dir / "train.en");
    const char* const es_words[] = {"el perro", "la casa", "el niño", "la mujer", "el gato"};
    const char* const en_words[] = {"the dog", "the house", "the boy", "the woman", "the cat"};
    for (int i = 0; i < 40; ++i) {
      es << fmt::format("{} es grande y {} está aquí.\n", es_words[i % 5], es_words[(i / 5) % 5]);
      en << fmt::format("{} is big and {} is here.\n", en_words[i % 5], en_words[(i / 5) % 5]);
    }
  }
  data::Tokenizer::train(data::TokenizerTrainOptions(
                             {(dir / "train.es").string(), (dir / "train.en").string()},
                             (dir / "spm").string())
                             .vocab_size(60));
  const data::Tokenizer tok((dir / "spm.model").string());
  const std::vector<std::pair<std::string, std::string>> directions{{"es", "en"}};
  ASSERT_EQ(data::load_parallel_corpus(tok, dir.string(), "train", directions, 32).pairs.size(), 40u);

  const std::string path = (dir / "train.es").string();
  const auto valid = moekit::testing::read_bytes(path);
  moekit::testing::MutateOptions o;
  o.seed = 77;
  o.utf8 = 60;
  const auto mutants = moekit::testing::make_mutants(valid, o);
  ASSERT_GE(mutants.size(), 200u);
  // A line-count fault is reported against the folder and split, not one file.
  const auto counts = moekit::testing::replay_mutants(
      mutants, path, [&] { data::load_parallel_corpus(tok, dir.string(), "train", directions, 32); },
      dir.string());
  EXPECT_GT(counts.rejected, 0);  // truncations drop lines
  EXPECT_GT(counts.loaded, 0);    // bit flips and bad UTF-8 inside a line still load
}

}  // namespace
}  // namespace moekit::train
