// Replays mutated MovieLens files (ML-1M and ML-latest): each must load or
// throw moekit::Error naming the data folder and file.
#include <gtest/gtest.h>

#include <filesystem>

#include "moekit/data/movielens.h"
#include "testing/mutate.h"

namespace moekit::data {
namespace {

namespace fs = std::filesystem;

moekit::testing::Bytes bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

const std::string kUsers = "1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::15::55117\n";
const std::string kMovies =
    "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Jumanji (1995)::Adventure\n"
    "3::Heat: A Los Angeles Crime Saga (1995)::(no genres listed)\n";
const std::string kRatings =
    "1::1::5::978300760\n1::2::3::978302109\n2::3::4::978301968\n3::1::1::978824291\n";
const std::string kMoviesCsv =
    "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n"
    "2,\"American President, The (1995)\",Comedy|Drama\n3,\"Say \"\"Hi\"\" (2001)\",(no genres listed)\n";
const std::string kRatingsCsv =
    "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,3.5,964981247\n2,2,0.5,964982224\n";

std::string fresh_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "moekit_ml_mutants_" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Mutates one file at a time, the others kept valid.
void replay_each_file(const std::string& dir, const std::vector<std::pair<std::string, std::string>>& files,
                      const std::function<void()>& load, uint64_t seed) {
  for (const auto& [name, text] : files) moekit::testing::write_bytes(dir + "/" + name, bytes_of(text));
  ASSERT_NO_THROW(load());
  for (const auto& [name, text] : files) {
    moekit::testing::MutateOptions o;
    o.seed = seed++;
    o.bit_flips = 50;
    const auto mutants = moekit::testing::make_mutants(bytes_of(text), o);
    const auto counts = moekit::testing::replay_mutants(mutants, dir + "/" + name, load, dir);
    EXPECT_GT(counts.rejected, int(mutants.size()) / 3) << name;
    moekit::testing::write_bytes(dir + "/" + name, bytes_of(text));
  }
}

TEST(ReliabilityMovielensMutations, Ml1mMutantsLoadOrNameTheFolder) {
  const std::string dir = fresh_dir("1m");
  replay_each_file(dir, {{"users.dat", kUsers}, {"movies.dat", kMovies}, {"ratings.dat", kRatings}},
                   [&] { read_movielens_1m(dir); }, 31);
}

TEST(ReliabilityMovielensMutations, LatestCsvMutantsLoadOrNameTheFolder) {
  const std::string dir = fresh_dir("latest");
  replay_each_file(dir, {{"movies.csv", kMoviesCsv}, {"ratings.csv", kRatingsCsv}},
                   [&] { read_movielens_latest(dir); }, 41);
}

// "::" fields overlapping in a short line ("1:::") must not be read as a title.
TEST(ReliabilityMovielensMutations, OverlappingSeparatorsAreRejected) {
  const std::string dir = fresh_dir("overlap");
  moekit::testing::write_bytes(dir + "/users.dat", bytes_of(kUsers));
  moekit::testing::write_bytes(dir + "/movies.dat", bytes_of("1:::Comedy\n"));
  moekit::testing::write_bytes(dir + "/ratings.dat", bytes_of(""));
  try {
    read_movielens_1m(dir);
    FAIL() << "expected moekit::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/movies.dat:1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace moekit::data
