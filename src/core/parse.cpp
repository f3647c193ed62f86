#include "moekit/core/parse.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <vector>

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
std::vector<double> parse_value<std::vector<double>>(const std::string& text,
                                                     const std::string& where) {
  // Comma-separated, optionally in YAML's flow brackets: "0.1,0.9" or "[0.1, 0.9]".
  std::string body = text;
  if (body.size() >= 2 && body.front() == '[' && body.back() == ']') {
    body = body.substr(1, body.size() - 2);
  }
  std::vector<double> values;
  if (body.find_first_not_of(" ") == std::string::npos) return values;
  size_t begin = 0;
  while (true) {
    const size_t comma = body.find(',', begin);
    std::string item = body.substr(begin, comma == std::string::npos ? comma : comma - begin);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    values.push_back(parse_value<double>(item, where));
    if (comma == std::string::npos) return values;
    begin = comma + 1;
  }
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

template <>
std::string format_value<std::vector<double>>(const std::vector<double>& v) {
  // YAML's flow form, so that a config records an empty list as [] (not null).
  std::string out;
  for (double x : v) out += (out.empty() ? "" : ", ") + format_value<double>(x);
  return "[" + out + "]";
}

}  // namespace moekit
