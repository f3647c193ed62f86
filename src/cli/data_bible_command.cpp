// `moekit data bible`: the verse-aligned Spanish-English Bible corpus and its
// joint BPE model, exported from the installed SWORD modules.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "moekit/core/error.h"
#include "moekit/data/bible_corpus.h"

namespace moekit::cli {
namespace {

struct BibleArgs {
  std::string out = "data/bible";
  int64_t vocab_size = 4000;
  std::vector<std::string> valid_books{"Mark"};
  std::vector<std::string> test_books{"John"};
  std::string ces_dir;                     // every *.xml in it
  std::vector<std::string> ces_languages;  // FILE=code
};

// The CES Bibles of `dir`, sorted by name so that the corpus does not depend
// on the directory's order.
std::vector<std::string> ces_files_in(const std::string& dir) {
  namespace fs = std::filesystem;
  MOEKIT_CHECK(fs::is_directory(dir), "--ces", "'{}' is not a directory", dir);
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".xml") {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  MOEKIT_CHECK(!files.empty(), "--ces", "'{}' holds no .xml file (CES Bibles of "
               "christos-c/bible-corpus)", dir);
  return files;
}

void print_split(const char* name, const data::SplitCounts& c) {
  std::string books;
  for (const auto& b : c.books) books += (books.empty() ? "" : ", ") + b;
  if (c.books.size() > 3)
    books = fmt::format("{} books, {} .. {}", c.books.size(), c.books.front(), c.books.back());
  std::cout << fmt::format("  {:<5} {:>6} verses  {:>7} words  {:>7} en words  ({})\n", name,
                           c.verses, c.lang_words, c.en_words, books);
}

void run_bible(const BibleArgs& args) {
  const auto options = data::BibleCorpusOptions(args.out)
                           .vocab_size(args.vocab_size)
                           .valid_books(args.valid_books)
                           .test_books(args.test_books)
                           .ces_files(args.ces_dir.empty() ? std::vector<std::string>{}
                                                           : ces_files_in(args.ces_dir))
                           .ces_languages(args.ces_languages);
  const data::BibleCorpusReport r = data::build_bible_corpus(options);
  std::cout << fmt::format("exported {} ({} verses) and {} ({} verses) in {:.1f} s\n",
                           options.es_module(), r.es_verses, options.en_module(), r.en_verses,
                           r.export_seconds);
  std::cout << fmt::format(
      "aligned {} verse pairs (dropped: {} Spanish-only, {} English-only, {} empty)\n", r.aligned,
      r.alignment.lang_only, r.alignment.en_only, r.alignment.empty);
  print_split("train", r.train);
  print_split("valid", r.valid);
  print_split("test", r.test);
  for (const auto& l : r.languages) {
    std::cout << fmt::format(
        "{} ({}): {} verses, aligned {} (dropped: {} without English, {} empty; {} merged, "
        "{} of them held out of valid/test)\n",
        l.code, l.file, l.verses, l.aligned, l.alignment.lang_only, l.alignment.empty,
        l.alignment.merged, l.merged_held_out);
    print_split("train", l.train);
    print_split("valid", l.valid);
    print_split("test", l.test);
  }
  if (!r.languages.empty()) {
    std::string directions;
    for (const auto& d : r.directions) directions += (directions.empty() ? "" : ",") + d;
    std::cout << "directions: " << directions << "\n";
  }
  if (!r.tokenizer_model.empty()) {
    std::cout << fmt::format("joint BPE ({} pieces, a tag <2xx> per language): {} in {:.1f} s\n",
                             args.vocab_size, r.tokenizer_model, r.tokenizer_seconds);
  }
  std::cout << fmt::format("wrote {} ({:.1f} s in all)\n", r.manifest_path, r.total_seconds);
}

}  // namespace

void add_data_bible_command(CLI::App& app) {
  auto args = std::make_shared<BibleArgs>();
  auto* cmd = data_command(app)->add_subcommand(
      "bible", "Verse-aligned Reina-Valera 1909 / World English Bible, split by book, + joint BPE");
  cmd->add_option("--out", args->out, "output directory")->capture_default_str();
  cmd->add_option("--vocab-size", args->vocab_size, "joint SentencePiece BPE size (0: none)")
      ->capture_default_str();
  cmd->add_option("--valid-books", args->valid_books, "books of the validation split")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--test-books", args->test_books, "books of the test split")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--ces", args->ces_dir,
                  "also align every CES XML Bible (*.xml) in this directory with English");
  cmd->add_option("--ces-lang", args->ces_languages,
                  "language code of a CES file, FILE=code (repeatable; overrides the table)");
  cmd->callback([args] { run_bible(*args); });
}

}  // namespace moekit::cli
