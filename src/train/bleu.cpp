#include "moekit/train/bleu.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "moekit/core/error.h"
#include "moekit/core/utf8.h"

namespace moekit::train {
namespace {

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

// sacreBLEU's my_log: log(0) is a large finite negative, so exp() gives 0.
double my_log(double x) { return x == 0.0 ? -9999999999.0 : std::log(x); }

using NgramCounts = std::unordered_map<std::string_view, int64_t>;

// n-grams of orders 1..4 as views into the line `tokens` split, which must
// be single-space separated so that a view spans exactly n tokens.
NgramCounts count_ngrams(const std::vector<std::string_view>& tokens) {
  NgramCounts counts;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const char* begin = tokens[i].data();
    for (size_t n = 1; n <= static_cast<size_t>(kBleuMaxOrder) && i + n <= tokens.size(); ++n) {
      const std::string_view& last = tokens[i + n - 1];
      ++counts[std::string_view(begin, static_cast<size_t>(last.data() + last.size() - begin))];
    }
  }
  return counts;
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

int64_t ngram_order(std::string_view ngram) {
  int64_t n = 1;
  for (char c : ngram) n += c == ' ';
  return n;
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

BleuStats& BleuStats::operator+=(const BleuStats& other) {
  sys_len += other.sys_len;
  ref_len += other.ref_len;
  for (int n = 0; n < kBleuMaxOrder; ++n) {
    correct[n] += other.correct[n];
    total[n] += other.total[n];
  }
  return *this;
}

BleuStats sentence_stats(std::string_view hyp_tokens, std::string_view ref_tokens) {
  const auto hyp = python_split(hyp_tokens);
  const auto ref = python_split(ref_tokens);
  BleuStats stats;
  stats.sys_len = static_cast<int64_t>(hyp.size());
  stats.ref_len = static_cast<int64_t>(ref.size());
  // Re-join so that an n-gram is a contiguous single-spaced view.
  std::string hyp_line, ref_line;
  for (auto t : hyp) hyp_line.append(hyp_line.empty() ? "" : " ").append(t);
  for (auto t : ref) ref_line.append(ref_line.empty() ? "" : " ").append(t);
  const auto hyp_counts = count_ngrams(python_split(hyp_line));
  const auto ref_counts = count_ngrams(python_split(ref_line));
  for (const auto& [ngram, count] : hyp_counts) {
    const int64_t n = ngram_order(ngram);
    const auto it = ref_counts.find(ngram);
    if (it != ref_counts.end()) stats.correct[n - 1] += std::min(count, it->second);
  }
  for (int64_t n = 1; n <= kBleuMaxOrder; ++n) {
    stats.total[n - 1] = std::max<int64_t>(0, stats.sys_len - n + 1);
  }
  return stats;
}

BleuScore compute_bleu(const BleuStats& stats, BleuSmooth smooth) {
  BleuScore s;
  s.stats = stats;
  s.smooth = smooth;
  const auto sys_len = static_cast<double>(stats.sys_len);
  const auto ref_len = static_cast<double>(stats.ref_len);
  if (stats.sys_len < stats.ref_len) {
    s.bp = stats.sys_len > 0 ? std::exp(1.0 - ref_len / sys_len) : 0.0;
  } else {
    s.bp = 1.0;
  }
  s.ratio = stats.ref_len != 0 ? sys_len / ref_len : 0.0;
  bool any_match = false;
  for (int64_t c : stats.correct) any_match = any_match || c != 0;
  if (!any_match) return s;  // sacreBLEU's early stop: score 0, precisions 0

  double smooth_mteval = 1.0;
  for (int n = 0; n < kBleuMaxOrder; ++n) {
    if (stats.total[n] == 0) break;
    if (stats.correct[n] == 0) {
      if (smooth == BleuSmooth::kExp) {
        smooth_mteval *= 2;
        s.precisions[n] = 100.0 / (smooth_mteval * static_cast<double>(stats.total[n]));
      }
    } else {
      s.precisions[n] =
          100.0 * static_cast<double>(stats.correct[n]) / static_cast<double>(stats.total[n]);
    }
  }
  double log_sum = 0.0;
  for (double p : s.precisions) log_sum += my_log(p);
  s.score = s.bp * std::exp(log_sum / kBleuMaxOrder);
  return s;
}

BleuScore corpus_bleu(const std::vector<std::string>& hyps, const std::vector<std::string>& refs,
                      BleuSmooth smooth) {
  MOEKIT_CHECK(hyps.size() == refs.size(), "bleu",
               "the hypothesis has {} lines but the reference has {}", hyps.size(), refs.size());
  BleuStats total;
  for (size_t i = 0; i < hyps.size(); ++i) {
    total +=
        sentence_stats(tokenize_13a(python_rstrip(hyps[i])), tokenize_13a(python_rstrip(refs[i])));
  }
  return compute_bleu(total, smooth);
}

std::string BleuScore::format() const {
  return fmt::format(
      "BLEU = {:.2f} {:.1f}/{:.1f}/{:.1f}/{:.1f} (BP = {:.3f} ratio = {:.3f} "
      "hyp_len = {} ref_len = {})",
      score, precisions[0], precisions[1], precisions[2], precisions[3], bp, ratio, stats.sys_len,
      stats.ref_len);
}

std::string BleuScore::signature() const {
  return fmt::format("nrefs:1|case:mixed|eff:no|tok:13a|smooth:{}|version:moekit-0.1.0",
                     smooth == BleuSmooth::kExp ? "exp" : "none");
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  MOEKIT_CHECK(in.good(), path, "cannot open for reading");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  MOEKIT_CHECK(in.eof(), path, "read failed after line {}", lines.size());
  return lines;
}

}  // namespace moekit::train
