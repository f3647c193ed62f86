#include "moekit/data/ces_bible.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "moekit/core/error.h"
#include "moekit/core/parse.h"
#include "moekit/data/osis_text.h"

namespace moekit::data {
namespace {

// CES ids of the New Testament and their names in a SWORD KJV-versified module.
// Old Testament ids as the corpus's full Bibles use them (GEN ... MAL, its
// three-letter scheme; "SON" for the Song of Solomon), with the USFM spellings
// that differ (SNG, EZK, JOL, NAM) accepted too. The WEB names are diatheke's.
// The six NT files this project tests against carry no Old Testament, so the
// OT ids are checked only by the unit tests.
constexpr std::pair<std::string_view, std::string_view> kBooks[] = {
    {"GEN", "Genesis"},         {"EXO", "Exodus"},         {"LEV", "Leviticus"},
    {"NUM", "Numbers"},         {"DEU", "Deuteronomy"},    {"JOS", "Joshua"},
    {"JDG", "Judges"},          {"RUT", "Ruth"},           {"1SA", "I Samuel"},
    {"2SA", "II Samuel"},       {"1KI", "I Kings"},        {"2KI", "II Kings"},
    {"1CH", "I Chronicles"},    {"2CH", "II Chronicles"},  {"EZR", "Ezra"},
    {"NEH", "Nehemiah"},        {"EST", "Esther"},         {"JOB", "Job"},
    {"PSA", "Psalms"},          {"PRO", "Proverbs"},       {"ECC", "Ecclesiastes"},
    {"SON", "Song of Solomon"}, {"SNG", "Song of Solomon"}, {"ISA", "Isaiah"},
    {"JER", "Jeremiah"},        {"LAM", "Lamentations"},   {"EZE", "Ezekiel"},
    {"EZK", "Ezekiel"},         {"DAN", "Daniel"},         {"HOS", "Hosea"},
    {"JOE", "Joel"},            {"JOL", "Joel"},           {"AMO", "Amos"},
    {"OBA", "Obadiah"},         {"JON", "Jonah"},          {"MIC", "Micah"},
    {"NAH", "Nahum"},           {"NAM", "Nahum"},          {"HAB", "Habakkuk"},
    {"ZEP", "Zephaniah"},       {"HAG", "Haggai"},         {"ZEC", "Zechariah"},
    {"MAL", "Malachi"},
    {"MAT", "Matthew"},         {"MAR", "Mark"},           {"LUK", "Luke"},
    {"JOH", "John"},            {"ACT", "Acts"},           {"ROM", "Romans"},
    {"1CO", "I Corinthians"},   {"2CO", "II Corinthians"}, {"GAL", "Galatians"},
    {"EPH", "Ephesians"},       {"PHI", "Philippians"},    {"COL", "Colossians"},
    {"1TH", "I Thessalonians"}, {"2TH", "II Thessalonians"}, {"1TI", "I Timothy"},
    {"2TI", "II Timothy"},      {"TIT", "Titus"},          {"PHM", "Philemon"},
    {"HEB", "Hebrews"},         {"JAM", "James"},          {"1PE", "I Peter"},
    {"2PE", "II Peter"},        {"1JO", "I John"},         {"2JO", "II John"},
    {"3JO", "III John"},        {"JUD", "Jude"},           {"REV", "Revelation of John"}};

constexpr std::pair<std::string_view, std::string_view> kLanguages[] = {
    {"Ukranian", "uk"}, {"Ukrainian", "uk"}, {"Latvian", "lv"}, {"Swahili", "sw"},
    {"Zulu", "zu"},     {"Kabyle", "kab"},   {"Ewe", "ee"},     {"Spanish", "es"},
    {"English", "en"}};

// Offset of the first byte that does not start or continue a well-formed
// UTF-8 sequence, or npos.
size_t invalid_utf8_at(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > s.size()) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

std::string_view attribute(std::string_view tag, std::string_view name) {
  const std::string key = std::string(name) + "=\"";
  const size_t start = tag.find(key);
  if (start == std::string_view::npos) return {};
  const size_t value = start + key.size();
  const size_t end = tag.find('"', value);
  return end == std::string_view::npos ? std::string_view{} : tag.substr(value, end - value);
}

// "b.MAT.1.2" -> (Matthew, 1, 2)
Verse verse_of(std::string_view id, const std::string& where) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t dot = id.find('.'); dot != std::string_view::npos; dot = id.find('.', start)) {
    parts.push_back(id.substr(start, dot - start));
    start = dot + 1;
  }
  parts.push_back(id.substr(start));
  MOEKIT_CHECK(parts.size() == 4 && parts[0] == "b", where,
               "verse id '{}' is not of the form b.BOOK.CHAPTER.VERSE", id);
  Verse v;
  v.book = ces_book_name(parts[1]);
  MOEKIT_CHECK(!v.book.empty(), where, "verse id '{}': unknown book '{}'", id, parts[1]);
  v.chapter = parse_value<int64_t>(std::string(parts[2]), where);
  v.verse = parse_value<int64_t>(std::string(parts[3]), where);
  MOEKIT_CHECK(v.chapter > 0 && v.verse > 0, where, "verse id '{}': chapter and verse must be >= 1",
               id);
  return v;
}

}  // namespace

std::string ces_language_code(std::string_view file_name) {
  const size_t slash = file_name.find_last_of('/');
  if (slash != std::string_view::npos) file_name.remove_prefix(slash + 1);
  const std::string_view stem = file_name.substr(0, file_name.find_first_of("-."));
  for (const auto& [name, code] : kLanguages) {
    if (stem == name) return std::string(code);
  }
  return {};
}

std::string ces_book_name(std::string_view book_id) {
  for (const auto& [id, name] : kBooks) {
    if (id == book_id) return std::string(name);
  }
  return {};
}

std::vector<Verse> parse_ces_bible(std::string_view xml, const std::string& where) {
  const size_t bad = invalid_utf8_at(xml);
  MOEKIT_CHECK(bad == std::string_view::npos, where, "not UTF-8 (byte offset {})", bad);
  MOEKIT_CHECK(xml.find("<cesDoc") != std::string_view::npos, where,
               "not a CES XML Bible (no <cesDoc> element)");
  std::vector<Verse> verses;
  for (size_t open = xml.find("<seg "); open != std::string_view::npos;
       open = xml.find("<seg ", open + 1)) {
    const size_t tag_end = xml.find('>', open);
    MOEKIT_CHECK(tag_end != std::string_view::npos, where, "unclosed <seg> tag at byte {}", open);
    const std::string_view tag = xml.substr(open, tag_end + 1 - open);
    if (attribute(tag, "type") != "verse") continue;
    const std::string at = where + " (byte " + std::to_string(open) + ")";
    Verse v = verse_of(attribute(tag, "id"), at);
    const size_t close = xml.find("</seg>", tag_end);
    MOEKIT_CHECK(close != std::string_view::npos, at, "<seg> without </seg>");
    v.text = strip_osis(xml.substr(tag_end + 1, close - tag_end - 1));
    verses.push_back(std::move(v));
  }
  MOEKIT_CHECK(!verses.empty(), where, "no <seg type=\"verse\"> element: not a CES Bible");
  return verses;
}

std::vector<Verse> read_ces_bible(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  MOEKIT_CHECK(in.good(), path, "cannot open for reading");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_ces_bible(text.str(), path);
}

}  // namespace moekit::data
