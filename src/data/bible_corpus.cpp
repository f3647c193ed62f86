#include "moekit/data/bible_corpus.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <unordered_map>

#include "moekit/core/checkpoint.h"
#include "moekit/core/error.h"
#include "moekit/core/parse.h"
#include "moekit/data/ces_bible.h"
#include "moekit/data/osis_text.h"
#include "moekit/data/tokenizer.h"

namespace moekit::data {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Skips the heading markup diatheke prints before a verse's reference
// (titles with their text, milestones); returns the index of the reference.
size_t skip_preverse_markup(const std::string& line) {
  size_t i = 0;
  while (i < line.size()) {
    if (line[i] == ' ' || line[i] == '\t') {
      ++i;
    } else if (line[i] == '<') {
      const size_t end = line.find('>', i);
      if (end == std::string::npos) return i;
      const bool opens_title =
          line.compare(i, 7, "<title ") == 0 || line.compare(i, 7, "<title>") == 0;
      if (opens_title && line[end - 1] != '/') {
        const size_t close = line.find("</title>", end);
        if (close == std::string::npos) return i;
        i = close + 8;
      } else {
        i = end + 1;
      }
    } else {
      break;
    }
  }
  return i;
}

std::string verse_key(const std::string& book, int64_t chapter, int64_t verse) {
  return fmt::format("{}\t{}\t{}", book, chapter, verse);
}

int64_t count_words(const std::string& text) {
  int64_t n = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = c == ' ';
    if (!space && !in_word) ++n;
    in_word = !space;
  }
  return n;
}

}  // namespace

std::string export_sword_module(const std::string& diatheke, const std::string& module,
                                const std::string& keys) {
  for (const auto* arg : {&diatheke, &module, &keys}) {
    MOEKIT_CHECK(arg->find('\'') == std::string::npos, diatheke, "argument '{}' contains a quote",
                 *arg);
  }
  // LC_ALL=C: diatheke names books in the locale's language; keys and the
  // split's book names are English.
  const std::string command =
      fmt::format("LC_ALL=C LANG=C '{}' -b '{}' -k '{}'", diatheke, module, keys);
  FILE* pipe = popen(command.c_str(), "r");
  MOEKIT_CHECK(pipe != nullptr, diatheke, "cannot run '{}'", command);
  std::string out;
  char buf[1 << 16];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  const int status = pclose(pipe);
  MOEKIT_CHECK(status == 0, diatheke, "'{}' failed with status {} (is diatheke installed?)",
               command, status);
  return out;
}

namespace {

std::string package_hint(const std::string& module) {
  if (module == "spaRV1909eb") return " (Debian package sword-text-sparv)";
  if (module == "engWEB2015eb") return " (Debian package sword-text-web)";
  return "";
}

SplitCounts count_split(const std::vector<VersePair>& pairs) {
  SplitCounts counts;
  for (const auto& p : pairs) {
    if (counts.books.empty() || counts.books.back() != p.book) counts.books.push_back(p.book);
    ++counts.verses;
    counts.lang_words += count_words(p.lang);
    counts.en_words += count_words(p.en);
  }
  return counts;
}

nlohmann::json to_json(const SplitCounts& c, const std::string& stem, const std::string& lang) {
  return {{"files", {stem + "." + lang, stem + ".en"}},
          {"verses", c.verses},
          {lang + "_words", c.lang_words},
          {"en_words", c.en_words},
          {"books", c.books}};
}

}  // namespace

