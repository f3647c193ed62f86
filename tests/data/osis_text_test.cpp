#include "moekit/data/osis_text.h"

#include <gtest/gtest.h>

namespace moekit::data {
namespace {

TEST(DataOsisText, PutsASpaceWhereATagSatBetweenTwoWords) {
  // WEB Genesis 1:1, as diatheke prints it.
  EXPECT_EQ(strip_osis(R"(<w savlm="strong:H0430">God</w><w savlm="strong:H1254">created</w> )"
                       R"(<w savlm="strong:H0853">the</w> heavens.)"),
            "God created the heavens.");
}

TEST(DataOsisText, KeepsPunctuationAgainstItsWord) {
  EXPECT_EQ(strip_osis(R"(<w savlm="a">said</w>, “<w savlm="b">See</w> <w savlm="c">how</w>!”)"),
            "said, “See how!”");
  EXPECT_EQ(strip_osis(R"(<w s="x">Dijeron</w>: ¿<w s="y">Qué</w>?)"), "Dijeron: ¿Qué?");
  EXPECT_EQ(strip_osis(R"(<w s="x">after this</w>—<w s="y">after</w>)"), "after this—after");
}

TEST(DataOsisText, SeparatesAClosedQuoteFromTheNextWord) {
  EXPECT_EQ(strip_osis(R"(<q marker="">“<w s="1">Yes</w>.”</q><w s="2">His</w> mother)"),
            "“Yes.” His mother");
}

TEST(DataOsisText, GluesASpanishCliticButNotAFreeStandingWord) {
  EXPECT_EQ(strip_osis(R"(<w s="1">sáca</w><transChange type="added">lo</transChange> )"
                       R"(<w s="2">de</w>)"),
            "sácalo de");
  EXPECT_EQ(strip_osis(R"(<w s="1">que</w><transChange type="added">la</transChange>)"
                       R"(<w s="2">tengan</w>)"),
            "que la tengan");
  EXPECT_EQ(strip_osis(R"(<w s="1">misericordia</w><transChange type="added">es</transChange>)"
                       R"(<w s="2">para siempre</w>)"),
            "misericordia es para siempre");
}

TEST(DataOsisText, DropsHeadingsFootnotesAndTheGlossary) {
  EXPECT_EQ(strip_osis(R"(<title type="psalm">A Psalm by David.</title> <lg/><l level="1"/>)"
                       R"(Yahweh, how<note n="a">Or, why</note> my foes!<l eID="x"/>)"),
            "Yahweh, how my foes!");
  EXPECT_EQ(strip_osis(R"(saints. Amen. <div sID="g1" type="glossary"/> <div sID="g2" )"
                       R"(type="introduction"/>Abba is a word.<div eID="g2" type="introduction"/>)"
                       R"( <div eID="g1" type="glossary"/>)"),
            "saints. Amen.");
}

TEST(DataOsisText, NormalisesWhitespaceAndDecodesEntities) {
  EXPECT_EQ(strip_osis("  a\t\tb <lb/>\n c &amp; d&#233;  "), "a b c & dé");
  EXPECT_EQ(normalize_whitespace("  x \n\t y\xC2\xA0z "), "x y z");
}

TEST(DataOsisText, LineBreakTagBetweenWordsSeparatesThem) {
  EXPECT_EQ(strip_osis(R"(my soul,<l eID="a"/><l sID="b"/>Many are)"), "my soul, Many are");
  EXPECT_EQ(strip_osis(R"(increased<l eID="a"/><l sID="b"/>Many)"), "increased Many");
}

}  // namespace
}  // namespace moekit::data
