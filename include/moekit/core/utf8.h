#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace moekit {

/// The code point that starts at byte `i` of `s`, with its length in bytes in
/// `*len`. A malformed or truncated sequence counts as one code point of the
/// lead byte's value, so text from anywhere is walked without losing a byte.
uint32_t decode_utf8_at(std::string_view s, size_t i, size_t* len);

}  // namespace moekit
