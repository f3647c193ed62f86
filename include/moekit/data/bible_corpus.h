#pragma once
#include <torch/arg.h>

#include <cstdint>
#include <string>
#include <vector>

namespace moekit::data {

/// One verse of one SWORD module, markup already stripped.
struct Verse {
  std::string book;  // diatheke's English book name: "Genesis", "I John", "Revelation of John"
  int64_t chapter = 0;
  int64_t verse = 0;
  std::string text;
};

/// Parses what `diatheke -b MODULE -k RANGE` prints: one `BOOK C:V: text`
/// entry per verse, possibly preceded by heading markup (`<title>…</title>`,
/// milestones) that belongs to no verse, and a final `(MODULE)` line. A line
/// that starts no entry continues the previous verse. Markup is stripped with
/// strip_osis. `where` names the source in errors (text before the first
/// entry, a malformed reference).
std::vector<Verse> parse_diatheke_output(const std::string& text, const std::string& where);

/// What `diatheke -b MODULE -k KEYS` prints (run with LC_ALL=C, so book names
/// are English). Throws moekit::Error when diatheke cannot be run or fails.
std::string export_sword_module(const std::string& diatheke, const std::string& module,
                                const std::string& keys = "Genesis 1:1-Revelation 22:21");

/// A verse present in both translations, in the order of the Spanish module.
struct VersePair {
  std::string book;
  int64_t chapter = 0;
  int64_t verse = 0;
  std::string es, en;
};

struct AlignmentCounts {
  int64_t es_only = 0;  // verses without an English counterpart (dropped)
  int64_t en_only = 0;  // English verses without a Spanish counterpart (deuterocanon, …)
  int64_t empty = 0;    // present in both but empty on one side after stripping (dropped)
};

/// Joins two modules by (book, chapter, verse). Throws moekit::Error when a
/// module lists the same reference twice.
std::vector<VersePair> align_verses(const std::vector<Verse>& es, const std::vector<Verse>& en,
                                    AlignmentCounts* counts = nullptr);

/// Whole books go to one split, so no verse leaks between them.
struct BibleSplit {
  std::vector<VersePair> train, valid, test;
};

/// Puts `valid_books` in valid, `test_books` in test and every other book in
/// train. Throws moekit::Error when a named book has no aligned verse or a
/// book is named for both.
BibleSplit split_by_book(const std::vector<VersePair>& pairs,
                         const std::vector<std::string>& valid_books,
                         const std::vector<std::string>& test_books);

/// Options of `moekit data bible`.
struct BibleCorpusOptions {
  explicit BibleCorpusOptions(std::string out_dir) : out_dir_(std::move(out_dir)) {}
  TORCH_ARG(std::string, out_dir);
  TORCH_ARG(std::string, es_module) = "spaRV1909eb";
  TORCH_ARG(std::string, en_module) = "engWEB2015eb";
  TORCH_ARG(std::vector<std::string>, valid_books) = std::vector<std::string>{"Mark"};
  TORCH_ARG(std::vector<std::string>, test_books) = std::vector<std::string>{"John"};
  /// Joint SentencePiece BPE vocabulary; 0 skips the tokenizer.
  TORCH_ARG(int64_t, vocab_size) = 4000;
  TORCH_ARG(std::string, diatheke) = "diatheke";

 public:
  void validate() const;  // throws moekit::Error naming the field
};

struct SplitCounts {
  std::vector<std::string> books;
  int64_t verses = 0;
  int64_t es_words = 0;  // whitespace-separated
  int64_t en_words = 0;
};

struct BibleCorpusReport {
  int64_t es_verses = 0, en_verses = 0, aligned = 0;
  AlignmentCounts alignment;
  SplitCounts train, valid, test;
  std::string manifest_path;    // OUT/manifest.json
  std::string tokenizer_model;  // OUT/spm.model, empty without a tokenizer
  double export_seconds = 0, tokenizer_seconds = 0, total_seconds = 0;
};

/// Runs diatheke once per module, aligns, splits by book, writes
/// OUT/{train,valid,test}.{es,en} (UTF-8, one verse per line, line i of .es
/// translates line i of .en), trains the joint BPE model OUT/spm.model on
/// train.es + train.en with the language tags as user-defined symbols, and
/// writes OUT/manifest.json with the counts.
BibleCorpusReport build_bible_corpus(const BibleCorpusOptions& options);

/// Writes OUT/{train,valid,test}.{es,en}; returns the counts of each split.
void write_bible_split(const std::string& out_dir, const BibleSplit& split,
                       BibleCorpusReport* report);

}  // namespace moekit::data
