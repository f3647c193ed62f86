#pragma once
#include <cstdint>
#include <string>

namespace moekit {

/// Parses a YAML/`--set` scalar into T. Throws moekit::Error naming `where`,
/// the text and the expected type when it does not parse completely.
/// Supported: int64_t, double, bool (true/false/1/0/yes/no/on/off), std::string,
/// std::vector<double> (comma-separated, optionally in [ ]; "" or [] is empty;
/// printed as [a, b]).
template <typename T>
T parse_value(const std::string& text, const std::string& where);

/// Prints a value the way parse_value reads it back.
template <typename T>
std::string format_value(const T& value);

}  // namespace moekit
