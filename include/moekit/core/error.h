#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace moekit {

/// The one exception type for bad input: a malformed config, data file,
/// checkpoint, option or command line. It carries *where* (a file plus a field
/// or offset, e.g. `configs/fmnist.yaml: gate.k`) and *what* (the bad value and
/// what was allowed). `what()` is "where: what".
class Error : public std::runtime_error {
 public:
  Error(std::string where, std::string message);

  const std::string& where() const { return where_; }
  const std::string& message() const { return message_; }

  /// The same error with `prefix` in front of its location, for loaders that
  /// know the file while the Options that threw know only the field.
  Error with_prefix(const std::string& prefix) const;

 private:
  std::string where_;
  std::string message_;
};

}  // namespace moekit

/// Like TORCH_CHECK, for input errors: throws moekit::Error(where, fmt::format(...)).
#define MOEKIT_CHECK(cond, where, ...)                                  \
  do {                                                                  \
    if (!(cond)) throw ::moekit::Error((where), ::fmt::format(__VA_ARGS__)); \
  } while (false)
