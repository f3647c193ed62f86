#include "moekit/data/recsys_dataset.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "moekit/core/error.h"
#include "moekit/data/synth_movielens.h"

namespace moekit::data {
namespace {

MovieLensData small_data() {
  return generate_synth_movielens(
             SynthMovieLensOptions().users(40).items(60).mean_ratings(25).min_ratings(20).seed(2))
      .data;
}

TEST(DataRecsysDataset, SplitsPartitionTheRatingsWithNegativesAlongside) {
  const MovieLensData raw = small_data();
  const RecsysDataset ds = make_recsys_dataset(raw, RecsysOptions().negatives(2).seed(1));
  int64_t positives = 0;
  for (const RecsysSplit* s : {&ds.train, &ds.valid, &ds.test}) {
    ASSERT_GT(s->size(), 0);
    EXPECT_EQ(s->watch.sum().item<double>() * 3, double(s->size()));  // 2 negatives each
    EXPECT_TRUE(torch::equal(s->rating_mask, s->watch));
    EXPECT_EQ((s->rating * (1 - s->watch)).abs().sum().item<double>(), 0.0);
    EXPECT_EQ(s->user.scalar_type(), at::kLong);
    positives += s->watch.sum().item<int64_t>();
  }
  EXPECT_EQ(positives, int64_t(raw.ratings.size()));
  const double n = double(raw.ratings.size());
  EXPECT_NEAR(ds.train.watch.sum().item<double>() / n, 0.8, 0.05);
}

TEST(DataRecsysDataset, NegativesAreItemsTheUserNeverRated) {
  const MovieLensData raw = small_data();
  const RecsysDataset ds = make_recsys_dataset(raw, RecsysOptions().negatives(3));
  std::set<std::pair<int64_t, int64_t>> rated;
  for (const auto& r : raw.ratings) rated.insert({r.user, r.movie});
  for (const RecsysSplit* s : {&ds.train, &ds.valid, &ds.test}) {
    for (int64_t i = 0; i < s->size(); ++i) {
      const auto key = std::make_pair(ds.user_raw_ids[size_t(s->user[i].item<int64_t>())],
                                      ds.item_raw_ids[size_t(s->item[i].item<int64_t>())]);
      if (s->watch[i].item<float>() == 1.0f) {
        EXPECT_EQ(rated.count(key), 1u);
      } else {
        EXPECT_EQ(rated.count(key), 0u) << "negative is a watched item";
      }
    }
  }
}

TEST(DataRecsysDataset, SameSeedSameSplitOtherSeedOtherSplit) {
  const MovieLensData raw = small_data();
  const auto a = make_recsys_dataset(raw, RecsysOptions().seed(3));
  const auto b = make_recsys_dataset(raw, RecsysOptions().seed(3));
  const auto c = make_recsys_dataset(raw, RecsysOptions().seed(4));
  EXPECT_TRUE(torch::equal(a.train.item, b.train.item));
  EXPECT_TRUE(torch::equal(a.test.user, b.test.user));
  EXPECT_TRUE(torch::equal(a.valid.rating, b.valid.rating));
  EXPECT_FALSE(a.train.size() == c.train.size() && torch::equal(a.train.item, c.train.item));
}

TEST(DataRecsysDataset, FeaturesEncodeUserAttributesAndGenres) {
  MovieLensData raw;
  raw.users = {{10, 'F', 25, 3, "00000"}, {20, 'M', 56, 20, "11111"}};
  raw.movies = {{7, "B (2000)", {"Drama", "Comedy"}}, {5, "A (1999)", {"Action"}}};
  raw.ratings = {{20, 7, 4.0f, 1}, {10, 5, 2.0f, 2}};
  const auto ds = make_recsys_dataset(raw, RecsysOptions().negatives(1).valid_fraction(0).test_fraction(0));
  EXPECT_EQ(ds.user_raw_ids, (std::vector<int64_t>{10, 20}));
  EXPECT_EQ(ds.item_raw_ids, (std::vector<int64_t>{5, 7}));
  EXPECT_EQ(ds.genres, (std::vector<std::string>{"Action", "Comedy", "Drama"}));
  EXPECT_TRUE(torch::equal(ds.item_features, torch::tensor({{1.f, 0.f, 0.f}, {0.f, 1.f, 1.f}})));
  ASSERT_EQ(ds.user_features.sizes(), at::IntArrayRef({2, 29}));
  // user 10: female, age bucket 25 (index 2), occupation 3
  EXPECT_EQ(ds.user_features[0][0].item<float>(), 1.0f);
  EXPECT_EQ(ds.user_features[0][1 + 2].item<float>(), 1.0f);
  EXPECT_EQ(ds.user_features[0][8 + 3].item<float>(), 1.0f);
  EXPECT_EQ(ds.user_features[0].sum().item<float>(), 3.0f);
  // user 20: male, age 56 (index 6), occupation 20
  EXPECT_EQ(ds.user_features[1][1 + 6].item<float>(), 1.0f);
  EXPECT_EQ(ds.user_features[1][8 + 20].item<float>(), 1.0f);
  EXPECT_EQ(ds.user_features[1].sum().item<float>(), 2.0f);
  // both ratings in train, each with the one item its user did not rate
  EXPECT_TRUE(torch::equal(ds.train.user, torch::tensor({1, 1, 0, 0}, torch::kLong)));
  EXPECT_TRUE(torch::equal(ds.train.item, torch::tensor({1, 0, 0, 1}, torch::kLong)));
  EXPECT_TRUE(torch::equal(ds.train.rating, torch::tensor({4.f, 0.f, 2.f, 0.f})));
  EXPECT_EQ(ds.valid.size(), 0);
}

TEST(DataRecsysDataset, RejectsFractionsThatLeaveNoTrainingData) {
  EXPECT_THROW(make_recsys_dataset(small_data(), RecsysOptions().valid_fraction(0.6).test_fraction(0.5)),
               Error);
}

}  // namespace
}  // namespace moekit::data
