// sacreBLEU's default tokenizer, 13a (sacrebleu/tokenizers/tokenizer_13a.py,
// after mteval-v13a.pl), and the Python string splitting it and BLEU rely on.
#include "moekit/train/tokenizer_13a.h"

#include <string>

#include "moekit/core/utf8.h"

namespace moekit::train {

// Python's str.isspace(), which str.split() splits on.
bool is_python_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// ' '.join(s.split()) as Python computes it.
std::vector<std::string_view> python_split(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0, start = std::string_view::npos;
  while (i < s.size()) {
    size_t len = 0;
    const bool space = is_python_space(decode_utf8_at(s, i, &len));
    if (space && start != std::string_view::npos) {
      out.push_back(s.substr(start, i - start));
      start = std::string_view::npos;
    } else if (!space && start == std::string_view::npos) {
      start = i;
    }
    i += len;
  }
  if (start != std::string_view::npos) out.push_back(s.substr(start));
  return out;
}

// BLEU's preprocessing strips trailing whitespace before tokenising.
std::string_view python_rstrip(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    size_t len = 0;
    if (!is_python_space(decode_utf8_at(s, start, &len))) break;
    end = start;
  }
  return s.substr(0, end);
}

namespace {

void replace_all(std::string* s, std::string_view from, std::string_view to) {
  std::string out;
  size_t pos = 0;
  for (size_t hit; (hit = s->find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(*s, pos, hit - pos).append(to);
  }
  out.append(*s, pos, std::string::npos);
  *s = std::move(out);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_period_or_comma(char c) { return c == '.' || c == ','; }

// Regex 1 of tokenizer_13a, r'([\{-\~\[-\` -\&\(-\+\:-\@\/])' -> r' \1 '.
bool is_split_symbol(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u >= 0x7B && u <= 0x7E) || (u >= 0x5B && u <= 0x60) || (u >= 0x20 && u <= 0x26) ||
         (u >= 0x28 && u <= 0x2B) || (u >= 0x3A && u <= 0x40) || u == '/';
}

// The regexes below are applied byte by byte as re.sub does per code point:
// every class a match must start with is ASCII, so a match never starts
// inside a multi-byte character and the output bytes are the same.
std::string split_symbols(const std::string& s) {
  std::string out;
  out.reserve(s.size() * 2);
  for (char c : s) {
    if (is_split_symbol(c)) {
      out.push_back(' ');
      out.push_back(c);
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// r'([^0-9])([\.,])' -> r'\1 \2 '
std::string split_period_comma_after_non_digit(const std::string& s) {
  std::string out;
  out.reserve(s.size() * 2);
  size_t i = 0;
  while (i < s.size()) {
    if (i + 1 < s.size() && !is_digit(s[i]) && is_period_or_comma(s[i + 1])) {
      out.push_back(s[i]);
      out.push_back(' ');
      out.push_back(s[i + 1]);
      out.push_back(' ');
      i += 2;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

// r'([\.,])([^0-9])' -> r' \1 \2'
std::string split_period_comma_before_non_digit(const std::string& s) {
  std::string out;
  out.reserve(s.size() * 2);
  size_t i = 0;
  while (i < s.size()) {
    if (i + 1 < s.size() && is_period_or_comma(s[i]) && !is_digit(s[i + 1])) {
      out.push_back(' ');
      out.push_back(s[i]);
      out.push_back(' ');
      out.push_back(s[i + 1]);
      i += 2;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

// r'([0-9])(-)' -> r'\1 \2 '
std::string split_dash_after_digit(const std::string& s) {
  std::string out;
  out.reserve(s.size() * 2);
  size_t i = 0;
  while (i < s.size()) {
    if (i + 1 < s.size() && is_digit(s[i]) && s[i + 1] == '-') {
      out.push_back(s[i]);
      out.append(" - ");
      i += 2;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

}  // namespace

std::string tokenize_13a(std::string_view line) {
  std::string s(line);
  replace_all(&s, "<skipped>", "");
  replace_all(&s, "-\n", "");
  replace_all(&s, "\n", " ");
  replace_all(&s, "&quot;", "\"");
  replace_all(&s, "&amp;", "&");
  replace_all(&s, "&lt;", "<");
  replace_all(&s, "&gt;", ">");
  s = " " + s + " ";
  s = split_symbols(s);
  s = split_period_comma_after_non_digit(s);
  s = split_period_comma_before_non_digit(s);
  s = split_dash_after_digit(s);
  std::string out;
  for (std::string_view token : python_split(s)) {
    if (!out.empty()) out.push_back(' ');
    out.append(token);
  }
  return out;
}

}  // namespace moekit::train
