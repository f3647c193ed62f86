// libFuzzer harness: MovieLens folders. The input holds the files one after
// the other, separated by "%%\n" lines: users.dat, movies.dat, ratings.dat for
// ML-1M; the first two parts are also movies.csv and ratings.csv for ML-latest.
#include <filesystem>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "moekit/data/movielens.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace moekit;
  const std::string dir = fuzz::scratch_dir() + "/movielens";
  static const bool made = std::filesystem::create_directories(dir) || true;
  (void)made;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    const size_t sep = text.find("%%\n", start);
    parts.push_back(text.substr(start, sep == std::string_view::npos ? sep : sep - start));
    if (sep == std::string_view::npos) break;
    start = sep + 3;
  }
  parts.resize(3);
  auto put = [&](const char* name, std::string_view part) {
    fuzz::write_file(dir + "/" + name, reinterpret_cast<const uint8_t*>(part.data()), part.size());
  };
  put("users.dat", parts[0]);
  put("movies.dat", parts[1]);
  put("ratings.dat", parts[2]);
  put("movies.csv", parts[0]);
  put("ratings.csv", parts[1]);
  fuzz::expect_clean([&] { data::read_movielens_1m(dir); }, dir);
  fuzz::expect_clean([&] { data::read_movielens_latest(dir); }, dir);
  return 0;
}
