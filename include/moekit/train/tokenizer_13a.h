#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace moekit::train {

/// sacreBLEU's default tokenizer, `13a` (mteval-v13a.pl): drops `<skipped>`,
/// decodes &quot; &amp; &lt; &gt;, splits off punctuation and symbols, splits
/// `.` and `,` unless between digits and `-` after a digit, and collapses
/// whitespace (Python's str.split() notion of it). Returns the tokens joined
/// by single spaces.
std::string tokenize_13a(std::string_view line);

/// Python's str.isspace() for one code point: what str.split() splits on.
bool is_python_space(uint32_t code_point);

/// Python's s.split() on UTF-8 text: views of the non-space runs.
std::vector<std::string_view> python_split(std::string_view s);

/// Python's s.rstrip(): `s` without trailing whitespace.
std::string_view python_rstrip(std::string_view s);

}  // namespace moekit::train
