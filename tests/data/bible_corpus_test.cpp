#include "moekit/data/bible_corpus.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "moekit/core/error.h"
#include "moekit/data/tokenizer.h"

namespace moekit::data {
namespace {

namespace fs = std::filesystem;

// A slice of each module in diatheke's format: heading markup before a
// reference, a tag between two words, a verse spanning two lines, a verse
// only one side has, and the trailing "(MODULE)" line.
const char* const kSpanish =
    "Genesis 1:1: <w savlm=\"strong:H7225\">EN el principio</w> <w savlm=\"x\">crió</w> "
    "<w savlm=\"strong:H0430\">Dios</w>.\n"
    "Genesis 1:2: <w savlm=\"a\">Y la tierra</w> <w savlm=\"b\">estaba</w>.\n"
    "Genesis 1:3: Sólo en español.\n"
    "Mark 1:1: <w savlm=\"a\">Principio</w> del evangelio.\n"
    "Mark 1:2: <w savlm=\"a\">Como</w> está escrito.\n"
    "John 11:35: <w savlm=\"strong:G1145\">Y lloró</w> <w savlm=\"strong:G2424\">Jesús</w>.\n"
    "John 11:36: <w savlm=\"a\">Dijeron</w> <w savlm=\"b\">entonces</w>\n"
    "los Judíos.\n"
    "(spaRV1909eb)\n";
const char* const kEnglish =
    "Genesis 1:1: <w savlm=\"a\">In</w> <w savlm=\"b\">the</w> beginning, "
    "<w savlm=\"strong:H0430\">God</w><w savlm=\"strong:H1254\">created</w>.\n"
    "Genesis 1:2: <w savlm=\"a\">The</w> earth was formless. <div eID=\"gen25\" type=\"x-p\"/>\n"
    "<title canonical=\"true\" type=\"psalm\">A Psalm.</title> <lg sID=\"g1\"/>Mark 1:1: "
    "The beginning of the Good News.\n"
    "<title canonical=\"true\" type=\"psalm\">A Psalm.</title> <lg sID=\"g1\"/>Mark 1:2: As "
    "it is written.\n"
    "Tobit 1:1: Only in English.\n"
    "John 11:35: <w savlm=\"strong:G2424\">Jesus</w> <w savlm=\"strong:G1145\">wept</w>.\n"
    "John 11:36: <w savlm=\"a\">The</w> Jews said, <q marker=\"\">“<w s=\"x\">See</w>!”</q>\n"
    "(engWEB2015eb)\n";

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(DataBibleCorpus, ParsesReferencesAndStripsMarkup) {
  const auto en = parse_diatheke_output(kEnglish, "en");
  ASSERT_EQ(en.size(), 7u);
  EXPECT_EQ(en[0].book, "Genesis");
  EXPECT_EQ(en[0].chapter, 1);
  EXPECT_EQ(en[0].verse, 1);
  EXPECT_EQ(en[0].text, "In the beginning, God created.");  // not "Godcreated"
  EXPECT_EQ(en[2].book, "Mark");                            // heading markup skipped
  EXPECT_EQ(en[2].text, "The beginning of the Good News.");
  EXPECT_EQ(en[6].text, "The Jews said, “See!”");
  const auto es = parse_diatheke_output(kSpanish, "es");
  ASSERT_EQ(es.size(), 7u);
  EXPECT_EQ(es[6].text, "Dijeron entonces los Judíos.");  // continuation line joined
}

TEST(DataBibleCorpus, RejectsTextBeforeTheFirstReference) {
  EXPECT_THROW(parse_diatheke_output("no reference here\nGenesis 1:1: x\n", "m"), Error);
}

TEST(DataBibleCorpus, AlignsOnlyVersesPresentInBoth) {
  AlignmentCounts counts;
  const auto pairs = align_verses(parse_diatheke_output(kSpanish, "es"),
                                  parse_diatheke_output(kEnglish, "en"), &counts);
  ASSERT_EQ(pairs.size(), 6u);
  EXPECT_EQ(counts.es_only, 1);  // Genesis 1:3
  EXPECT_EQ(counts.en_only, 1);  // Tobit 1:1
  EXPECT_EQ(pairs[4].book, "John");
  EXPECT_EQ(pairs[4].es, "Y lloró Jesús.");
  EXPECT_EQ(pairs[4].en, "Jesus wept.");
  for (const auto& p : pairs) EXPECT_NE(p.es, "Sólo en español.");
}

TEST(DataBibleCorpus, RejectsAReferenceListedTwice) {
  const std::vector<Verse> twice = {{"Mark", 1, 1, "a"}, {"Mark", 1, 1, "b"}};
  EXPECT_THROW(align_verses(twice, {}), Error);
}

TEST(DataBibleCorpus, SplitByBookLeaksNoBook) {
  const auto pairs =
      align_verses(parse_diatheke_output(kSpanish, "es"), parse_diatheke_output(kEnglish, "en"));
  const BibleSplit split = split_by_book(pairs, {"Mark"}, {"John"});
  EXPECT_EQ(split.train.size(), 2u);
  EXPECT_EQ(split.valid.size(), 2u);
  EXPECT_EQ(split.test.size(), 2u);
  std::set<std::string> train, valid, test;
  for (const auto& p : split.train) train.insert(p.book);
  for (const auto& p : split.valid) valid.insert(p.book);
  for (const auto& p : split.test) test.insert(p.book);
  EXPECT_EQ(train, std::set<std::string>{"Genesis"});
  EXPECT_EQ(valid, std::set<std::string>{"Mark"});
  EXPECT_EQ(test, std::set<std::string>{"John"});
  EXPECT_THROW(split_by_book(pairs, {"Mark"}, {"Mark"}), Error);
  EXPECT_THROW(split_by_book(pairs, {"Luke"}, {"John"}), Error);  // no such book here
}

// The whole command on the slice above, through a stand-in diatheke script.
TEST(DataBibleCorpus, BuildWritesAlignedSplitFilesAndManifest) {
  const fs::path dir = fs::path(::testing::TempDir()) / "moekit_bible_build";
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& [module, text] :
       {std::pair{"spaRV1909eb", kSpanish}, std::pair{"engWEB2015eb", kEnglish}}) {
    std::ofstream(dir / (std::string(module) + ".txt")) << text;
  }
  const fs::path script = dir / "fake_diatheke.sh";
  std::ofstream(script) << "#!/bin/sh\n# usage: -b MODULE -k KEYS\ncat \"" << dir.string()
                        << "/$2.txt\"\n";
  fs::permissions(script, fs::perms::owner_all);

