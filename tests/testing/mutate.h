// Test helper: deterministic mutants of a valid input file, and a replay loop
// that accepts only "loads" or "moekit::Error naming the file".
#pragma once
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "moekit/core/error.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MOEKIT_TESTING_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define MOEKIT_TESTING_SANITIZED 1
#endif
#endif

namespace moekit::testing {

/// While alive, caps the address space at its current size plus `headroom`,
/// so an allocation sized by a corrupt field fails loudly (torch throws
/// c10::Error, `new` throws std::bad_alloc) instead of passing unnoticed
/// thanks to overcommit. A no-op under sanitizers, which reserve terabytes of
/// shadow address space.
class AllocationCap {
 public:
  explicit AllocationCap(uint64_t headroom = uint64_t(2) << 30) {
#ifndef MOEKIT_TESTING_SANITIZED
    if (getrlimit(RLIMIT_AS, &saved_) != 0) return;
    std::ifstream statm("/proc/self/statm");
    uint64_t pages = 0;
    if (!(statm >> pages) || pages == 0) return;
    rlimit cap = saved_;
    cap.rlim_cur = std::min<uint64_t>(saved_.rlim_max, pages * uint64_t(sysconf(_SC_PAGESIZE)) + headroom);
    active_ = setrlimit(RLIMIT_AS, &cap) == 0;
#endif
  }
  ~AllocationCap() {
    if (active_) setrlimit(RLIMIT_AS, &saved_);
  }
  AllocationCap(const AllocationCap&) = delete;
  AllocationCap& operator=(const AllocationCap&) = delete;

