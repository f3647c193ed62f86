// `moekit data bible`: the verse-aligned Spanish-English Bible corpus and its
// joint BPE model, exported from the installed SWORD modules.
#include <iostream>

#include "cli/commands.h"
#include "moekit/data/bible_corpus.h"

namespace moekit::cli {
namespace {

struct BibleArgs {
  std::string out = "data/bible";
  int64_t vocab_size = 4000;
  std::vector<std::string> valid_books{"Mark"};
  std::vector<std::string> test_books{"John"};
};

void print_split(const char* name, const data::SplitCounts& c) {
  std::string books;
  for (const auto& b : c.books) books += (books.empty() ? "" : ", ") + b;
  if (c.books.size() > 3)
    books = fmt::format("{} books, {} .. {}", c.books.size(), c.books.front(), c.books.back());
  std::cout << fmt::format("  {:<5} {:>6} verses  {:>7} es words  {:>7} en words  ({})\n", name,
                           c.verses, c.es_words, c.en_words, books);
}

void run_bible(const BibleArgs& args) {
  const auto options = data::BibleCorpusOptions(args.out)
                           .vocab_size(args.vocab_size)
                           .valid_books(args.valid_books)
                           .test_books(args.test_books);
  const data::BibleCorpusReport r = data::build_bible_corpus(options);
  std::cout << fmt::format("exported {} ({} verses) and {} ({} verses) in {:.1f} s\n",
                           options.es_module(), r.es_verses, options.en_module(), r.en_verses,
                           r.export_seconds);
  std::cout << fmt::format(
      "aligned {} verse pairs (dropped: {} Spanish-only, {} English-only, {} empty)\n", r.aligned,
      r.alignment.es_only, r.alignment.en_only, r.alignment.empty);
  print_split("train", r.train);
  print_split("valid", r.valid);
  print_split("test", r.test);
  if (!r.tokenizer_model.empty()) {
    std::cout << fmt::format("joint BPE ({} pieces, tags <2en> <2es>): {} in {:.1f} s\n",
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
  cmd->callback([args] { run_bible(*args); });
}

}  // namespace moekit::cli