  const bool with_tokenizer = !Tokenizer::library_path().empty();
  const auto options = BibleCorpusOptions((dir / "out").string())
                           .diatheke(script.string())
                           .vocab_size(with_tokenizer ? 60 : 0);
  const BibleCorpusReport report = build_bible_corpus(options);
  EXPECT_EQ(report.aligned, 6);
  EXPECT_EQ(report.train.verses, 2);
  EXPECT_EQ(report.valid.books, std::vector<std::string>{"Mark"});
  EXPECT_EQ(report.test.books, std::vector<std::string>{"John"});

  const auto valid_es = read_lines((dir / "out/valid.es").string());
  const auto valid_en = read_lines((dir / "out/valid.en").string());
  EXPECT_EQ(valid_es, (std::vector<std::string>{"Principio del evangelio.", "Como está escrito."}));
  EXPECT_EQ(valid_en,
            (std::vector<std::string>{"The beginning of the Good News.", "As it is written."}));
  EXPECT_EQ(read_lines((dir / "out/test.en").string()),
            (std::vector<std::string>{"Jesus wept.", "The Jews said, “See!”"}));
  EXPECT_EQ(read_lines((dir / "out/train.es").string()).size(), 2u);

  std::ifstream manifest(dir / "out/manifest.json");
  std::stringstream json;
  json << manifest.rdbuf();
  EXPECT_NE(json.str().find("\"aligned\": 6"), std::string::npos) << json.str();
  if (with_tokenizer) EXPECT_TRUE(fs::exists(dir / "out/spm.model"));
}

// Two real verses, when diatheke and both modules are installed.
TEST(DataBibleCorpus, RealDiathekeSliceAligns) {
  if (std::system("command -v diatheke >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "diatheke is not installed";
  }
  const auto es = parse_diatheke_output(
      export_sword_module("diatheke", "spaRV1909eb", "John 11:35-36"), "spaRV1909eb");
  const auto en = parse_diatheke_output(
      export_sword_module("diatheke", "engWEB2015eb", "John 11:35-36"), "engWEB2015eb");
  if (es.empty() || en.empty()) GTEST_SKIP() << "sword-text-sparv or sword-text-web missing";
  const auto pairs = align_verses(es, en);
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].es, "Y lloró Jesús.");
  EXPECT_EQ(pairs[0].en, "Jesus wept.");
  EXPECT_EQ(pairs[1].en, "The Jews therefore said, “See how much affection he had for him!”");
}

}  // namespace
}  // namespace moekit::data
