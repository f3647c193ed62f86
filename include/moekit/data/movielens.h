#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace moekit::data {

/// One rating. ML-1M has whole stars 1..5; ML-latest half stars 0.5..5.
struct MovieLensRating {
  int64_t user = 0, movie = 0;
  float rating = 0;
  int64_t timestamp = 0;
};

/// ML-1M users.dat fields; ML-latest has no user file.
struct MovieLensUser {
  int64_t id = 0;
  char gender = 'M';       // 'M' or 'F'
  int64_t age = 1;         // ML-1M age bucket: 1, 18, 25, 35, 45, 50, 56
  int64_t occupation = 0;  // 0..20
  std::string zip;
};

struct MovieLensMovie {
  int64_t id = 0;
  std::string title;
  std::vector<std::string> genres;  // "(no genres listed)" is read as no genre
};

/// The tables of a MovieLens release, as in the files.
struct MovieLensData {
  std::vector<MovieLensRating> ratings;
  std::vector<MovieLensUser> users;  // empty for ML-latest
  std::vector<MovieLensMovie> movies;
  bool has_user_attributes() const { return !users.empty(); }
};

/// The ML-1M age buckets, in order; an age outside them is rejected.
const std::vector<int64_t>& ml1m_age_buckets();
constexpr int64_t kMl1mOccupations = 21;

/// Reads ML-1M: DIR/{ratings,users,movies}.dat, fields separated by "::".
MovieLensData read_movielens_1m(const std::string& dir);

/// Reads ML-latest(-small): DIR/{ratings,movies}.csv with a header line;
/// titles may be quoted ("..."), with "" for a quote inside.
MovieLensData read_movielens_latest(const std::string& dir);

/// ML-1M when DIR/ratings.dat exists, else ML-latest when DIR/ratings.csv does.
MovieLensData read_movielens(const std::string& dir);

/// Writes ML-1M files (the generator's output format).
void write_movielens_1m(const MovieLensData& data, const std::string& dir);

/// Every reader throws moekit::Error naming "file:line" and the field that is
/// wrong for a malformed line, a rating out of range, a duplicate id, or a
/// rating whose user or movie is not in the other files.

}  // namespace moekit::data
