#include "moekit/data/synth_movielens.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <set>

#include "moekit/core/error.h"

namespace moekit::data {
namespace {

SynthMovieLensOptions small_options() {
  return SynthMovieLensOptions().users(60).items(80).mean_ratings(25).min_ratings(20);
}

double pearson(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor x = a.flatten().to(at::kDouble), y = b.flatten().to(at::kDouble);
  const at::Tensor xc = x - x.mean(), yc = y - y.mean();
  return ((xc * yc).sum() / (xc.norm() * yc.norm())).item<double>();
}

TEST(DataSynthMovielens, GeneratorLoaderRoundTripIsExact) {
  const SynthMovieLens s = generate_synth_movielens(small_options().seed(4));
  const std::string dir = ::testing::TempDir() + "moekit_synth_roundtrip";
  std::filesystem::remove_all(dir);
  write_movielens_1m(s.data, dir);
  const MovieLensData back = read_movielens(dir);
  ASSERT_EQ(back.users.size(), 60u);
  ASSERT_EQ(back.movies.size(), 80u);
  ASSERT_EQ(back.ratings.size(), s.data.ratings.size());
  for (size_t i = 0; i < back.users.size(); ++i) {
    EXPECT_EQ(back.users[i].id, s.data.users[i].id);
    EXPECT_EQ(back.users[i].gender, s.data.users[i].gender);
    EXPECT_EQ(back.users[i].age, s.data.users[i].age);
    EXPECT_EQ(back.users[i].occupation, s.data.users[i].occupation);
    EXPECT_EQ(back.users[i].zip, s.data.users[i].zip);
  }
  for (size_t i = 0; i < back.movies.size(); ++i) {
    EXPECT_EQ(back.movies[i].title, s.data.movies[i].title);
    EXPECT_EQ(back.movies[i].genres, s.data.movies[i].genres);
  }
  for (size_t i = 0; i < back.ratings.size(); ++i) {
    EXPECT_EQ(back.ratings[i].user, s.data.ratings[i].user);
    EXPECT_EQ(back.ratings[i].movie, s.data.ratings[i].movie);
    EXPECT_EQ(back.ratings[i].rating, s.data.ratings[i].rating);
    EXPECT_EQ(back.ratings[i].timestamp, s.data.ratings[i].timestamp);
  }
}

TEST(DataSynthMovielens, EveryUserRatesAtLeastMinRatingsDistinctMovies) {
  const SynthMovieLens s = generate_synth_movielens(small_options());
  std::vector<std::set<int64_t>> rated(61);
  for (const auto& r : s.data.ratings) {
    ASSERT_TRUE(r.user >= 1 && r.user <= 60 && r.movie >= 1 && r.movie <= 80);
    EXPECT_TRUE(r.rating == std::round(r.rating) && r.rating >= 1 && r.rating <= 5);
    EXPECT_TRUE(rated[size_t(r.user)].insert(r.movie).second) << "duplicate rating";
  }
  for (int64_t u = 1; u <= 60; ++u) EXPECT_GE(rated[size_t(u)].size(), 20u) << "user " << u;
}

TEST(DataSynthMovielens, SameSeedSameDataOtherSeedOtherData) {
  const auto a = generate_synth_movielens(small_options().seed(1));
  const auto b = generate_synth_movielens(small_options().seed(1));
  const auto c = generate_synth_movielens(small_options().seed(2));
  ASSERT_EQ(a.data.ratings.size(), b.data.ratings.size());
  for (size_t i = 0; i < a.data.ratings.size(); ++i) {
    ASSERT_EQ(a.data.ratings[i].movie, b.data.ratings[i].movie);
    ASSERT_EQ(a.data.ratings[i].rating, b.data.ratings[i].rating);
  }
  EXPECT_TRUE(torch::equal(a.user_latent, b.user_latent));
  EXPECT_FALSE(torch::equal(a.user_latent, c.user_latent));
}

TEST(DataSynthMovielens, TaskCorrelationSetsAffinityCorrelation) {
  for (double rho : {-0.6, 0.0, 0.9}) {
    const auto s = generate_synth_movielens(
        SynthMovieLensOptions().users(300).items(300).mean_ratings(30).task_correlation(rho).seed(5));
    const at::Tensor watch = at::matmul(s.user_latent, s.item_watch.t());
    const at::Tensor rating = at::matmul(s.user_latent, s.item_rating.t());
    EXPECT_NEAR(pearson(watch, rating), rho, 0.12) << "rho " << rho;
  }
}

TEST(DataSynthMovielens, WatchedItemsRateHigherWhenTasksCorrelate) {
  auto mean_stars = [](double rho) {
    const auto s = generate_synth_movielens(
        SynthMovieLensOptions().users(200).items(200).mean_ratings(30).task_correlation(rho).seed(6));
    double sum = 0;
    for (const auto& r : s.data.ratings) sum += r.rating;
    return sum / double(s.data.ratings.size());
  };
  EXPECT_GT(mean_stars(0.9), mean_stars(-0.9) + 0.3);
}

TEST(DataSynthMovielens, RejectsBadOptionsNamingTheField) {
  try {
    generate_synth_movielens(SynthMovieLensOptions().task_correlation(1.5));
    ADD_FAILURE() << "expected moekit::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "task_correlation");
  }
  EXPECT_THROW(generate_synth_movielens(SynthMovieLensOptions().items(10).min_ratings(20)), Error);
}

}  // namespace
}  // namespace moekit::data
