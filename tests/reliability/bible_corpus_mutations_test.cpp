// Replays mutated diatheke listings (the input of `moekit data bible`): each
// must parse or throw moekit::Error naming the source.
#include <gtest/gtest.h>

#include "moekit/data/bible_corpus.h"
#include "moekit/data/osis_text.h"
#include "testing/mutate.h"

namespace moekit::data {
namespace {

const std::string kListing =
    "<title type=\"x-gen\">Genesis 1</title>Genesis 1:1: <w savlm=\"strong:H0430\">In</w> "
    "<w>the</w> <w>beginning</w>, <w>God</w><w>created</w> the heavens.\n"
    "Genesis 1:2: <w>The</w> earth was <note>a note</note>formless &amp; empty &#x263A;. "
    "<div eID=\"gen25\" type=\"x-p\"/>\na continued line\n"
    "John 3:16: <w>Porque</w> \xc2\xbf<w>Qu\xc3\xa9</w>? s\xc3\xa1" "ca</w><transChange>lo</transChange> "
    "fuera \xe2\x80\x9c<w>no</w>\xe2\x80\x9d.\n"
    "(engWEB2015eb)\n";

std::string read_text(const std::string& path) {
  const auto b = moekit::testing::read_bytes(path);
  return std::string(b.begin(), b.end());
}

TEST(ReliabilityBibleCorpusMutations, ListingMutantsParseOrNameTheSource) {
  const std::string path = ::testing::TempDir() + "moekit_diatheke_listing.txt";
  const moekit::testing::Bytes valid(kListing.begin(), kListing.end());
  moekit::testing::write_bytes(path, valid);
  const auto verses = parse_diatheke_output(read_text(path), path);
  ASSERT_EQ(verses.size(), 3u);
  ASSERT_EQ(verses[0].text, "In the beginning, God created the heavens.");
  moekit::testing::MutateOptions o;
  o.seed = 51;
  o.utf8 = 60;
  const auto mutants = moekit::testing::make_mutants(valid, o);
  ASSERT_GE(mutants.size(), 250u);
  moekit::testing::replay_mutants(mutants, path, [&] {
    const std::string text = read_text(path);
    const auto parsed = parse_diatheke_output(text, path);
    strip_osis(text);
    // align_verses names the side, not a file (build_bible_corpus adds the
    // module); a duplicated reference is the one fault it may report.
    try {
      align_verses(parsed, verses);
    } catch (const Error& e) {
      EXPECT_NE(e.message().find("appears twice"), std::string::npos) << e.what();
    }
  });
}

// Stripping keeps every byte it does not drop with a tag: invalid UTF-8
// passes through (as the code point of each byte), never past the end.
TEST(ReliabilityBibleCorpusMutations, TruncatedUtf8AtTheEndIsNotReadPast) {
  for (const std::string tail : {"\xC3", "\xE2\x80", "\xF0\x9F\x98", "&#x110000;", "&#", "<w"}) {
    const std::string out = strip_osis("word " + tail);
    EXPECT_EQ(out.rfind("word", 0), 0u) << tail;
  }
}

}  // namespace
}  // namespace moekit::data
