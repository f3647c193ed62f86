#include "moekit/data/movielens.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <unordered_map>
#include <unordered_set>

#include "moekit/core/error.h"
#include "moekit/core/parse.h"

namespace moekit::data {
namespace {

// Lines of one file, with the "file:line" location of the current one.
class LineReader {
 public:
  explicit LineReader(std::string path) : path_(std::move(path)), in_(path_, std::ios::binary) {
    MOEKIT_CHECK(in_.good(), path_, "cannot open file");
  }
  bool next(std::string& line) {
    if (!std::getline(in_, line)) return false;
    ++line_no_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
  }
  std::string where() const { return fmt::format("{}:{}", path_, line_no_); }
  int64_t line_no() const { return line_no_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ifstream in_;
  int64_t line_no_ = 0;
};

std::vector<std::string> split_on(const std::string& line, const std::string& sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t pos = line.find(sep, start);
    if (pos == std::string::npos) break;
    out.push_back(line.substr(start, pos - start));
    start = pos + sep.size();
  }
  out.push_back(line.substr(start));
  return out;
}

// RFC 4180 fields: quoted fields may hold commas and "" for a quote.
std::vector<std::string> split_csv(const std::string& line, const std::string& where) {
  std::vector<std::string> out;
  std::string field;
  size_t i = 0;
  while (true) {
    field.clear();
    if (i < line.size() && line[i] == '"') {
      ++i;
      while (true) {
        MOEKIT_CHECK(i < line.size(), where, "unterminated quoted field {}", out.size() + 1);
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field.push_back(line[i++]);
      }
      MOEKIT_CHECK(i == line.size() || line[i] == ',', where,
                   "unexpected character after the closing quote of field {}", out.size() + 1);
    } else {
      while (i < line.size() && line[i] != ',') {
        MOEKIT_CHECK(line[i] != '"', where, "stray quote in unquoted field {}", out.size() + 1);
        field.push_back(line[i++]);
      }
    }
    out.push_back(field);
    if (i == line.size()) break;
    ++i;  // the comma
  }
  return out;
}

int64_t parse_int(const std::string& text, const std::string& where, const char* field) {
  return parse_value<int64_t>(text, where + ": " + field);
}

float parse_rating(const std::string& text, const std::string& where) {
  const double v = parse_value<double>(text, where + ": Rating");
  MOEKIT_CHECK(v >= 0.5 && v <= 5.0, where, "Rating: {} is outside [0.5, 5]", text);
  return float(v);
}

std::vector<std::string> parse_genres(const std::string& text, const std::string& where) {
  std::vector<std::string> genres;
  if (text == "(no genres listed)") return genres;
  for (auto& g : split_on(text, "|")) {
    MOEKIT_CHECK(!g.empty(), where, "Genres: empty genre in '{}'", text);
    genres.push_back(g);
  }
  return genres;
}

void check_fields(const std::vector<std::string>& fields, size_t n, const LineReader& r,
                  const char* format) {
  MOEKIT_CHECK(fields.size() == n, r.where(), "expected {} fields ({}), got {}", n, format,
               fields.size());
}

void check_ratings(const MovieLensData& data, const std::string& ratings_path,
                   const std::vector<int64_t>& rating_lines) {
  std::unordered_set<int64_t> users, movies;
  for (const auto& u : data.users) users.insert(u.id);
  for (const auto& m : data.movies) movies.insert(m.id);
  std::unordered_map<uint64_t, int64_t> seen;
  seen.reserve(data.ratings.size());
  for (size_t i = 0; i < data.ratings.size(); ++i) {
    const auto& r = data.ratings[i];
    const std::string where = fmt::format("{}:{}", ratings_path, rating_lines[i]);
    MOEKIT_CHECK(data.users.empty() || users.count(r.user), where,
                 "UserID {} is not in the users file", r.user);
    MOEKIT_CHECK(movies.count(r.movie), where, "MovieID {} is not in the movies file", r.movie);
    const uint64_t key = (uint64_t(r.user) << 32) ^ uint64_t(r.movie);
    const auto [it, fresh] = seen.emplace(key, rating_lines[i]);
    MOEKIT_CHECK(fresh, where, "user {} rated movie {} already at line {}", r.user, r.movie,
                 it->second);
  }
}

template <typename T>
void check_unique_ids(const std::vector<T>& rows, const std::vector<int64_t>& lines,
                      const std::string& path, const char* field) {
  std::unordered_map<int64_t, int64_t> seen;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto [it, fresh] = seen.emplace(rows[i].id, lines[i]);
    MOEKIT_CHECK(fresh, fmt::format("{}:{}", path, lines[i]), "{} {} already defined at line {}",
                 field, rows[i].id, it->second);
  }
}

void check_id(int64_t id, const std::string& where, const char* field) {
  // Ids go into 32-bit halves of a key and must fit an embedding table.
  MOEKIT_CHECK(id >= 0 && id < (int64_t(1) << 31), where, "{}: {} is out of range", field, id);
}

}  // namespace

