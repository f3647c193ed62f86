#include "moekit/data/recsys_dataset.h"

#include <algorithm>
#include <limits>
#include <map>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "moekit/core/error.h"

namespace moekit::data {
namespace {

constexpr int64_t kUserFeatures = 1 + 7 + kMl1mOccupations;

uint64_t draw_below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  const uint64_t limit = max - max % n;
  uint64_t r;
  do r = rng(); while (r >= limit);
  return r % n;
}

struct SplitBuilder {
  std::vector<int64_t> user, item;
  std::vector<float> watch, rating, mask;
  void add(int64_t u, int64_t i, float w, float r, float m) {
    user.push_back(u);
    item.push_back(i);
    watch.push_back(w);
    rating.push_back(r);
    mask.push_back(m);
  }
  RecsysSplit finish() const {
    auto longs = [](const std::vector<int64_t>& v) {
      return at::tensor(at::ArrayRef<int64_t>(v), at::kLong);
    };
    auto floats = [](const std::vector<float>& v) {
      return at::tensor(at::ArrayRef<float>(v), at::kFloat);
    };
    return RecsysSplit{longs(user), longs(item), floats(watch), floats(rating), floats(mask)};
  }
};

}  // namespace

void RecsysOptions::validate() const {
  MOEKIT_CHECK(negatives_ >= 0, "negatives", "must be >= 0, got {}", negatives_);
  MOEKIT_CHECK(valid_fraction_ >= 0 && test_fraction_ >= 0 && valid_fraction_ + test_fraction_ < 1,
               "valid_fraction/test_fraction", "must be >= 0 and sum to < 1, got {} and {}",
               valid_fraction_, test_fraction_);
}

RecsysDataset make_recsys_dataset(const MovieLensData& data, const RecsysOptions& o) {
  o.validate();
  MOEKIT_CHECK(!data.ratings.empty(), "ratings", "the data set has no ratings");
  RecsysDataset out;

  // Dense indices in ascending id order, so they do not depend on file order.
  std::vector<int64_t> user_ids;
  if (data.has_user_attributes()) {
    for (const auto& u : data.users) user_ids.push_back(u.id);
  } else {
    for (const auto& r : data.ratings) user_ids.push_back(r.user);
  }
  std::sort(user_ids.begin(), user_ids.end());
  user_ids.erase(std::unique(user_ids.begin(), user_ids.end()), user_ids.end());
  std::unordered_map<int64_t, int64_t> user_index, item_index;
  for (size_t i = 0; i < user_ids.size(); ++i) user_index[user_ids[i]] = int64_t(i);

  std::vector<const MovieLensMovie*> movies;
  for (const auto& m : data.movies) movies.push_back(&m);
  std::sort(movies.begin(), movies.end(), [](auto* a, auto* b) { return a->id < b->id; });
  std::map<std::string, int64_t> genre_index;
  for (const auto* m : movies)
    for (const auto& g : m->genres) genre_index.emplace(g, 0);
  for (auto& [name, index] : genre_index) {
    index = int64_t(out.genres.size());
    out.genres.push_back(name);
  }
  out.item_features = at::zeros({int64_t(movies.size()), int64_t(out.genres.size())}, at::kFloat);
  auto items = out.item_features.accessor<float, 2>();
  for (size_t i = 0; i < movies.size(); ++i) {
    item_index[movies[i]->id] = int64_t(i);
    out.item_raw_ids.push_back(movies[i]->id);
    for (const auto& g : movies[i]->genres) items[int64_t(i)][genre_index.at(g)] = 1.0f;
  }
  out.user_raw_ids = user_ids;

  const auto& ages = ml1m_age_buckets();
  out.user_features = at::zeros({int64_t(user_ids.size()), data.has_user_attributes() ? kUserFeatures : 0}, at::kFloat);
  if (data.has_user_attributes()) {
    auto users = out.user_features.accessor<float, 2>();
    for (const auto& u : data.users) {
      const int64_t row = user_index.at(u.id);
      users[row][0] = u.gender == 'F' ? 1.0f : 0.0f;
      users[row][1 + (std::find(ages.begin(), ages.end(), u.age) - ages.begin())] = 1.0f;
      users[row][1 + 7 + u.occupation] = 1.0f;
    }
  }

  auto index_of = [](const std::unordered_map<int64_t, int64_t>& index, int64_t id, const char* what) {
    const auto it = index.find(id);
    MOEKIT_CHECK(it != index.end(), "ratings", "{} {} is not in the {} table", what, id, what);
    return it->second;
  };
  std::vector<std::unordered_set<int64_t>> seen(user_ids.size());
  for (const auto& r : data.ratings)
    seen[size_t(index_of(user_index, r.user, "user"))].insert(index_of(item_index, r.movie, "movie"));

  std::mt19937_64 rng(uint64_t(o.seed()));
  const int64_t n_items = out.n_items();
  SplitBuilder train, valid, test;
  for (const auto& r : data.ratings) {
    const int64_t u = user_index.at(r.user), i = item_index.at(r.movie);  // checked above
    // 53-bit uniform in [0, 1), independent of the standard library's distributions.
    const double p = double(rng() >> 11) * 0x1.0p-53;
    SplitBuilder& split = p < o.test_fraction() ? test : p < o.test_fraction() + o.valid_fraction() ? valid : train;
    split.add(u, i, 1.0f, r.rating, 1.0f);
    // Negatives: items this user never rated, uniform, with replacement, so
    // heavy users get as many as anyone else.
    const auto& rated = seen[size_t(u)];
    for (int64_t k = 0; k < o.negatives() && int64_t(rated.size()) < n_items; ++k) {
      int64_t j;
      do j = int64_t(draw_below(rng, uint64_t(n_items))); while (rated.count(j));
      split.add(u, j, 0.0f, 0.0f, 0.0f);
    }
  }
  out.train = train.finish();
  out.valid = valid.finish();
  out.test = test.finish();
  return out;
}

}  // namespace moekit::data
