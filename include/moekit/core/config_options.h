#pragma once
#include <algorithm>
#include <initializer_list>
#include <string>

#include "moekit/core/config.h"
#include "moekit/core/option_table.h"

namespace moekit {

/// Reads every key of `table` from `section` into `options`: a key the file
/// leaves out keeps the value `options` already holds (recorded in the config as
/// its default, with the key's doc for `moekit config`). Errors name
/// `file: section.key`. Keys in `skip` are left to the caller.
template <typename Options>
void read_options(const Config& section, Options& options, const OptionTable<Options>& table,
                  std::initializer_list<const char*> skip = {}) {
  for (const auto& field : table) {
    if (std::find(skip.begin(), skip.end(), field.key) != skip.end()) continue;
    const std::string fallback = field.get(options);
    const std::string text = section.get<std::string>(field.key, fallback);
    section.document(field.key, field.type, fallback, field.doc);
    try {
      field.set(options, text);
    } catch (const Error& e) {
      throw Error(section.where(field.key), e.message());
    }
  }
}

/// One key outside any Options struct (a file path, a data-set size), read
/// with its doc like read_options' keys; range checks stay with the caller.
template <typename T>
T read_key(const Config& section, const std::string& key, const T& fallback, const std::string& doc) {
  section.document(key, option_checks::type_name<T>(), format_value<T>(fallback), doc);
  return section.get<T>(key, fallback);
}

}  // namespace moekit
