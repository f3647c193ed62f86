#include "moekit/data/osis_text.h"

#include <array>
#include <cstdint>

#include "moekit/core/utf8.h"

namespace moekit::data {
namespace {

// Spanish clitic pronouns that RV 1909 marks as added words glued to a verb
// (`sáca</w><transChange>lo</transChange>` = "sácalo").
constexpr std::array<std::string_view, 11> kClitics = {"lo", "la", "los", "las", "le", "les",
                                                       "se", "me", "te",  "nos", "os"};

bool is_space_byte(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

uint32_t last_code_point(const std::string& s) {
  size_t i = s.size();
  while (i > 0 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) --i;
  if (i == 0) return 0;
  size_t len = 0;
  return decode_utf8_at(s, i - 1, &len);
}

void append_utf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_dash(uint32_t c) { return c == '-' || c == 0x2010 || c == 0x2013 || c == 0x2014; }
bool is_straight_quote(uint32_t c) { return c == '"' || c == '\''; }
bool is_opening(uint32_t c) {
  return c == '(' || c == '[' || c == '{' || c == 0x201C || c == 0x2018 || c == 0xAB || c == 0xBF ||
         c == 0xA1 || c == 0x201E;
}
bool is_closing(uint32_t c) {
  return c == ',' || c == '.' || c == ';' || c == ':' || c == '!' || c == '?' || c == ')' ||
         c == ']' || c == '}' || c == 0x201D || c == 0x2019 || c == 0xBB || c == 0x2026;
}

// A tag between `prev` and `next` with no whitespace around it separates two
// words unless punctuation already marks the boundary.
bool tag_separates(uint32_t prev, uint32_t next) {
  if (prev == 0) return false;
  if (is_closing(next) || is_opening(prev)) return false;
  if (is_dash(prev) || is_dash(next)) return false;
  if (is_straight_quote(prev) || is_straight_quote(next)) return false;
  return true;
}

bool is_word_char(uint32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  return c >= 0xC0 && !(c >= 0x2000 && c <= 0x206F);
}

struct Tag {
  std::string_view name;
  std::string_view text;  // the whole tag, '<' to '>'

  bool closing = false;       // </name>
  bool self_closing = false;  // <name .../>
  size_t end = 0;             // index one past '>'
};

// Parses the tag starting at s[i] == '<'; an unterminated '<' is text.
bool parse_tag(std::string_view s, size_t i, Tag* tag) {
  const size_t close = s.find('>', i);
  if (close == std::string_view::npos) return false;
  size_t p = i + 1;
  tag->closing = p < close && s[p] == '/';
  if (tag->closing) ++p;
  size_t q = p;
  while (q < close && !is_space_byte(s[q]) && s[q] != '/') ++q;
  tag->name = s.substr(p, q - p);
  tag->self_closing = close > i + 1 && s[close - 1] == '/';
  tag->end = close + 1;
  tag->text = s.substr(i, tag->end - i);
  return !tag->name.empty();
}

// Decodes an entity at s[i] == '&'; returns 0 when there is none.
uint32_t decode_entity(std::string_view s, size_t i, size_t* len) {
  static const std::pair<std::string_view, uint32_t> kNamed[] = {
      {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
  for (const auto& [name, cp] : kNamed) {
    if (s.substr(i, name.size()) == name) {
      *len = name.size();
      return cp;
    }
  }
  if (s.substr(i, 2) == "&#") {
    const size_t semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) return 0;
    const bool hex = i + 2 < semi && (s[i + 2] == 'x' || s[i + 2] == 'X');
    uint32_t cp = 0;
    for (size_t k = i + (hex ? 3 : 2); k < semi; ++k) {
      const char c = s[k];
      int digit = c >= '0' && c <= '9'          ? c - '0'
                  : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                : -1;
      if (digit < 0) return 0;
      cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(digit);
    }
    if (cp == 0 || cp > 0x10FFFF) return 0;
    *len = semi + 1 - i;
    return cp;
  }
  return 0;
}

class Stripper {
 public:
  explicit Stripper(std::string_view s) : s_(s) {}

  std::string run() {
    size_t i = 0;
    while (i < s_.size()) {
      const char c = s_[i];
      Tag tag;
      if (c == '<' && parse_tag(s_, i, &tag)) {
        i = handle_tag(tag);
      } else if (skip_depth_ > 0) {
        ++i;
      } else if (is_space_byte(c)) {
        space_ = true;
        ++i;
      } else {
        size_t len = 0;
        uint32_t cp = c == '&' ? decode_entity(s_, i, &len) : 0;
        if (cp == 0) cp = decode_utf8_at(s_, i, &len);
        if (cp == 0xA0) {
          space_ = true;
        } else {
          emit(cp);
        }
        i += len;
      }
    }
    return std::move(out_);
  }

 private:
  size_t handle_tag(const Tag& tag) {
    const bool skipped = tag.name == "title" || tag.name == "note";
    if (skipped && !tag.self_closing) {
      skip_depth_ += tag.closing ? (skip_depth_ > 0 ? -1 : 0) : 1;
      tag_gap_ = true;
      return tag.end;
    }
    // WEB appends its glossary to the last verse of Revelation, between
    // milestone divs: <div sID="…" type="glossary"/> … <div eID="…" …/>.
    if (tag.name == "div" && tag.self_closing &&
        (tag.text.find("type=\"glossary\"") != std::string_view::npos ||
         tag.text.find("type=\"introduction\"") != std::string_view::npos)) {
      if (tag.text.find(" sID=") != std::string_view::npos) ++skip_depth_;
      if (tag.text.find(" eID=") != std::string_view::npos && skip_depth_ > 0) --skip_depth_;
    }
    if (skip_depth_ == 0 && tag.name == "transChange" && !tag.closing && !tag.self_closing) {
      if (const size_t next = glue_clitic(tag.end); next != 0) return next;
    }
    tag_gap_ = true;
    return tag.end;
  }

  // `word</w><transChange …>lo</transChange>` followed by whitespace or
  // punctuation: appends the clitic to the word and returns the index past
  // the closing tag; 0 when this transChange is not such a clitic.
  size_t glue_clitic(size_t content_begin) {
    static constexpr std::string_view kEnd = "</transChange>";
    const size_t content_end = s_.find(kEnd, content_begin);
    if (content_end == std::string_view::npos || space_ || out_.empty()) return 0;
    const std::string_view content = s_.substr(content_begin, content_end - content_begin);
    bool clitic = false;
    for (std::string_view k : kClitics) clitic = clitic || content == k;
    if (!clitic || !is_word_char(last_code_point(out_))) return 0;
    size_t j = content_end + kEnd.size();
    Tag tag;
    while (j < s_.size() && s_[j] == '<' && parse_tag(s_, j, &tag)) j = tag.end;
    if (j < s_.size()) {
      size_t len = 0;
      if (is_word_char(decode_utf8_at(s_, j, &len))) return 0;  // a word of its own: `que<…>la<…>tengan`
    }
    out_.append(content);
    tag_gap_ = true;
    return content_end + kEnd.size();
  }

  void emit(uint32_t cp) {
    if (!out_.empty()) {
      if (space_ || (tag_gap_ && tag_separates(last_code_point(out_), cp))) out_.push_back(' ');
    }
    space_ = false;
    tag_gap_ = false;
    append_utf8(&out_, cp);
  }

  std::string_view s_;
  std::string out_;
  int skip_depth_ = 0;
  bool space_ = false;    // whitespace since the last character written
  bool tag_gap_ = false;  // a tag since the last character written
};

}  // namespace

std::string strip_osis(std::string_view marked_up) { return Stripper(marked_up).run(); }

std::string normalize_whitespace(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool nbsp = text.substr(i, 2) == "\xC2\xA0";
    if (is_space_byte(text[i]) || nbsp) {
      space = true;
      if (nbsp) ++i;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(text[i]);
  }
  return out;
}

}  // namespace moekit::data