const std::vector<int64_t>& ml1m_age_buckets() {
  static const std::vector<int64_t> buckets{1, 18, 25, 35, 45, 50, 56};
  return buckets;
}

MovieLensData read_movielens_1m(const std::string& dir) {
  MovieLensData data;
  std::string line;
  std::vector<int64_t> user_lines, movie_lines, rating_lines;

  LineReader users(dir + "/users.dat");
  while (users.next(line)) {
    if (line.empty()) continue;
    const auto f = split_on(line, "::");
    check_fields(f, 5, users, "UserID::Gender::Age::Occupation::Zip-code");
    MovieLensUser u;
    u.id = parse_int(f[0], users.where(), "UserID");
    check_id(u.id, users.where(), "UserID");
    MOEKIT_CHECK(f[1] == "M" || f[1] == "F", users.where(), "Gender: expected M or F, got '{}'", f[1]);
    u.gender = f[1][0];
    u.age = parse_int(f[2], users.where(), "Age");
    const auto& ages = ml1m_age_buckets();
    MOEKIT_CHECK(std::find(ages.begin(), ages.end(), u.age) != ages.end(), users.where(),
                 "Age: {} is not an ML-1M age bucket (1, 18, 25, 35, 45, 50, 56)", u.age);
    u.occupation = parse_int(f[3], users.where(), "Occupation");
    MOEKIT_CHECK(u.occupation >= 0 && u.occupation < kMl1mOccupations, users.where(),
                 "Occupation: {} is not in [0, {})", u.occupation, kMl1mOccupations);
    u.zip = f[4];
    data.users.push_back(std::move(u));
    user_lines.push_back(users.line_no());
  }
  check_unique_ids(data.users, user_lines, users.path(), "UserID");

  LineReader movies(dir + "/movies.dat");
  while (movies.next(line)) {
    if (line.empty()) continue;
    // Titles may hold ':' but never "::"; split at the first and last separator.
    const size_t a = line.find("::"), b = line.rfind("::");
    // b >= a + 2: in "1:::x" the two separators overlap, and the title
    // length b - a - 2 would wrap around.
    MOEKIT_CHECK(a != std::string::npos && b >= a + 2, movies.where(),
                 "expected 3 fields (MovieID::Title::Genres)");
    MovieLensMovie m;
    m.id = parse_int(line.substr(0, a), movies.where(), "MovieID");
    check_id(m.id, movies.where(), "MovieID");
    m.title = line.substr(a + 2, b - a - 2);
    m.genres = parse_genres(line.substr(b + 2), movies.where());
    data.movies.push_back(std::move(m));
    movie_lines.push_back(movies.line_no());
  }
  check_unique_ids(data.movies, movie_lines, movies.path(), "MovieID");

  LineReader ratings(dir + "/ratings.dat");
  while (ratings.next(line)) {
    if (line.empty()) continue;
    const auto f = split_on(line, "::");
    check_fields(f, 4, ratings, "UserID::MovieID::Rating::Timestamp");
    MovieLensRating r;
    r.user = parse_int(f[0], ratings.where(), "UserID");
    r.movie = parse_int(f[1], ratings.where(), "MovieID");
    check_id(r.user, ratings.where(), "UserID");
    check_id(r.movie, ratings.where(), "MovieID");
    r.rating = parse_rating(f[2], ratings.where());
    r.timestamp = parse_int(f[3], ratings.where(), "Timestamp");
    data.ratings.push_back(r);
    rating_lines.push_back(ratings.line_no());
  }
  check_ratings(data, ratings.path(), rating_lines);
  return data;
}