std::vector<Verse> parse_diatheke_output(const std::string& text, const std::string& where) {
  static const std::regex kReference(R"(^([^<>:]{1,60}?) (\d{1,3}):(\d{1,3}):(?: |$))");
  std::vector<std::string> lines;
  {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(line);
    }
  }
  // The last non-blank line names the module: "(spaRV1909eb)".
  size_t end = lines.size();
  while (end > 0 && lines[end - 1].find_first_not_of(" \t") == std::string::npos) --end;
  if (end > 0 && lines[end - 1].front() == '(' && lines[end - 1].back() == ')') --end;

  std::vector<Verse> verses;
  std::vector<std::string> raw;
  for (size_t n = 0; n < end; ++n) {
    const std::string& line = lines[n];
    const size_t start = skip_preverse_markup(line);
    std::smatch m;
    const std::string rest = line.substr(start);
    if (std::regex_search(rest, m, kReference)) {
      Verse v;
      v.book = m[1].str();
      v.chapter = parse_value<int64_t>(m[2].str(), fmt::format("{}: line {}", where, n + 1));
      v.verse = parse_value<int64_t>(m[3].str(), fmt::format("{}: line {}", where, n + 1));
      verses.push_back(std::move(v));
      raw.push_back(m.suffix().str());
    } else if (!verses.empty()) {
      raw.back() += "\n" + line;  // a verse that spans lines
    } else {
      MOEKIT_CHECK(strip_osis(line).empty(), where,
                   "line {}: expected 'BOOK CHAPTER:VERSE: text', got '{}'", n + 1,
                   line.substr(0, 80));
    }
  }
  for (size_t i = 0; i < verses.size(); ++i) verses[i].text = strip_osis(raw[i]);
  return verses;
}

std::vector<VersePair> align_verses(const std::vector<Verse>& lang, const std::vector<Verse>& en,
                                    AlignmentCounts* counts, bool join_merged) {
  std::unordered_map<std::string, size_t> en_index;
  for (size_t i = 0; i < en.size(); ++i) {
    const auto& v = en[i];
    MOEKIT_CHECK(en_index.emplace(verse_key(v.book, v.chapter, v.verse), i).second, "en",
                 "{} {}:{} appears twice", v.book, v.chapter, v.verse);
  }
  std::set<std::string> lang_keys;
  for (const auto& v : lang) {
    MOEKIT_CHECK(lang_keys.insert(verse_key(v.book, v.chapter, v.verse)).second, "lang",
                 "{} {}:{} appears twice", v.book, v.chapter, v.verse);
  }
  AlignmentCounts c;
  std::vector<VersePair> pairs;
  int64_t matched = 0;
  for (const auto& v : lang) {
    const auto it = en_index.find(verse_key(v.book, v.chapter, v.verse));
    if (it == en_index.end()) {
      ++c.lang_only;
      continue;
    }
    ++matched;
    VersePair pair{v.book, v.chapter, v.verse, v.text, en[it->second].text};
    const std::string next = verse_key(v.book, v.chapter, v.verse + 1);
    if (join_merged && lang_keys.count(next) == 0) {
      if (const auto n = en_index.find(next); n != en_index.end()) {
        const std::string& more = en[n->second].text;
        pair.en += (pair.en.empty() || more.empty() ? "" : " ") + more;
        pair.merged = true;
      }
    }
    if (pair.lang.empty() || pair.en.empty()) {
      ++c.empty;
      continue;
    }
    c.merged += pair.merged ? 1 : 0;
    pairs.push_back(std::move(pair));
  }
  c.en_only = static_cast<int64_t>(en.size()) - matched;
  if (counts != nullptr) *counts = c;
  return pairs;
}

BibleSplit split_by_book(const std::vector<VersePair>& pairs,
                         const std::vector<std::string>& valid_books,
                         const std::vector<std::string>& test_books) {
  const std::set<std::string> valid(valid_books.begin(), valid_books.end());
  const std::set<std::string> test(test_books.begin(), test_books.end());
  for (const auto& b : valid) {
    MOEKIT_CHECK(test.count(b) == 0, "test_books", "'{}' is also a validation book", b);
  }
  std::set<std::string> present;
  for (const auto& p : pairs) present.insert(p.book);
  for (const auto* books : {&valid_books, &test_books}) {
    for (const auto& b : *books) {
      MOEKIT_CHECK(present.count(b) == 1, books == &valid_books ? "valid_books" : "test_books",
                   "no aligned verse of book '{}' (books are named as diatheke prints them, "
                   "e.g. 'Mark', 'I John')",
                   b);
    }
  }
  BibleSplit split;
  for (const auto& p : pairs) {
    const bool held_out = valid.count(p.book) || test.count(p.book);
    if (held_out && p.merged) {
      ++split.merged_held_out;  // its reference would be two verses
      continue;
    }
    auto& dest = valid.count(p.book) ? split.valid : test.count(p.book) ? split.test : split.train;
    dest.push_back(p);
  }
  return split;
}

