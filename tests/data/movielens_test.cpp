#include "moekit/data/movielens.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "moekit/core/error.h"

namespace moekit::data {
namespace {

std::string make_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "moekit_ml_" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

const char* kUsers = "1::F::1::10::48067\n2::M::56::16::70072\n";
const char* kMovies =
    "1::Toy Story (1995)::Animation|Children's|Comedy\n"
    "2::Star Trek: The Motion Picture (1979)::Action|Adventure|Sci-Fi\n";
const char* kRatings = "1::1::5::978300760\n1::2::3::978302109\n2::1::4::978301968\n";

std::string ml1m_dir(const std::string& name, const std::string& users, const std::string& movies,
                     const std::string& ratings) {
  const std::string dir = make_dir(name);
  write_text(dir + "/users.dat", users);
  write_text(dir + "/movies.dat", movies);
  write_text(dir + "/ratings.dat", ratings);
  return dir;
}

TEST(DataMovielens, ReadsMl1mFiles) {
  const std::string dir = ml1m_dir("ml1m", kUsers, kMovies, kRatings);
  const MovieLensData d = read_movielens(dir);
  ASSERT_EQ(d.users.size(), 2u);
  EXPECT_EQ(d.users[0].gender, 'F');
  EXPECT_EQ(d.users[1].age, 56);
  EXPECT_EQ(d.users[1].occupation, 16);
  EXPECT_EQ(d.users[0].zip, "48067");
  ASSERT_EQ(d.movies.size(), 2u);
  EXPECT_EQ(d.movies[1].title, "Star Trek: The Motion Picture (1979)");
  EXPECT_EQ(d.movies[0].genres, (std::vector<std::string>{"Animation", "Children's", "Comedy"}));
  ASSERT_EQ(d.ratings.size(), 3u);
  EXPECT_EQ(d.ratings[1].user, 1);
  EXPECT_EQ(d.ratings[1].movie, 2);
  EXPECT_EQ(d.ratings[1].rating, 3.0f);
  EXPECT_EQ(d.ratings[2].timestamp, 978301968);
  EXPECT_TRUE(d.has_user_attributes());
}

TEST(DataMovielens, ReadsMlLatestCsvWithQuotedTitles) {
  const std::string dir = make_dir("latest");
  write_text(dir + "/movies.csv",
             "movieId,title,genres\r\n"
             "11,\"American President, The (1995)\",Comedy|Drama|Romance\r\n"
             "12,\"Say \"\"Hi\"\" (2001)\",(no genres listed)\r\n"
             "13,Heat (1995),Action|Crime|Thriller\r\n");
  write_text(dir + "/ratings.csv",
             "userId,movieId,rating,timestamp\n1,11,3.5,964982703\n1,13,4.0,964981247\n7,12,0.5,964982224\n");
  const MovieLensData d = read_movielens(dir);
  ASSERT_EQ(d.movies.size(), 3u);
  EXPECT_EQ(d.movies[0].title, "American President, The (1995)");
  EXPECT_EQ(d.movies[0].genres.size(), 3u);
  EXPECT_EQ(d.movies[1].title, "Say \"Hi\" (2001)");
  EXPECT_TRUE(d.movies[1].genres.empty());
  EXPECT_EQ(d.movies[2].title, "Heat (1995)");
  ASSERT_EQ(d.ratings.size(), 3u);
  EXPECT_EQ(d.ratings[0].rating, 3.5f);
  EXPECT_EQ(d.ratings[2].user, 7);
  EXPECT_EQ(d.ratings[2].rating, 0.5f);
  EXPECT_FALSE(d.has_user_attributes());
}

struct BadLine {
  std::string file;      // which file gets the bad line
  std::string content;   // that file's content
  std::string expected;  // "file:line" suffix plus text the message must hold
  std::string reason;
};

class DataMovielensBadLine : public ::testing::TestWithParam<BadLine> {};

TEST_P(DataMovielensBadLine, RejectsWithFileAndLine) {
  const BadLine& p = GetParam();
  const std::string dir = ml1m_dir("bad", p.file == "users.dat" ? p.content : kUsers,
                                   p.file == "movies.dat" ? p.content : kMovies,
                                   p.file == "ratings.dat" ? p.content : kRatings);
  try {
    read_movielens_1m(dir);
    ADD_FAILURE() << "expected moekit::Error for " << p.expected;
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(dir + "/" + p.file + ":" + p.expected), std::string::npos) << what;
    EXPECT_NE(what.find(p.reason), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Ml1m, DataMovielensBadLine,
    ::testing::Values(
        BadLine{"ratings.dat", "1::1::5::978300760\n1::2::3\n", "2", "expected 4 fields"},
        BadLine{"ratings.dat", "1::1::5::978300760\n\n1::x::3::1\n", "3", "MovieID: expected an integer"},
        BadLine{"ratings.dat", "1::1::7::978300760\n", "1", "outside [0.5, 5]"},
        BadLine{"ratings.dat", "1::1::4::97830x\n", "1", "Timestamp"},
        BadLine{"ratings.dat", "1::1::4::1\n9::1::4::1\n", "2", "UserID 9 is not in the users file"},
        BadLine{"ratings.dat", "1::5::4::1\n", "1", "MovieID 5 is not in the movies file"},
        BadLine{"ratings.dat", "1::1::4::1\n2::2::4::1\n1::1::3::2\n", "3", "already at line 1"},
        BadLine{"users.dat", "1::F::1::10::48067\n2::X::56::16::70072\n", "2", "Gender"},
        BadLine{"users.dat", "1::F::1::10::48067\n2::M::30::16::70072\n", "2", "Age: 30"},
        BadLine{"users.dat", "1::F::1::21::48067\n2::M::56::16::70072\n", "1", "Occupation: 21"},
        BadLine{"users.dat", "1::F::1::10::48067\n1::M::56::16::70072\n", "2", "UserID 1 already defined"},
        BadLine{"movies.dat", "1::Toy Story (1995)::Animation\n2::No genres\n", "2", "expected 3 fields"},
        BadLine{"movies.dat", "1::Toy Story (1995)::Animation||Comedy\n", "1", "empty genre"}));

TEST(DataMovielens, RejectsMalformedCsvWithFileAndLine) {
  const std::string dir = make_dir("bad_csv");
  write_text(dir + "/movies.csv", "movieId,title,genres\n1,\"Unclosed (1995),Drama\n");
  write_text(dir + "/ratings.csv", "userId,movieId,rating,timestamp\n");
  try {
    read_movielens(dir);
    ADD_FAILURE() << "expected moekit::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/movies.csv:2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("unterminated"), std::string::npos) << e.what();
  }
  write_text(dir + "/movies.csv", "id,title,genres\n");
  EXPECT_THROW(read_movielens(dir), Error);
}

TEST(DataMovielens, RejectsFolderWithoutRatings) {
  const std::string dir = make_dir("empty");
  try {
    read_movielens(dir);
    ADD_FAILURE() << "expected moekit::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ratings.dat"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace moekit::data