MovieLensData read_movielens_latest(const std::string& dir) {
  MovieLensData data;
  std::string line;
  std::vector<int64_t> movie_lines, rating_lines;

  LineReader movies(dir + "/movies.csv");
  MOEKIT_CHECK(movies.next(line) && line == "movieId,title,genres", movies.where(),
               "expected the header 'movieId,title,genres'");
  while (movies.next(line)) {
    if (line.empty()) continue;
    const auto f = split_csv(line, movies.where());
    check_fields(f, 3, movies, "movieId,title,genres");
    MovieLensMovie m;
    m.id = parse_int(f[0], movies.where(), "movieId");
    check_id(m.id, movies.where(), "movieId");
    m.title = f[1];
    m.genres = parse_genres(f[2], movies.where());
    data.movies.push_back(std::move(m));
    movie_lines.push_back(movies.line_no());
  }
  check_unique_ids(data.movies, movie_lines, movies.path(), "movieId");

  LineReader ratings(dir + "/ratings.csv");
  MOEKIT_CHECK(ratings.next(line) && line == "userId,movieId,rating,timestamp", ratings.where(),
               "expected the header 'userId,movieId,rating,timestamp'");
  while (ratings.next(line)) {
    if (line.empty()) continue;
    const auto f = split_csv(line, ratings.where());
    check_fields(f, 4, ratings, "userId,movieId,rating,timestamp");
    MovieLensRating r;
    r.user = parse_int(f[0], ratings.where(), "userId");
    r.movie = parse_int(f[1], ratings.where(), "movieId");
    check_id(r.user, ratings.where(), "userId");
    check_id(r.movie, ratings.where(), "movieId");
    r.rating = parse_rating(f[2], ratings.where());
    r.timestamp = parse_int(f[3], ratings.where(), "timestamp");
    data.ratings.push_back(r);
    rating_lines.push_back(ratings.line_no());
  }
  check_ratings(data, ratings.path(), rating_lines);
  return data;
}

MovieLensData read_movielens(const std::string& dir) {
  namespace fs = std::filesystem;
  if (fs::exists(dir + "/ratings.dat")) return read_movielens_1m(dir);
  if (fs::exists(dir + "/ratings.csv")) return read_movielens_latest(dir);
  throw Error(dir, "no MovieLens data: expected ratings.dat (ML-1M) or ratings.csv (ML-latest)");
}

void write_movielens_1m(const MovieLensData& data, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  MOEKIT_CHECK(!ec, dir, "cannot create folder: {}", ec.message());
  auto write_file = [&](const std::string& name, auto&& write_rows) {
    const std::string path = dir + "/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    MOEKIT_CHECK(out.good(), path, "cannot open for writing");
    write_rows(out);
    out.close();
    MOEKIT_CHECK(out.good(), path, "write failed");
  };
  write_file("users.dat", [&](std::ofstream& out) {
    for (const auto& u : data.users)
      out << fmt::format("{}::{}::{}::{}::{}\n", u.id, u.gender, u.age, u.occupation, u.zip);
  });
  write_file("movies.dat", [&](std::ofstream& out) {
    for (const auto& m : data.movies) {
      std::string genres;
      for (const auto& g : m.genres) genres += (genres.empty() ? "" : "|") + g;
      out << fmt::format("{}::{}::{}\n", m.id, m.title, genres.empty() ? "(no genres listed)" : genres);
    }
  });
  write_file("ratings.dat", [&](std::ofstream& out) {
    for (const auto& r : data.ratings)
      out << fmt::format("{}::{}::{}::{}\n", r.user, r.movie, r.rating, r.timestamp);
  });
}

}  // namespace moekit::data