void BibleCorpusOptions::validate() const {
  MOEKIT_CHECK(!out_dir_.empty(), "out_dir", "must not be empty");
  for (const auto* m : {&es_module_, &en_module_}) {
    const bool ok = !m->empty() && std::all_of(m->begin(), m->end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    });
    MOEKIT_CHECK(ok, m == &es_module_ ? "es_module" : "en_module",
                 "'{}' is not a SWORD module name", *m);
  }
  MOEKIT_CHECK(!valid_books_.empty(), "valid_books", "name at least one book");
  MOEKIT_CHECK(!test_books_.empty(), "test_books", "name at least one book");
  MOEKIT_CHECK(vocab_size_ == 0 || vocab_size_ >= 8, "vocab_size",
               "must be 0 (no tokenizer) or at least 8, got {}", vocab_size_);
  MOEKIT_CHECK(!diatheke_.empty() && diatheke_.find('\'') == std::string::npos, "diatheke",
               "'{}' is not a usable program path", diatheke_);
}

std::array<SplitCounts, 3> write_bible_split(const std::string& out_dir, const BibleSplit& split,
                                             const std::string& lang, const std::string& stem) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  MOEKIT_CHECK(!ec, out_dir, "cannot create directory: {}", ec.message());
  const std::pair<const char*, const std::vector<VersePair>*> parts[] = {
      {"train", &split.train}, {"valid", &split.valid}, {"test", &split.test}};
  for (const auto& [name, pairs] : parts) {
    for (const bool english : {false, true}) {
      const std::string path =
          fmt::format("{}/{}{}.{}", out_dir, name, stem, english ? "en" : lang);
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      MOEKIT_CHECK(out.good(), path, "cannot open for writing");
      for (const auto& p : *pairs) out << (english ? p.en : p.lang) << '\n';
      out.close();
      MOEKIT_CHECK(!out.fail(), path, "write failed");
    }
  }
  return {count_split(split.train), count_split(split.valid), count_split(split.test)};
}

namespace {

// A translation aligned with English and split by the same books, written to
// OUT/SPLIT.CODE-en.{CODE,en}.
LanguageReport add_ces_language(const BibleCorpusOptions& options, const std::string& file,
                                const std::string& code, const std::vector<Verse>& en) {
  LanguageReport r;
  r.code = code;
  r.file = fs::path(file).filename().string();
  const std::vector<Verse> verses = read_ces_bible(file);
  r.verses = static_cast<int64_t>(verses.size());
  std::vector<VersePair> pairs;
  BibleSplit split;
  try {
    pairs = align_verses(verses, en, &r.alignment, /*join_merged=*/true);
    MOEKIT_CHECK(!pairs.empty(), "", "no verse aligns with {} by book, chapter and verse",
                 options.en_module());
    split = split_by_book(pairs, options.valid_books(), options.test_books());
  } catch (const Error& e) {
    // align_verses names the side ("lang"/"en"); name the file instead.
    if (e.where() == "en") throw Error(options.en_module(), e.message());
    if (e.where() == "lang" || e.where().empty()) throw Error(file, e.message());
    throw e.with_prefix(file);
  }
  r.aligned = static_cast<int64_t>(pairs.size());
  r.merged_held_out = split.merged_held_out;
  const auto counts = write_bible_split(options.out_dir(), split, code, "." + code + "-en");
  r.train = counts[0];
  r.valid = counts[1];
  r.test = counts[2];
  return r;
}

nlohmann::json to_json(const AlignmentCounts& a, int64_t aligned, const std::string& lang) {
  return {{"aligned", aligned},
          {lang + "_only", a.lang_only},
          {"en_only", a.en_only},
          {"empty_dropped", a.empty},
          {"merged", a.merged}};
}

}  // namespace

