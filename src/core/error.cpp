#include "moekit/core/error.h"

namespace moekit {
namespace {
std::string join(const std::string& where, const std::string& message) {
  return where.empty() ? message : where + ": " + message;
}
}  // namespace

Error::Error(std::string where, std::string message)
    : std::runtime_error(join(where, message)),
      where_(std::move(where)),
      message_(std::move(message)) {}

Error Error::with_prefix(const std::string& prefix) const {
  if (prefix.empty()) return *this;
  return Error(where_.empty() ? prefix : prefix + ": " + where_, message_);
}

}  // namespace moekit
