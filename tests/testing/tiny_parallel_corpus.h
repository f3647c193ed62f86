// The tiny parallel corpus of the translation tests: SPLIT.es/SPLIT.en for
// train, valid and test (train holds every sentence; valid and test each a
// tenth, disjoint) and a BPE model, written once per test process.
#pragma once
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "moekit/data/tokenizer.h"

namespace moekit::testing {
namespace fs = std::filesystem;

// A small synthetic es/en corpus (compositional, so a tiny model can learn something)
// and a BPE model trained on it; "" when the SentencePiece shim is unavailable.
inline const fs::path& corpus_dir() {
  static const fs::path dir = []() -> fs::path {
    if (data::Tokenizer::library_path().empty()) return {};
    const fs::path d = fs::path(::testing::TempDir()) / "moekit_mt_corpus";
    fs::create_directories(d);
    const char* const es_subj[] = {"el perro", "la casa", "el hombre", "la mujer", "el gato"};
    const char* const en_subj[] = {"the dog", "the house", "the man", "the woman", "the cat"};
    const char* const es_adj[] = {"grande", "roja", "vieja", "buena"};
    const char* const en_adj[] = {"big", "red", "old", "good"};
    const char* const es_verb[] = {"es", "era", "será", "parece", "fue", "queda", "está",
                                   "sigue", "resulta", "vive"};
    const char* const en_verb[] = {"is", "was", "will be", "seems", "went", "stays", "sits",
                                   "remains", "turns out", "lives"};
    std::ofstream tes(d / "train.es"), ten(d / "train.en"), ves(d / "valid.es"),
        ven(d / "valid.en"), xes(d / "test.es"), xen(d / "test.en");
    int n = 0;
    for (int s = 0; s < 5; ++s) {
      for (int v = 0; v < 10; ++v) {
        for (int a = 0; a < 4; ++a, ++n) {
          const std::string es = fmt::format("{} {} {}.", es_subj[s], es_verb[v], es_adj[a]);
          const std::string en = fmt::format("{} {} {}.", en_subj[s], en_verb[v], en_adj[a]);
          tes << es << "\n";
          ten << en << "\n";
          if (n % 10 == 0) {
            ves << es << "\n";
            ven << en << "\n";
          } else if (n % 10 == 5) {
            xes << es << "\n";
            xen << en << "\n";
          }
        }
      }
    }
    for (auto* f : {&tes, &ten, &ves, &ven, &xes, &xen}) f->close();
    data::Tokenizer::train(data::TokenizerTrainOptions(
                               {(d / "train.es").string(), (d / "train.en").string()},
                               (d / "spm").string())
                               .vocab_size(100));
    return d;
  }();
  return dir;
}

/// Runs the moekit CLI of this build with `args` (a shell command line tail).
inline int run_cli(const std::string& args) {
  const std::string cmd = std::string(MOEKIT_BINARY_DIR) + "/moekit " + args;
  return std::system(cmd.c_str());
}

}  // namespace moekit::testing

#define MOEKIT_REQUIRE_TOKENIZER()                    \
  if (::moekit::testing::corpus_dir().empty()) \
  GTEST_SKIP() << "SentencePiece shim libmoekit_spm.so not found"
