#pragma once
#include <memory>
#include <string>
#include <vector>

#include "moekit/core/parse.h"

namespace YAML {
class Node;
}

namespace moekit {

/// A YAML config (or one section of it) that knows its file and key path, so
/// every error names `file: section.key`. Reading a key marks it used, and a
/// missing key takes its default *into* the config, so `dump()` is the resolved
/// config a run saves. `check_all_used()` turns any key nobody read into an
/// error: a typo never silently falls back to a default.
class Config {
 public:
  /// Reads a YAML file; a missing file or bad YAML throws naming the file (and line).
  static Config load(const std::string& path);
  /// Parses YAML text; `name` stands for the file in messages.
  static Config parse(const std::string& text, const std::string& name);

  /// Applies `section.key=value` (the `--set` syntax); creates the key if absent.
  void set(const std::string& assignment);

  /// The mapping under `key` (created empty if absent).
  Config section(const std::string& key) const;
  bool has(const std::string& key) const;
  /// Keys of this mapping, in file order.
  std::vector<std::string> keys() const;

  /// The value of `key` parsed as T (int64_t, double, bool, std::string), or
  /// `fallback` (which is then recorded in the config).
  template <typename T>
  T get(const std::string& key, const T& fallback) const {
    const std::string text = format_value<T>(fallback);
    return parse_value<T>(scalar(key, &text), where(key));
  }
  /// The value of `key`; throws naming it when absent.
  template <typename T>
  T require(const std::string& key) const {
    return parse_value<T>(scalar(key, nullptr), where(key));
  }

  /// Throws moekit::Error naming the first key that no get/require/section read.
  void check_all_used() const;

  /// "file: path.key" for messages.
  std::string where(const std::string& key = "") const;

  /// The whole config as YAML text, defaults included.
  std::string dump() const;

  /// Records what `key` (of this section) means, for annotated_dump().
  void document(const std::string& key, const std::string& type, const std::string& fallback,
                const std::string& doc) const;
  /// dump() with `# doc [type, default X]` after every documented key: what
  /// `moekit config` prints.
  std::string annotated_dump() const;

 private:
  struct State;
  Config(std::shared_ptr<State> state, std::string path);
  YAML::Node node() const;
  std::string scalar(const std::string& key, const std::string* fallback) const;
  std::string child_path(const std::string& key) const;

  std::shared_ptr<State> state_;
  std::string path_;  // dotted key path of this section; "" at the root
};

}  // namespace moekit
