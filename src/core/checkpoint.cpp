#include "moekit/core/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

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
    archive.save_to(tmp);
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
  try {
    archive.load_from(path);
  } catch (const std::exception& e) {
    throw Error(path, fmt::format("not a readable checkpoint: {}",
                                  std::string(e.what()).substr(0, 200)));
  }
}

}  // namespace moekit
