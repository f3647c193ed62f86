#include "moekit/core/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace moekit {
namespace {

TEST(CoreUtf8, DecodesOneToFourByteSequences) {
  const std::string s = "a\xC3\xB1\xE2\x80\x9C\xF0\x9F\x98\x80";  // a ñ “ 😀
  size_t len = 0;
  EXPECT_EQ(decode_utf8_at(s, 0, &len), 0x61u);
  EXPECT_EQ(len, 1u);
  EXPECT_EQ(decode_utf8_at(s, 1, &len), 0xF1u);
  EXPECT_EQ(len, 2u);
  EXPECT_EQ(decode_utf8_at(s, 3, &len), 0x201Cu);
  EXPECT_EQ(len, 3u);
  EXPECT_EQ(decode_utf8_at(s, 6, &len), 0x1F600u);
  EXPECT_EQ(len, 4u);
}

TEST(CoreUtf8, MalformedAndTruncatedBytesStandForThemselves) {
  size_t len = 0;
  EXPECT_EQ(decode_utf8_at("\xFF", 0, &len), 0xFFu);
  EXPECT_EQ(len, 1u);
  EXPECT_EQ(decode_utf8_at("\xE2\x80", 0, &len), 0xE2u);  // cut short
  EXPECT_EQ(len, 1u);
}

}  // namespace
}  // namespace moekit