 private:
  rlimit saved_{};
  bool active_ = false;
};

using Bytes = std::vector<uint8_t>;

/// A mutated input and how it was made (shown when its replay fails).
struct Mutant {
  std::string kind;
  Bytes bytes;
};

/// A binary size field: `width` bytes (4 or 8) at `offset`, big- or little-endian.
struct SizeField {
  size_t offset = 0;
  int width = 4;
  bool big_endian = false;
};

struct MutateOptions {
  uint64_t seed = 1;
  int truncations = 40;  // plus every length in the first 16 bytes and the last 4
  int bit_flips = 80;
  int inserts = 30;
  int deletes = 30;
  int utf8 = 30;     // invalid UTF-8 sequences inserted or overwritten
  int numbers = 30;  // decimal numbers in text replaced by huge, negative, zero values
  std::vector<SizeField> size_fields;  // each gets zero, one, huge and negative values
};

namespace detail {

inline void put_value(Bytes& b, const SizeField& f, uint64_t v) {
  for (int i = 0; i < f.width; ++i) {
    const int shift = 8 * (f.big_endian ? f.width - 1 - i : i);
    b[f.offset + size_t(i)] = uint8_t((v >> shift) & 0xff);
  }
}

}  // namespace detail

/// Deterministic (given the seed) mutants of `valid`: truncations at many
/// offsets, bit flips, byte inserts and deletes, size fields set to
/// 0 / 1 / huge / all-ones (-1) / sign bit, invalid UTF-8 sequences, and
/// decimal numbers replaced by huge, negative and zero values.
inline std::vector<Mutant> make_mutants(const Bytes& valid, const MutateOptions& o) {
  std::vector<Mutant> out;
  std::mt19937_64 rng(o.seed);
  auto below = [&](size_t n) { return n == 0 ? size_t(0) : size_t(rng() % n); };
  const size_t n = valid.size();

  // Truncations: every short prefix (headers), the last few bytes, and spread offsets.
  std::vector<size_t> cuts;
  for (size_t c = 0; c < std::min<size_t>(n, 16); ++c) cuts.push_back(c);
  for (size_t k = 1; k <= 4 && k <= n; ++k) cuts.push_back(n - k);
  for (int i = 0; i < o.truncations; ++i) cuts.push_back(below(n));
  for (size_t c : cuts) out.push_back({"truncate at " + std::to_string(c), Bytes(valid.begin(), valid.begin() + long(c))});

  for (int i = 0; i < o.bit_flips && n > 0; ++i) {
    Bytes b = valid;
    const size_t at = below(n);
    const int bit = int(rng() % 8);
    b[at] ^= uint8_t(1u << bit);
    out.push_back({"flip bit " + std::to_string(bit) + " of byte " + std::to_string(at), b});
  }
  for (int i = 0; i < o.inserts; ++i) {
    Bytes b = valid;
    const size_t at = below(n + 1);
    const size_t len = 1 + below(8);
    for (size_t k = 0; k < len; ++k) b.insert(b.begin() + long(at), uint8_t(rng()));
    out.push_back({"insert " + std::to_string(len) + " bytes at " + std::to_string(at), b});
  }
  for (int i = 0; i < o.deletes && n > 0; ++i) {
    Bytes b = valid;
    const size_t at = below(n);
    const size_t len = std::min(n - at, 1 + below(8));
    b.erase(b.begin() + long(at), b.begin() + long(at + len));
    out.push_back({"delete " + std::to_string(len) + " bytes at " + std::to_string(at), b});
  }
  // Wrong sizes: duplicated tail, appended garbage.
  if (n > 0) {
    Bytes b = valid;
    b.insert(b.end(), valid.begin() + long(n / 2), valid.end());
    out.push_back({"duplicate the second half", b});
    Bytes g = valid;
    for (int k = 0; k < 100; ++k) g.push_back(uint8_t(rng()));
    out.push_back({"append 100 random bytes", g});
  }

  for (const auto& f : o.size_fields) {
    if (f.offset + size_t(f.width) > n) continue;
    const uint64_t all = f.width == 8 ? ~uint64_t(0) : 0xffffffffull;
    const uint64_t sign = f.width == 8 ? uint64_t(1) << 63 : uint64_t(1) << 31;
    for (uint64_t v : {uint64_t(0), uint64_t(1), all, sign, sign - 1, all / 3, uint64_t(1) << 20,
                       uint64_t(1) << (f.width * 8 - 2)}) {
      Bytes b = valid;
      detail::put_value(b, f, v);
      if (b == valid) continue;  // the field already held v: not a mutant
      out.push_back({"size field at " + std::to_string(f.offset) + " = " + std::to_string(v), b});
    }
  }

  static const std::vector<std::string> kBadUtf8 = {
      "\xC3",              // truncated 2-byte sequence
      "\xFF",              // never valid
      "\x80\x80",          // lone continuation bytes
      "\xC0\xAF",          // overlong '/'
      "\xED\xA0\x80",      // UTF-16 surrogate
      "\xF4\x90\x80\x80",  // above U+10FFFF
      "\xF8\x88\x80\x80\x80",
      "\xE2\x82",  // truncated 3-byte sequence
  };
  for (int i = 0; i < o.utf8; ++i) {
    Bytes b = valid;
    const std::string& s = kBadUtf8[size_t(i) % kBadUtf8.size()];
    const size_t at = below(n + 1);
    if (i % 2 == 0 || at + s.size() > n) {
      b.insert(b.begin() + long(at), s.begin(), s.end());
    } else {
      std::copy(s.begin(), s.end(), b.begin() + long(at));
    }
    out.push_back({"invalid UTF-8 #" + std::to_string(i % kBadUtf8.size()) + " at " + std::to_string(at), b});
  }

  // Numbers in text: where a size or id is read from digits.
  std::vector<std::pair<size_t, size_t>> numbers;  // [begin, end)
  for (size_t i = 0; i < n;) {
    if (valid[i] >= '0' && valid[i] <= '9') {
      size_t j = i;
      while (j < n && valid[j] >= '0' && valid[j] <= '9') ++j;
      numbers.emplace_back(i, j);
      i = j;
    } else {
      ++i;
    }
  }
  static const std::vector<std::string> kNumbers = {
      "0", "-1", "99999999999999999999999", "9223372036854775807", "2147483648", "-9223372036854775808",
      "1e308", "nan", ""};
  for (int i = 0; i < o.numbers && !numbers.empty(); ++i) {
    const auto [begin, end] = numbers[below(numbers.size())];
    const std::string& s = kNumbers[size_t(i) % kNumbers.size()];
    Bytes b(valid.begin(), valid.begin() + long(begin));
    b.insert(b.end(), s.begin(), s.end());
    b.insert(b.end(), valid.begin() + long(end), valid.end());
    out.push_back({"number at " + std::to_string(begin) + " = '" + s + "'", b});
  }
  return out;
}

inline Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

/// Outcome counts of a replay, so a test can also claim that most mutants were rejected.
struct ReplayCounts {
  int loaded = 0, rejected = 0;
};

/// Writes each mutant to `path` and runs `load` under an AllocationCap: it
/// must return or throw moekit::Error whose text names `path`; any other
/// exception (an allocation over the cap included) fails the test with the
/// mutant's kind. (A crash or hang fails the whole test binary.) `must_name`
/// (default: `path`) is what the message must hold, e.g. the data folder when
/// a fault may be reported against a sibling file.
inline ReplayCounts replay_mutants(const std::vector<Mutant>& mutants, const std::string& path,
                                   const std::function<void()>& load,
                                   const std::string& must_name = "") {
  const std::string& name = must_name.empty() ? path : must_name;
  ReplayCounts counts;
  AllocationCap cap;
  for (const auto& m : mutants) {
    write_bytes(path, m.bytes);
    try {
      load();
      ++counts.loaded;
    } catch (const Error& e) {
      ++counts.rejected;
      // Not e.what(): input quoted in the message may hold NUL bytes.
      EXPECT_NE((e.where() + ": " + e.message()).find(name), std::string::npos)
          << m.kind << ": message does not name " << name << ": " << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << m.kind << ": escaped as another exception type: " << e.what();
    }
  }
  return counts;
}

}  // namespace moekit::testing
