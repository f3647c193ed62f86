#include "moekit/train/tokenizer_13a.h"

#include <gtest/gtest.h>

namespace moekit::train {
namespace {

TEST(TrainTokenizer13a, SplitsPunctuationLikeMteval) {
  EXPECT_EQ(tokenize_13a("Hello, world."), "Hello , world .");
  EXPECT_EQ(tokenize_13a("It costs $3.50, ok?"), "It costs $ 3.50 , ok ?");
  EXPECT_EQ(tokenize_13a("1990-2000 well-known"), "1990 - 2000 well-known");
  EXPECT_EQ(tokenize_13a("&quot;Hi&quot; &amp; bye<skipped>"), "\" Hi \" & bye");
  EXPECT_EQ(tokenize_13a("“Jesús” lloró."), "“Jesús” lloró .");
  EXPECT_EQ(tokenize_13a("U.S.A."), "U . S . A .");
  // The passes run one after another, as re.sub does: "3.a" survives the
  // first period rule and falls to the second; "x.," splits into three.
  EXPECT_EQ(tokenize_13a("3.a x.,y"), "3 . a x . , y");
  EXPECT_EQ(tokenize_13a("  a\tb\xC2\xA0"
                         "c  "),
            "a b c");  // Python whitespace, NBSP included
  EXPECT_EQ(tokenize_13a(""), "");
}

TEST(TrainTokenizer13a, PythonSplitAndRstripUsePythonWhitespace) {
  const auto parts = python_split("a\xE3\x80\x80" "b  c\x1C" "d");  // U+3000 and U+001C are spaces
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(parts[1], "b");
  EXPECT_EQ(python_rstrip("x y \xC2\xA0\t"), "x y");
  EXPECT_FALSE(is_python_space(0x200B));  // zero-width space is not whitespace in Python
}

}  // namespace
}  // namespace moekit::train