std::vector<std::string> ces_language_codes(const std::vector<std::string>& files,
                                            const std::vector<std::string>& overrides) {
  std::map<std::string, std::string> by_name;
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    MOEKIT_CHECK(eq != std::string::npos && eq > 0, "--ces-lang",
                 "expected FILE=code (e.g. Zulu-NT.xml=zu), got '{}'", o);
    const std::string name = o.substr(0, eq), code = o.substr(eq + 1);
    const bool letters = !code.empty() && std::all_of(code.begin(), code.end(), [](char c) {
      return c >= 'a' && c <= 'z';
    });
    MOEKIT_CHECK(letters, "--ces-lang", "'{}': a language code is lower-case letters, got '{}'",
                 o, code);
    const bool known = std::any_of(files.begin(), files.end(), [&](const std::string& f) {
      return fs::path(f).filename() == name;
    });
    MOEKIT_CHECK(known, "--ces-lang", "'{}' names no CES file given", name);
    by_name[name] = code;
  }
  std::vector<std::string> codes;
  std::map<std::string, std::string> file_of;
  for (const auto& f : files) {
    const std::string name = fs::path(f).filename().string();
    const auto it = by_name.find(name);
    const std::string code = it != by_name.end() ? it->second : ces_language_code(name);
    MOEKIT_CHECK(!code.empty(), f, "no language code known for this file; give one with "
                 "--ces-lang {}=CODE", name);
    MOEKIT_CHECK(code != "es" && code != "en", f,
                 "language code '{}' is taken by the SWORD modules; give another with --ces-lang",
                 code);
    MOEKIT_CHECK(file_of.emplace(code, f).second, f, "language code '{}' is also that of {}",
                 code, file_of[code]);
    codes.push_back(code);
  }
  return codes;
}

