#include "moekit/core/parse.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "moekit/core/error.h"

namespace moekit {

template <>
int64_t parse_value<int64_t>(const std::string& text, const std::string& where) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  MOEKIT_CHECK(!text.empty() && end == text.c_str() + text.size() && errno != ERANGE, where,
               "expected an integer, got '{}'", text);
  return v;
}

template <>
double parse_value<double>(const std::string& text, const std::string& where) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  MOEKIT_CHECK(!text.empty() && end == text.c_str() + text.size() && errno != ERANGE, where,
               "expected a number, got '{}'", text);
  MOEKIT_CHECK(std::isfinite(v), where, "expected a finite number, got '{}'", text);
  return v;
}

template <>
bool parse_value<bool>(const std::string& text, const std::string& where) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return false;
  throw Error(where, fmt::format("expected true or false, got '{}'", text));
}

template <>
std::string parse_value<std::string>(const std::string& text, const std::string&) {
  return text;
}

template <>
std::string format_value<int64_t>(const int64_t& v) {
  return std::to_string(v);
}
template <>
std::string format_value<double>(const double& v) {
  return fmt::format("{}", v);
}
template <>
std::string format_value<bool>(const bool& v) {
  return v ? "true" : "false";
}
template <>
std::string format_value<std::string>(const std::string& v) {
  return v;
}

}  // namespace moekit
