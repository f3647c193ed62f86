#pragma once
#include <torch/arg.h>

#include <array>
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

/// A verse present in a translation and in English, in the translation's order.
struct VersePair {
  std::string book;
  int64_t chapter = 0;
  int64_t verse = 0;
  std::string lang, en;  // the translation's text and the English text
  /// The translation's verse holds the text of this verse and the next one
  /// (which it lacks); `en` then joins both English verses.
  bool merged = false;
};

struct AlignmentCounts {
  int64_t lang_only = 0;  // the translation's verses without an English counterpart (dropped)
  int64_t en_only = 0;    // English verses the translation lacks (deuterocanon, merged, …)
  int64_t empty = 0;      // present in both but empty on one side after stripping (dropped)
  int64_t merged = 0;     // pairs whose translated verse spans two English verses
};

/// Joins a translation with English by (book, chapter, verse). With
/// `join_merged`, a verse V whose successor V+1 the translation lacks while
/// English has it is taken as a merged verse (the CES Bibles print two verses'
/// text under one id): it pairs with English V and V+1 joined, marked merged.
/// Throws moekit::Error when a module lists the same reference twice.
std::vector<VersePair> align_verses(const std::vector<Verse>& lang, const std::vector<Verse>& en,
                                    AlignmentCounts* counts = nullptr, bool join_merged = false);

/// Whole books go to one split, so no verse leaks between them.
struct BibleSplit {
  std::vector<VersePair> train, valid, test;
  int64_t merged_held_out = 0;  // merged pairs of valid/test books, dropped
};

/// Puts `valid_books` in valid, `test_books` in test and every other book in
/// train; merged pairs go to train or nowhere, so that every valid and test
/// reference is one verse. Throws moekit::Error when a named book has no aligned verse or a
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
  /// CES XML Bibles (christos-c/bible-corpus) to add, each aligned with English.
  TORCH_ARG(std::vector<std::string>, ces_files) = {};
  /// Language codes by file name ("Zulu-NT.xml=zu"), over ces_language_code's table.
  TORCH_ARG(std::vector<std::string>, ces_languages) = {};

 public:
  void validate() const;  // throws moekit::Error naming the field
};

struct SplitCounts {
  std::vector<std::string> books;
  int64_t verses = 0;
  int64_t lang_words = 0;  // whitespace-separated
  int64_t en_words = 0;
};

/// One translation aligned with English: its files are
/// OUT/SPLIT.CODE-en.{CODE,en}.
struct LanguageReport {
  std::string code, file;
  int64_t verses = 0, aligned = 0;
  AlignmentCounts alignment;
  int64_t merged_held_out = 0;
  SplitCounts train, valid, test;
};

struct BibleCorpusReport {
  int64_t es_verses = 0, en_verses = 0, aligned = 0;
  AlignmentCounts alignment;
  SplitCounts train, valid, test;
  std::vector<LanguageReport> languages;  // the CES Bibles, in file order
  /// Every language to and from English: "es-en", "en-es", "uk-en", …
  std::vector<std::string> directions;
  std::string manifest_path;    // OUT/manifest.json
  std::string tokenizer_model;  // OUT/spm.model, empty without a tokenizer
  double export_seconds = 0, tokenizer_seconds = 0, total_seconds = 0;
};

/// Runs diatheke once per module, aligns, splits by book, writes
/// OUT/{train,valid,test}.{es,en} (UTF-8, one verse per line, line i of .es
/// translates line i of .en); aligns each CES Bible with English the same way
/// into OUT/SPLIT.CODE-en.{CODE,en} (same books per split); trains the joint
/// BPE model OUT/spm.model on the training text of every language with every
/// language tag as a user-defined symbol, and writes OUT/manifest.json with
/// the counts per language and split.
BibleCorpusReport build_bible_corpus(const BibleCorpusOptions& options);

/// Writes OUT/{train,valid,test}STEM.{lang,en} (STEM "" or ".uk-en"); returns
/// the counts of train, valid and test.
std::array<SplitCounts, 3> write_bible_split(const std::string& out_dir, const BibleSplit& split,
                                             const std::string& lang, const std::string& stem);

/// The language code of each CES file: `overrides` ("NAME=code", NAME the file
/// name) first, then ces_language_code. Throws moekit::Error naming the file
/// when it has none, or the override when it is malformed, names no given file
/// or the code is not lower-case letters; also when two files share a code or
/// one is "es" or "en".
std::vector<std::string> ces_language_codes(const std::vector<std::string>& files,
                                            const std::vector<std::string>& overrides);

}  // namespace moekit::data
