#include "moekit/data/synth_movielens.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
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

// Writes `s` as ML-1M files and checks that the loader reads back every field.
void expect_round_trip(const SynthMovieLens& s, const std::string& name) {
  const std::string dir = ::testing::TempDir() + name;
  std::filesystem::remove_all(dir);
  write_movielens_1m(s.data, dir);
  const MovieLensData back = read_movielens(dir);
  ASSERT_EQ(back.users.size(), s.data.users.size());
  ASSERT_EQ(back.movies.size(), s.data.movies.size());
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

TEST(DataSynthMovielens, GeneratorLoaderRoundTripIsExact) {
  expect_round_trip(generate_synth_movielens(small_options().seed(4)), "moekit_synth_roundtrip");
}

TEST(DataSynthMovielens, SegmentedDataRoundTripsAndSharesUsersAndItemsWithOneSegment) {
  const SynthMovieLens one = generate_synth_movielens(small_options().seed(4));
  const SynthMovieLens three = generate_synth_movielens(small_options().seed(4).segments(3));
  expect_round_trip(three, "moekit_synth_segments_roundtrip");
  // Segments draw after everything else: users, items and segment 0 are the same.
  ASSERT_EQ(three.data.users.size(), one.data.users.size());
  for (size_t u = 0; u < one.data.users.size(); ++u) {
    EXPECT_EQ(three.data.users[u].age, one.data.users[u].age);
  }
  EXPECT_TRUE(torch::equal(three.user_latent, one.user_latent));
  EXPECT_TRUE(torch::equal(three.segment_item_watch[0], one.item_watch));
  EXPECT_EQ(three.segment_item_watch.size(0), 3);
  EXPECT_FALSE(torch::equal(three.segment_item_watch[1], three.segment_item_watch[0]));
  // Each user's segment follows its age bucket.
  const auto& ages = ml1m_age_buckets();
  for (size_t u = 0; u < one.data.users.size(); ++u) {
    const auto bucket = std::find(ages.begin(), ages.end(), one.data.users[u].age) - ages.begin();
    EXPECT_EQ(three.user_segment[int64_t(u)].item<int64_t>(), bucket * 3 / 7) << "user " << u + 1;
  }
}

TEST(DataSynthMovielens, EachSegmentWatchesUnderItsOwnItemModel) {
  const auto s = generate_synth_movielens(
      SynthMovieLensOptions().users(300).items(200).mean_ratings(30).segments(2).seed(7));
  const at::Tensor segment = s.user_segment;
  ASSERT_GT(segment.sum().item<int64_t>(), 20);  // both segments populated
  ASSERT_LT(segment.sum().item<int64_t>(), 280);
  // A watched item's affinity under the user's own model beats the other model's.
  double own = 0, other = 0;
  for (const auto& r : s.data.ratings) {
    const int64_t u = r.user - 1, i = r.movie - 1, seg = segment[u].item<int64_t>();
    const at::Tensor latent = s.user_latent[u];
    own += latent.dot(s.segment_item_watch[seg][i]).item<double>();
    other += latent.dot(s.segment_item_watch[1 - seg][i]).item<double>();
  }
  const double n = double(s.data.ratings.size());
  EXPECT_GT(own / n, other / n + 0.5) << "own " << own / n << ", other " << other / n;
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
  EXPECT_THROW(generate_synth_movielens(SynthMovieLensOptions().segments(8)), Error);
  EXPECT_THROW(generate_synth_movielens(SynthMovieLensOptions().segments(0)), Error);
}

}  // namespace
}  // namespace moekit::data
