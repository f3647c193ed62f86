#include "moekit/core/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "moekit/core/error.h"

namespace moekit {
namespace {

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  MOEKIT_CHECK(fd >= 0, path, "cannot reopen to flush: {}", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  MOEKIT_CHECK(rc == 0, path, "cannot flush to disk: {}", std::strerror(saved));
}

// Renames the flushed temporary over `path` and makes the rename durable; on
// failure removes the temporary and leaves the old file in place.
void commit_file(const std::string& tmp, const std::string& path) {
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    std::remove(tmp.c_str());
    throw Error(path, fmt::format("cannot rename into place: {}", std::strerror(saved)));
  }
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

// Checkpoint file = 24-byte header + torch's zip archive. torch's reader trusts
// sizes and offsets inside the zip and the pickle, and on corrupted input it
// can fail far from the cause (issue #8); the header lets a truncated, padded
// or bit-flipped file be rejected before any byte of it reaches torch.
//   "MKCKPT\r\n" | u32 version | u32 CRC-32 of the archive | u64 archive bytes
// (little-endian). "\r\n" in the magic catches text-mode transfers.
constexpr char kMagic[8] = {'M', 'K', 'C', 'K', 'P', 'T', '\r', '\n'};
constexpr uint32_t kVersion = 1;
constexpr int64_t kHeaderBytes = 24;

uint64_t get_le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}

uint32_t crc32_of(const std::string& bytes) {
  uLong crc = crc32(0, nullptr, 0);
  for (size_t done = 0; done < bytes.size();) {
    const uInt chunk = uInt(std::min<size_t>(bytes.size() - done, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + done), chunk);
    done += chunk;
  }
  return uint32_t(crc);
}

}  // namespace

void write_text_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc | std::ios::binary);
    out << text;
    out.flush();
    if (!out.good()) {
      std::remove(tmp.c_str());
      throw Error(path, "cannot write (previous file kept)");
    }
  }
  fsync_path(tmp);
  commit_file(tmp, path);
}

void save_archive_atomically(torch::serialize::OutputArchive& archive, const std::string& path) {
  const std::string tmp = path + ".tmp";
  try {
    std::ostringstream zip;
    archive.save_to(zip);
    const std::string payload = zip.str();
    std::string header(kMagic, sizeof(kMagic));
    put_le(header, kVersion, 4);
    put_le(header, crc32_of(payload), 4);
    put_le(header, payload.size(), 8);
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out.write(header.data(), std::streamsize(header.size()));
      out.write(payload.data(), std::streamsize(payload.size()));
      out.flush();
      MOEKIT_CHECK(out.good(), path, "cannot write checkpoint (previous one kept)");
    }
    fsync_path(tmp);
  } catch (const Error&) {
    std::remove(tmp.c_str());
    throw;
  } catch (const std::exception& e) {
    std::remove(tmp.c_str());
    throw Error(path, fmt::format("cannot write checkpoint (previous one kept): {}",
                                  std::string(e.what()).substr(0, 200)));
  }
  commit_file(tmp, path);
}

void load_archive(torch::serialize::InputArchive& archive, const std::string& path) {
  MOEKIT_CHECK(std::filesystem::exists(path), path, "checkpoint not found");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  MOEKIT_CHECK(in.good(), path, "cannot open checkpoint");
  const int64_t file_bytes = int64_t(in.tellg());
  in.seekg(0);
  unsigned char h[kHeaderBytes] = {};
  in.read(reinterpret_cast<char*>(h), std::min<int64_t>(file_bytes, kHeaderBytes));
  MOEKIT_CHECK(in.good() || file_bytes < kHeaderBytes, path, "cannot read checkpoint");
  // NOTE: a bare torch archive (what moekit wrote before the header) is not
  // read: fuzzing showed LibTorch 1.13 segfaulting in its unpickler on a
  // corrupted one (issue #8), and without the header that cannot be caught.
  MOEKIT_CHECK(file_bytes < 4 || std::memcmp(h, "PK\x03\x04", 4) != 0, path,
               "a plain torch archive without moekit's integrity header (written by an older "
               "moekit); it cannot be checked for corruption, so it is not read: train again");
  MOEKIT_CHECK(file_bytes >= kHeaderBytes, path,
               "truncated: {} bytes, a moekit checkpoint has a {}-byte header", file_bytes,
               kHeaderBytes);
  MOEKIT_CHECK(std::memcmp(h, kMagic, sizeof(kMagic)) == 0, path,
               "byte 0: bad magic, not a moekit checkpoint");
  const uint64_t version = get_le(h + 8, 4), stored_crc = get_le(h + 12, 4);
  const uint64_t length = get_le(h + 16, 8);
  MOEKIT_CHECK(version == kVersion, path, "byte 8: checkpoint version {}, this build reads {}",
               version, kVersion);
  // The length is checked against the file before anything is allocated from it.
  MOEKIT_CHECK(length == uint64_t(file_bytes - kHeaderBytes), path,
               "byte 16: header promises {} archive bytes, the file holds {}", length,
               file_bytes - kHeaderBytes);
  std::string payload(size_t(length), '\0');
  in.read(payload.data(), std::streamsize(length));
  MOEKIT_CHECK(in.good(), path, "cannot read checkpoint");
  const uint32_t crc = crc32_of(payload);
  MOEKIT_CHECK(crc == stored_crc, path,
               "byte 12: CRC-32 mismatch (stored {:08x}, contents give {:08x}); the file is corrupt",
               stored_crc, crc);
  try {
    archive.load_from(payload.data(), payload.size());
  } catch (const std::exception& e) {
    throw Error(path, fmt::format("not a readable checkpoint: {}",
                                  std::string(e.what()).substr(0, 200)));
  }
}

void load_module_weights(torch::nn::Module& module, const std::string& path) {
  torch::serialize::InputArchive archive;
  load_archive(archive, path);
  try {
    module.load(archive);
  } catch (const c10::Error& e) {
    throw Error(path, "does not match the run's config: " + std::string(e.what_without_backtrace()));
  }
}

}  // namespace moekit
