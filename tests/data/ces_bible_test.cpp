#include "moekit/data/ces_bible.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "moekit/core/error.h"

namespace moekit::data {
namespace {

const std::string kHeader = "<?xml version=\"1.0\" ?>\n<cesDoc version=\"4\">\n<text><body>\n";

TEST(DataCesBible, ParsesVersesWithEntitiesAndWhitespace) {
  const std::string xml = kHeader +
                          "<div id=\"b.MAT\" type=\"book\"><div id=\"b.MAT.1\" type=\"chapter\">\n"
                          "  <seg id=\"b.MAT.1.1\" type=\"verse\">\n\t  Oku &quot;kuqala&quot; &amp; "
                          "\xc4\x81   \n</seg>\n"
                          "  <seg id=\"b.MAT.1.2\" type=\"verse\">  </seg>\n"
                          "</div></div><div id=\"b.1JO\" type=\"book\">"
                          "<seg id=\"b.1JO.5.21\" type=\"verse\">Bantwana</seg></div>"
                          "</body></text></cesDoc>\n";
  const auto verses = parse_ces_bible(xml, "t.xml");
  ASSERT_EQ(verses.size(), 3u);
  EXPECT_EQ(verses[0].book, "Matthew");
  EXPECT_EQ(verses[0].chapter, 1);
  EXPECT_EQ(verses[0].verse, 1);
  EXPECT_EQ(verses[0].text, "Oku \"kuqala\" & \xc4\x81");
  EXPECT_EQ(verses[1].text, "");  // kept; the alignment drops it
  EXPECT_EQ(verses[2].book, "I John");
  EXPECT_EQ(verses[2].chapter, 5);
  EXPECT_EQ(verses[2].verse, 21);
}

TEST(DataCesBible, BadInputNamesTheFileAndWhat) {
  auto message = [](const std::string& xml) {
    try {
      parse_ces_bible(xml, "bad.xml");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("<html>hello</html>").find("no <cesDoc>"), std::string::npos);
  EXPECT_NE(message(kHeader + "</cesDoc>").find("no <seg"), std::string::npos);
  EXPECT_NE(message(kHeader + "\xff\xfe</cesDoc>").find("not UTF-8 (byte offset"),
            std::string::npos);
  EXPECT_NE(message(kHeader + "<seg id=\"b.XYZ.1.1\" type=\"verse\">a</seg>").find("unknown book 'XYZ'"),
            std::string::npos);
  EXPECT_NE(message(kHeader + "<seg id=\"b.MAT.1\" type=\"verse\">a</seg>").find("b.BOOK.CHAPTER.VERSE"),
            std::string::npos);
  EXPECT_NE(message(kHeader + "<seg id=\"b.MAT.1.1\" type=\"verse\">a").find("without </seg>"),
            std::string::npos);
  EXPECT_NE(message(kHeader).find("bad.xml"), std::string::npos);
  EXPECT_THROW(read_ces_bible("/nonexistent/Zulu-NT.xml"), Error);
}

TEST(DataCesBible, LanguageCodesFromFileNames) {
  EXPECT_EQ(ces_language_code("Zulu-NT.xml"), "zu");
  EXPECT_EQ(ces_language_code("/x/y/Ukranian-NT.xml"), "uk");  // the corpus' spelling
  EXPECT_EQ(ces_language_code("Kabyle-NT.xml"), "kab");
  EXPECT_EQ(ces_language_code("Swahili-NT.xml"), "sw");
  EXPECT_EQ(ces_language_code("Ewe-NT.xml"), "ee");
  EXPECT_EQ(ces_language_code("Klingon-NT.xml"), "");
}

TEST(DataCesBible, BookIdsOfBothTestamentsMapToTheWebNames) {
  // The names are the ones diatheke prints for the WEB (checked against it).
  EXPECT_EQ(ces_book_name("GEN"), "Genesis");
  EXPECT_EQ(ces_book_name("SON"), "Song of Solomon");
  EXPECT_EQ(ces_book_name("SNG"), "Song of Solomon");
  EXPECT_EQ(ces_book_name("1SA"), "I Samuel");
  EXPECT_EQ(ces_book_name("PSA"), "Psalms");
  EXPECT_EQ(ces_book_name("MAL"), "Malachi");
  EXPECT_EQ(ces_book_name("MAR"), "Mark");
  EXPECT_EQ(ces_book_name("3JO"), "III John");
  EXPECT_EQ(ces_book_name("REV"), "Revelation of John");
  EXPECT_EQ(ces_book_name("gen"), "");
}

// The six New Testaments in ../shared/data/bible-corpus (CC0).
TEST(DataCesBible, ReadsTheSharedNewTestaments) {
  const std::filesystem::path dir = std::filesystem::path(MOEKIT_SOURCE_DIR) / ".." / "shared" /
                                    "data" / "bible-corpus";
  if (!std::filesystem::exists(dir / "Zulu-NT.xml")) {
    GTEST_SKIP() << dir << " is absent (files from christos-c/bible-corpus, see README)";
  }
  const std::map<std::string, size_t> expected{{"Ewe-NT.xml", 7943},     {"Kabyle-NT.xml", 7935},
                                               {"Latvian-NT.xml", 7949}, {"Swahili-NT.xml", 7853},
                                               {"Ukranian-NT.xml", 7955}, {"Zulu-NT.xml", 7975}};
  for (const auto& [file, count] : expected) {
    const auto verses = read_ces_bible((dir / file).string());
    EXPECT_EQ(verses.size(), count) << file;
    EXPECT_FALSE(ces_language_code(file).empty()) << file;
    std::set<std::string> books;
    for (const auto& v : verses) books.insert(v.book);
    EXPECT_GE(books.size(), 26u) << file;
    EXPECT_TRUE(books.count("Mark") && books.count("John")) << file;  // valid and test books
    EXPECT_EQ(verses.front().book, "Matthew") << file;
  }
}

}  // namespace
}  // namespace moekit::data
