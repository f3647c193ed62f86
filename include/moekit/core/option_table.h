#pragma once
#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <type_traits>
#include <string>
#include <vector>

#include "moekit/core/error.h"
#include "moekit/core/parse.h"

namespace moekit {

/// One key of an Options struct as a config sees it: its name, type and
/// one-line doc, and how to read and write it as text. `set` parses and
/// range-checks, throwing moekit::Error whose `where` is the key; the config
/// loader prefixes the file and section. The struct's own member initialiser is
/// the default: a table never restates it.
template <typename Options>
struct OptionField {
  std::string key;
  std::string type;  // "int", "float", "floats", "bool" or "text", for `moekit config`
  std::string doc;
  std::function<std::string(const Options&)> get;
  std::function<void(Options&, const std::string&)> set;
};

/// Every configurable key of one Options struct, in the order `moekit config`
/// prints them.
template <typename Options>
using OptionTable = std::vector<OptionField<Options>>;

/// The row of `key`, or nullptr.
template <typename Options>
const OptionField<Options>* find_option(const OptionTable<Options>& table, const std::string& key) {
  for (const auto& field : table) {
    if (field.key == key) return &field;
  }
  return nullptr;
}

/// Sets `key` from text through the table; an unknown key names the known ones.
template <typename Options>
void set_option(const OptionTable<Options>& table, Options& options, const std::string& key,
                const std::string& value, const char* what = "option") {
  if (const auto* field = find_option(table, key)) return field->set(options, value);
  std::string known;
  for (const auto& f : table) known += (known.empty() ? "" : ", ") + f.key;
  throw Error(key, fmt::format("unknown {}; known: {}", what, known));
}

namespace option_checks {

// Range checks for table setters; `key` is the name reported.
template <typename T>
T at_least(T v, T low, const char* key) {
  MOEKIT_CHECK(v >= low, key, "must be >= {}, got {}", low, v);
  return v;
}
inline double positive(double v, const char* key) {
  MOEKIT_CHECK(v > 0, key, "must be > 0, got {}", v);
  return v;
}
/// [0, 1): dropout rates, held-out fractions.
inline double fraction(double v, const char* key) {
  MOEKIT_CHECK(v >= 0 && v < 1, key, "must lie in [0, 1), got {}", v);
  return v;
}
template <typename T>
T any_value(T v, const char*) {
  return v;
}
inline std::string one_of(const std::string& v, const char* key,
                          std::initializer_list<const char*> allowed) {
  std::string list;
  for (const char* a : allowed) {
    if (v == a) return v;
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  throw Error(key, fmt::format("must be one of {}, got '{}'", list, v));
}

template <typename T>
constexpr const char* type_name() {
  if constexpr (std::is_same_v<T, bool>) return "bool";
  if constexpr (std::is_same_v<T, int64_t>) return "int";
  if constexpr (std::is_same_v<T, double>) return "float";
  if constexpr (std::is_same_v<T, std::vector<double>>) return "floats";
  return "text";
}

}  // namespace option_checks
}  // namespace moekit

/// A table row for `TORCH_ARG(T, MEMBER)` of `Options` under config key KEY:
/// CHECK is an expression of the parsed value `v` (use option_checks, whose
/// key argument should be KEY) that returns the value to store.
#define MOEKIT_OPTION_AS(Options, T, KEY, MEMBER, CHECK, DOC)                       \
  ::moekit::OptionField<Options> {                                                 \
    KEY, ::moekit::option_checks::type_name<T>(), DOC,                             \
        [](const Options& o) { return ::moekit::format_value<T>(o.MEMBER()); },    \
        [](Options& o, const std::string& text) {                                  \
          using namespace ::moekit::option_checks;                                 \
          const T v = ::moekit::parse_value<T>(text, KEY);                         \
          o.MEMBER(CHECK);                                                         \
        }                                                                          \
  }

/// The common case: the config key is the member's name.
#define MOEKIT_OPTION(Options, T, MEMBER, CHECK, DOC) \
  MOEKIT_OPTION_AS(Options, T, #MEMBER, MEMBER, CHECK, DOC)
