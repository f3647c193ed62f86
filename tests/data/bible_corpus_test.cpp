#include "moekit/data/bible_corpus.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <tuple>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "moekit/core/error.h"
#include "moekit/data/ces_bible.h"
#include "moekit/data/parallel_corpus.h"
#include "moekit/data/tokenizer.h"
#include "testing/tiny_parallel_corpus.h"

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
  EXPECT_EQ(counts.lang_only, 1);  // Genesis 1:3
  EXPECT_EQ(counts.en_only, 1);  // Tobit 1:1
  EXPECT_EQ(pairs[4].book, "John");
  EXPECT_EQ(pairs[4].lang, "Y lloró Jesús.");
  EXPECT_EQ(pairs[4].en, "Jesus wept.");
  for (const auto& p : pairs) EXPECT_NE(p.lang, "Sólo en español.");
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

// A fresh `dir` with a stand-in diatheke script that prints the slices above;
// returns the script.
fs::path fake_diatheke(const fs::path& dir) {
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
  return script;
}

// The whole command on the slice above, through a stand-in diatheke script.
TEST(DataBibleCorpus, BuildWritesAlignedSplitFilesAndManifest) {
  const fs::path dir = fs::path(::testing::TempDir()) / "moekit_bible_build";
  const fs::path script = fake_diatheke(dir);

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

TEST(DataBibleCorpus, MergedVerseJoinsBothEnglishVersesWhenAsked) {
  const std::vector<Verse> en = {{"Mark", 1, 1, "One."}, {"Mark", 1, 2, "Two."},
                                 {"Mark", 1, 3, "Three."}, {"Mark", 1, 4, "Four."},
                                 {"Mark", 2, 1, "Five."}};
  // 1:1 holds 1:1-2 (1:2 missing); 1:3 is empty; 1:4 ends the chapter in both
  // (not merged); 1:9 has no English; Mark 2:1 is plain.
  const std::vector<Verse> lang = {{"Mark", 1, 1, "Uno y dos."}, {"Mark", 1, 3, ""},
                                   {"Mark", 1, 4, "Cuatro."},    {"Mark", 1, 9, "Nueve."},
                                   {"Mark", 2, 1, "Cinco."}};
  AlignmentCounts c;
  const auto pairs = align_verses(lang, en, &c, /*join_merged=*/true);
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(pairs[0].en, "One. Two.");
  EXPECT_TRUE(pairs[0].merged);
  EXPECT_EQ(pairs[1].en, "Four.");
  EXPECT_FALSE(pairs[1].merged);
  EXPECT_FALSE(pairs[2].merged);
  EXPECT_EQ(c.merged, 1);
  EXPECT_EQ(c.empty, 1);
  EXPECT_EQ(c.lang_only, 1);
  EXPECT_EQ(c.en_only, 1);  // Mark 1:2, inside the merged verse
  // Without join_merged the alignment is the plain join (the Spanish module's).
  const auto plain = align_verses(lang, en, &c);
  EXPECT_EQ(plain[0].en, "One.");
  EXPECT_FALSE(plain[0].merged);
  EXPECT_EQ(c.merged, 0);
}

TEST(DataBibleCorpus, MergedVersesStayOutOfValidAndTest) {
  std::vector<VersePair> pairs = {{"Genesis", 1, 1, "a", "A B", true},
                                  {"Genesis", 1, 3, "c", "C", false},
                                  {"Mark", 1, 1, "d", "D E", true},
                                  {"Mark", 1, 3, "f", "F", false},
                                  {"John", 1, 1, "g", "G H", true},
                                  {"John", 1, 3, "i", "I", false}};
  const BibleSplit split = split_by_book(pairs, {"Mark"}, {"John"});
  EXPECT_EQ(split.train.size(), 2u);  // the merged Genesis verse trains
  ASSERT_EQ(split.valid.size(), 1u);
  ASSERT_EQ(split.test.size(), 1u);
  EXPECT_EQ(split.valid[0].en, "F");
  EXPECT_EQ(split.test[0].en, "I");
  EXPECT_EQ(split.merged_held_out, 2);
}

// A CES Bible as christos-c/bible-corpus writes it, from (id, text) pairs.
void write_ces(const fs::path& path, const std::vector<std::pair<std::string, std::string>>& verses) {
  std::ofstream out(path);
  out << "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<cesDoc version=\"4\">\n<text><body>\n";
  for (const auto& [id, text] : verses) {
    out << "  <seg id=\"b." << id << "\" type=\"verse\">\n    " << text << " \n  </seg>\n";
  }
  out << "</body></text></cesDoc>\n";
}

TEST(DataBibleCorpus, CesBiblesAlignWithEnglishIntoPairFilesSplitByTheSameBooks) {
  const fs::path dir = fs::path(::testing::TempDir()) / "moekit_bible_ces";
  const fs::path script = fake_diatheke(dir);
  // Zulu: Genesis 1:1 merged (lacks 1:2; trains), Mark whole, John 11:36 empty,
  // Matthew 1:1 without English. Latvian: Mark 1:1 merged (held out of valid).
  write_ces(dir / "Zulu-NT.xml", {{"GEN.1.1", "Ekuqaleni."}, {"MAT.1.1", "Incwadi."},
                                  {"MAR.1.1", "Ukuqala kwevangeli."}, {"MAR.1.2", "Njengoba kulotshiwe."},
                                  {"JOH.11.35", "UJesu wakhala."}, {"JOH.11.36", ""}});
  write_ces(dir / "Latvian-NT.xml", {{"GEN.1.1", "Iesākumā."}, {"GEN.1.2", "Zeme bija tukša."},
                                     {"MAR.1.1", "Evaņģēlija sākums."}, {"JOH.11.35", "Jēzus raudāja."},
                                     {"JOH.11.36", "Tad jūdi sacīja."}});
  const bool with_tokenizer = !Tokenizer::library_path().empty();
  const fs::path out = dir / "out";
  const auto options = BibleCorpusOptions(out.string())
                           .diatheke(script.string())
                           .vocab_size(with_tokenizer ? 90 : 0)
                           .ces_files({(dir / "Latvian-NT.xml").string(),
                                       (dir / "Zulu-NT.xml").string()});
  const BibleCorpusReport report = build_bible_corpus(options);
  EXPECT_EQ(report.aligned, 6);  // the Spanish pair as before
  EXPECT_EQ(report.directions,
            (std::vector<std::string>{"es-en", "en-es", "lv-en", "en-lv", "zu-en", "en-zu"}));
  ASSERT_EQ(report.languages.size(), 2u);
  const LanguageReport& lv = report.languages[0];
  const LanguageReport& zu = report.languages[1];
  EXPECT_EQ(zu.code, "zu");
  EXPECT_EQ(zu.file, "Zulu-NT.xml");
  EXPECT_EQ(zu.verses, 6);
  EXPECT_EQ(zu.aligned, 4);
  EXPECT_EQ(zu.alignment.lang_only, 1);
  EXPECT_EQ(zu.alignment.empty, 1);
  EXPECT_EQ(zu.alignment.merged, 1);
  EXPECT_EQ(zu.merged_held_out, 0);
  EXPECT_EQ(lv.merged_held_out, 1);
  EXPECT_EQ(lv.valid.verses, 0);

  EXPECT_EQ(read_lines((out / "train.zu-en.zu").string()), std::vector<std::string>{"Ekuqaleni."});
  EXPECT_EQ(read_lines((out / "train.zu-en.en").string()),
            std::vector<std::string>{"In the beginning, God created. The earth was formless."});
  EXPECT_EQ(read_lines((out / "valid.zu-en.zu").string()),
            (std::vector<std::string>{"Ukuqala kwevangeli.", "Njengoba kulotshiwe."}));
  EXPECT_EQ(read_lines((out / "valid.zu-en.en").string()),
            (std::vector<std::string>{"The beginning of the Good News.", "As it is written."}));
  EXPECT_EQ(read_lines((out / "test.zu-en.en").string()), std::vector<std::string>{"Jesus wept."});
  EXPECT_EQ(read_lines((out / "train.lv-en.lv").string()),
            (std::vector<std::string>{"Iesākumā.", "Zeme bija tukša."}));
  // Every language splits by the same books: none in two splits.
  for (const auto* l : {&lv, &zu}) {
    EXPECT_EQ(l->test.books, std::vector<std::string>{"John"});
    for (const auto& b : l->train.books) EXPECT_TRUE(b != "Mark" && b != "John") << b;
  }

  std::ifstream manifest_file(out / "manifest.json");
  std::stringstream json;
  json << manifest_file.rdbuf();
  const std::string manifest = json.str();
  for (const char* expected : {"\"bible-multilingual\"", "\"train.zu-en.zu\"", "\"zu_only\": 1",
                               "\"merged_held_out\": 1", "\"en-lv\""}) {
    EXPECT_NE(manifest.find(expected), std::string::npos) << expected << "\n" << manifest;
  }
  if (with_tokenizer) {
    const Tokenizer tok((out / "spm.model").string());
    for (const char* lang : {"en", "es", "lv", "zu"}) EXPECT_GE(tok.language_tag_id(lang), 4);
    // Full character coverage: every letter of the training text survives.
    EXPECT_EQ(tok.decode(tok.encode("Zeme bija tukša")), "Zeme bija tukša");
    const auto valid = load_parallel_corpus(tok, out.string(), "valid",
                                            parse_directions("zu-en,en-zu,es-en", "t"), 64);
    ASSERT_EQ(valid.references.size(), 6u);
    EXPECT_EQ(valid.references[0], "The beginning of the Good News.");
    EXPECT_EQ(valid.references[2], "Ukuqala kwevangeli.");
    EXPECT_EQ(valid.pairs[2].src[0], tok.language_tag_id("zu"));
    EXPECT_EQ(valid.references[4], "The beginning of the Good News.");  // es-en: SPLIT.es/.en
  }
}

TEST(DataBibleCorpus, CesLanguageCodesComeFromTheTableOrTheUser) {
  EXPECT_EQ(ces_language_codes({"/a/Zulu-NT.xml", "Ewe-NT.xml"}, {}),
            (std::vector<std::string>{"zu", "ee"}));
  EXPECT_EQ(ces_language_codes({"/a/Klingon-NT.xml", "/a/Zulu-NT.xml"}, {"Klingon-NT.xml=tlh"}),
            (std::vector<std::string>{"tlh", "zu"}));
  auto message = [](const std::vector<std::string>& files, const std::vector<std::string>& langs) {
    try {
      ces_language_codes(files, langs);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({"/a/Klingon-NT.xml"}, {}).find("--ces-lang Klingon-NT.xml=CODE"),
            std::string::npos);
  EXPECT_NE(message({"/a/Zulu-NT.xml"}, {"Zulu-NT.xml"}).find("FILE=code"), std::string::npos);
  EXPECT_NE(message({"/a/Zulu-NT.xml"}, {"Zulu-NT.xml=Zu"}).find("lower-case"), std::string::npos);
  EXPECT_NE(message({"/a/Zulu-NT.xml"}, {"Ewe-NT.xml=ee"}).find("names no CES file"),
            std::string::npos);
  EXPECT_NE(message({"/a/Zulu-NT.xml", "/b/Ewe-NT.xml"}, {"Ewe-NT.xml=zu"}).find("also that of"),
            std::string::npos);
  EXPECT_NE(message({"/a/Zulu-NT.xml"}, {"Zulu-NT.xml=es"}).find("taken"), std::string::npos);
}

TEST(DataBibleCorpus, ABadCesFileFailsNamingIt) {
  const fs::path dir = fs::path(::testing::TempDir()) / "moekit_bible_ces_bad";
  const fs::path script = fake_diatheke(dir);
  std::ofstream(dir / "Zulu-NT.xml") << "<html>not a Bible</html>\n";
  std::ofstream(dir / "Ewe-NT.xml") << "<cesDoc>\xff\xfe</cesDoc>\n";
  write_ces(dir / "Swahili-NT.xml", {{"MAT.1.1", "Kitabu."}});  // no verse English has
  for (const char* name : {"Zulu-NT.xml", "Ewe-NT.xml", "Swahili-NT.xml"}) {
    const std::string file = (dir / name).string();
    try {
      build_bible_corpus(BibleCorpusOptions((dir / "out").string())
                             .diatheke(script.string())
                             .vocab_size(0)
                             .ces_files({file}));
      ADD_FAILURE() << name << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.where().rfind(file, 0), 0u) << e.what();
    }
  }
}

// The command checks --ces before it exports anything.
TEST(DataBibleCorpus, CliRejectsACesFolderWithoutBibles) {
  const fs::path dir = fs::path(::testing::TempDir()) / "moekit_bible_ces_cli";
  fs::remove_all(dir);
  fs::create_directories(dir / "empty");
  std::ofstream(dir / "empty" / "notes.txt") << "no Bible here\n";
  const std::string err = (dir / "err.txt").string();
  for (const std::string& ces : {(dir / "empty").string(), (dir / "missing").string()}) {
    EXPECT_NE(moekit::testing::run_cli("data bible --ces " + ces + " --out " +
                                       (dir / "out").string() + " 2> " + err),
              0);
    std::ifstream in(err);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_NE(text.str().find("--ces: '" + ces + "'"), std::string::npos) << text.str();
  }
  EXPECT_FALSE(fs::exists(dir / "out"));
}

// The six New Testaments of ../shared/data/bible-corpus against the installed
// World English Bible: each aligns almost whole, John 3:16 is a test verse,
// and merged verses are found where the file lacks a verse inside a chapter.
TEST(DataBibleCorpus, SharedNewTestamentsAlignWithTheWorldEnglishBible) {
  const fs::path shared = fs::path(MOEKIT_SOURCE_DIR) / ".." / "shared" / "data" / "bible-corpus";
  if (!fs::exists(shared / "Zulu-NT.xml")) {
    GTEST_SKIP() << shared << " is absent (files from christos-c/bible-corpus, see README)";
  }
  if (std::system("command -v diatheke >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "diatheke is not installed";
  }
  const auto en = parse_diatheke_output(
      export_sword_module("diatheke", "engWEB2015eb", "Matthew 1:1-Revelation 22:21"),
      "engWEB2015eb");
  if (en.empty()) GTEST_SKIP() << "sword-text-web is not installed";
  for (const char* name : {"Ewe-NT.xml", "Kabyle-NT.xml", "Latvian-NT.xml", "Swahili-NT.xml",
                           "Ukranian-NT.xml", "Zulu-NT.xml"}) {
    const auto verses = read_ces_bible((shared / name).string());
    // Independently: verses V whose V+1 is missing while V+2 exists.
    std::set<std::tuple<std::string, int64_t, int64_t>> ids;
    for (const auto& v : verses) ids.insert({v.book, v.chapter, v.verse});
    int64_t gaps = 0;
    for (const auto& v : verses) {
      gaps += !ids.count({v.book, v.chapter, v.verse + 1}) && ids.count({v.book, v.chapter, v.verse + 2});
    }
    AlignmentCounts c;
    const auto pairs = align_verses(verses, en, &c, true);
    EXPECT_GT(pairs.size(), 7800u) << name;
    EXPECT_GE(c.merged, gaps) << name;
    EXPECT_LE(c.merged, gaps + 15) << name;
    const BibleSplit split = split_by_book(pairs, {"Mark"}, {"John"});
    const bool john_3_16 = std::any_of(split.test.begin(), split.test.end(), [](const VersePair& p) {
      return p.chapter == 3 && p.verse == 16 && p.en.rfind("For God so loved the world", 0) == 0;
    });
    EXPECT_TRUE(john_3_16) << name;
    EXPECT_GT(split.valid.size(), 600u) << name;
  }
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
  EXPECT_EQ(pairs[0].lang, "Y lloró Jesús.");
  EXPECT_EQ(pairs[0].en, "Jesus wept.");
  EXPECT_EQ(pairs[1].en, "The Jews therefore said, “See how much affection he had for him!”");
}

}  // namespace
}  // namespace moekit::data