BibleCorpusReport build_bible_corpus(const BibleCorpusOptions& options) {
  options.validate();
  const auto start = Clock::now();
  BibleCorpusReport report;
  // Checked before the slow export.
  const std::vector<std::string> codes =
      ces_language_codes(options.ces_files(), options.ces_languages());

  // The two exports are independent processes; WEB's takes the longest.
  // Spans the Protestant canon; verses a module lacks are simply not printed.
  const std::string keys = "Genesis 1:1-Revelation 22:21";
  auto es_job = std::async(std::launch::async, export_sword_module, options.diatheke(),
                           options.es_module(), keys);
  auto en_job = std::async(std::launch::async, export_sword_module, options.diatheke(),
                           options.en_module(), keys);
  const std::string es_raw = es_job.get();
  const std::string en_raw = en_job.get();
  report.export_seconds = seconds_since(start);

  const auto es = parse_diatheke_output(es_raw, options.es_module());
  const auto en = parse_diatheke_output(en_raw, options.en_module());
  MOEKIT_CHECK(!es.empty(), options.es_module(),
               "diatheke printed no verse; is the module installed{}?",
               package_hint(options.es_module()));
  MOEKIT_CHECK(!en.empty(), options.en_module(),
               "diatheke printed no verse; is the module installed{}?",
               package_hint(options.en_module()));
  report.es_verses = static_cast<int64_t>(es.size());
  report.en_verses = static_cast<int64_t>(en.size());

  std::vector<VersePair> pairs;
  try {
    pairs = align_verses(es, en, &report.alignment);
  } catch (const Error& e) {
    // align_verses knows only the side ("lang"/"en"); name the module the
    // duplicated verse came from, as every other input error does.
    throw Error(e.where() == "lang" ? options.es_module() : options.en_module(), e.message());
  }
  report.aligned = static_cast<int64_t>(pairs.size());
  BibleSplit split;
  try {
    split = split_by_book(pairs, options.valid_books(), options.test_books());
  } catch (const Error& e) {
    throw e.with_prefix("moekit data bible");
  }
  const auto counts = write_bible_split(options.out_dir(), split, "es", "");
  report.train = counts[0];
  report.valid = counts[1];
  report.test = counts[2];
  report.directions = {"es-en", "en-es"};
  std::vector<std::string> tokenizer_inputs = {options.out_dir() + "/train.es",
                                               options.out_dir() + "/train.en"};
  std::vector<std::string> tags = {Tokenizer::language_tag("en"), Tokenizer::language_tag("es")};
  for (size_t i = 0; i < codes.size(); ++i) {
    report.languages.push_back(add_ces_language(options, options.ces_files()[i], codes[i], en));
    report.directions.push_back(codes[i] + "-en");
    report.directions.push_back("en-" + codes[i]);
    tokenizer_inputs.push_back(fmt::format("{}/train.{}-en.{}", options.out_dir(), codes[i],
                                           codes[i]));
    tags.push_back(Tokenizer::language_tag(codes[i]));
  }

  const std::string prefix = options.out_dir() + "/spm";
  // Full character coverage: the diacritics and scripts of every language stay
  // pieces of their own rather than <unk>.
  const auto train_options = TokenizerTrainOptions(tokenizer_inputs, prefix)
                                 .vocab_size(options.vocab_size())
                                 .user_defined_symbols(tags)
                                 .character_coverage(1.0);
  if (options.vocab_size() > 0) {
    const auto t = Clock::now();
    Tokenizer::train(train_options);
    report.tokenizer_model = prefix + ".model";
    report.tokenizer_seconds = seconds_since(t);
  }

  report.manifest_path = options.out_dir() + "/manifest.json";
  report.total_seconds = seconds_since(start);
  nlohmann::json manifest = {
      {"corpus", codes.empty() ? "bible-es-en" : "bible-multilingual"},
      {"format", "UTF-8 text, one verse per line; line i of X.es translates line i of X.en"},
      {"sources",
       {{"es", {{"module", options.es_module()}, {"verses", report.es_verses}}},
        {"en", {{"module", options.en_module()}, {"verses", report.en_verses}}}}},
      {"alignment", to_json(report.alignment, report.aligned, "es")},
      {"split_by", "book"},
      {"splits",
       {{"train", to_json(report.train, "train", "es")},
        {"valid", to_json(report.valid, "valid", "es")},
        {"test", to_json(report.test, "test", "es")}}},
      {"seconds",
       {{"export", report.export_seconds},
        {"tokenizer", report.tokenizer_seconds},
        {"total", report.total_seconds}}},
  };
  if (!codes.empty()) {
    manifest["directions"] = report.directions;
    nlohmann::json languages = nlohmann::json::object();
    for (const auto& l : report.languages) {
      const std::string stem = "." + l.code + "-en";
      languages[l.code] = {
          {"source", {{"file", l.file}, {"format", "CES XML"}, {"verses", l.verses}}},
          {"alignment", to_json(l.alignment, l.aligned, l.code)},
          {"merged_held_out", l.merged_held_out},
          {"splits",
           {{"train", to_json(l.train, "train" + stem, l.code)},
            {"valid", to_json(l.valid, "valid" + stem, l.code)},
            {"test", to_json(l.test, "test" + stem, l.code)}}}};
    }
    manifest["languages"] = languages;
  }
  if (!report.tokenizer_model.empty()) {
    std::vector<std::string> trained_on;
    for (const auto& path : tokenizer_inputs) {
      trained_on.push_back(fs::path(path).filename().string());
    }
    manifest["tokenizer"] = {{"model", "spm.model"},
                             {"vocab", "spm.vocab"},
                             {"type", "bpe"},
                             {"vocab_size", options.vocab_size()},
                             {"character_coverage", 1.0},
                             {"trained_on", trained_on},
                             {"user_defined_symbols", train_options.user_defined_symbols()},
                             {"special_ids", {{"pad", 0}, {"unk", 1}, {"bos", 2}, {"eos", 3}}}};
  }
  write_text_atomically(report.manifest_path, manifest.dump(2) + "\n");
  return report;
}

}  // namespace moekit::data
