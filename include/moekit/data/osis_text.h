#pragma once
#include <string>
#include <string_view>

namespace moekit::data {

/// Plain text of one verse of OSIS markup as `diatheke` renders it.
///
/// Tags are removed without gluing or dropping words: where a tag (or a run of
/// tags) sat between two words with no whitespace around it
/// (`God</w><w …>created`, `said.”</q><w …>His`) a space is put; none is put
/// before closing punctuation (`word</w>,`) or after opening punctuation
/// (`“<w …>Yes`, `¿<w …>Qué`), nor on either side of a dash. One exception
/// keeps Spanish enclitics whole: an added `<transChange>` holding only a clitic
/// pronoun glued to the end of a word (`sáca</w><transChange>lo</transChange> `)
/// joins that word (`sácalo`). The text of `<title>` and `<note>` elements
/// (headings, footnotes) and of milestoned glossary/introduction divs is
/// dropped; the entities &amp; &lt; &gt; &quot; &apos;
/// are decoded. Whitespace is normalised: runs collapse to one space, none at
/// either end.
std::string strip_osis(std::string_view marked_up);

/// Collapses runs of ASCII whitespace (and U+00A0) to one space and trims both ends.
std::string normalize_whitespace(std::string_view text);

}  // namespace moekit::data
