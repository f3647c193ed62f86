#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "moekit/data/bible_corpus.h"

namespace moekit::data {

/// The ISO 639 code of a CES Bible of christos-c/bible-corpus from its file
/// name ("Zulu-NT.xml" -> "zu", "Kabyle-NT.xml" -> "kab"); empty when the name
/// is not in the table (the caller then asks for the code). The files' own
/// headers use non-standard ids (Swahili "ss", Ewe "ew"), hence the table.
std::string ces_language_code(std::string_view file_name);

/// English (diatheke) name of a CES book id ("MAT" -> "Matthew", "1JO" ->
/// "I John", "REV" -> "Revelation of John"); empty when unknown.
std::string ces_book_name(std::string_view book_id);

/// Every verse of a Corpus Encoding Standard Bible: each `<seg id="b.BOOK.C.V"
/// type="verse">` in file order, its text entity-decoded and its whitespace
/// normalised (strip_osis), the book named as diatheke names it so that
/// align_verses joins it with a SWORD module. Empty verses are kept with empty
/// text (the alignment drops them). Throws moekit::Error naming `where` and the
/// byte offset when the text is not UTF-8, has no `<cesDoc` root, a verse id
/// is malformed or names an unknown book, or there is no verse at all.
std::vector<Verse> parse_ces_bible(std::string_view xml, const std::string& where);

/// parse_ces_bible of the file at `path`.
std::vector<Verse> read_ces_bible(const std::string& path);

}  // namespace moekit::data
