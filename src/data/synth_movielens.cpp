#include "moekit/data/synth_movielens.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "moekit/core/error.h"

namespace moekit::data {
namespace {

constexpr double kPi = 3.14159265358979323846;

const std::vector<std::string>& ml1m_genres() {
  static const std::vector<std::string> genres{
      "Action",  "Adventure", "Animation", "Children's", "Comedy",  "Crime",
      "Documentary", "Drama", "Fantasy",   "Film-Noir",  "Horror",  "Musical",
      "Mystery", "Romance",   "Sci-Fi",    "Thriller",   "War",     "Western"};
  return genres;
}

// Distributions written out, so the files do not depend on the standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  double uniform() { return double(engine_() >> 11) * 0x1.0p-53; }
  int64_t below(int64_t n) {
    const uint64_t max = std::numeric_limits<uint64_t>::max();
    const uint64_t limit = max - max % uint64_t(n);
    uint64_t r;
    do r = engine_(); while (r >= limit);
    return int64_t(r % uint64_t(n));
  }
  double normal() {  // Box-Muller; the second value is dropped for simplicity
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
  }
  double gumbel() { return -std::log(-std::log(1.0 - uniform() * (1.0 - 1e-12))); }

 private:
  std::mt19937_64 engine_;
};

at::Tensor normal_matrix(Rng& rng, int64_t rows, int64_t cols, double std) {
  at::Tensor t = at::empty({rows, cols}, at::kFloat);
  float* p = t.data_ptr<float>();
  for (int64_t i = 0; i < rows * cols; ++i) p[i] = float(std * rng.normal());
  return t;
}

}  // namespace

void SynthMovieLensOptions::validate() const {
  MOEKIT_CHECK(users_ >= 1, "users", "must be >= 1, got {}", users_);
  MOEKIT_CHECK(items_ >= 2, "items", "must be >= 2, got {}", items_);
  MOEKIT_CHECK(latent_dim_ >= 1, "latent_dim", "must be >= 1, got {}", latent_dim_);
  MOEKIT_CHECK(min_ratings_ >= 1 && min_ratings_ <= items_, "min_ratings",
               "must be in [1, items = {}], got {}", items_, min_ratings_);
  MOEKIT_CHECK(mean_ratings_ >= min_ratings_ && mean_ratings_ <= items_, "mean_ratings",
               "must be in [min_ratings = {}, items = {}], got {}", min_ratings_, items_, mean_ratings_);
  MOEKIT_CHECK(task_correlation_ >= -1 && task_correlation_ <= 1, "task_correlation",
               "must be in [-1, 1], got {}", task_correlation_);
  MOEKIT_CHECK(rating_noise_ >= 0, "rating_noise", "must be >= 0, got {}", rating_noise_);
  MOEKIT_CHECK(segments_ >= 1 && segments_ <= int64_t(ml1m_age_buckets().size()), "segments",
               "must be in [1, {}] (one age bucket at least per segment), got {}",
               ml1m_age_buckets().size(), segments_);
}

int64_t segment_of_age_bucket(int64_t bucket, int64_t segments) {
  return bucket * segments / int64_t(ml1m_age_buckets().size());
}

SynthMovieLens generate_synth_movielens(const SynthMovieLensOptions& o) {
  o.validate();
  Rng rng(uint64_t(o.seed()));
  const int64_t d = o.latent_dim(), n_users = o.users(), n_items = o.items();
  const auto& genres = ml1m_genres();
  const auto& ages = ml1m_age_buckets();
  const int64_t n_genres = int64_t(genres.size()), n_ages = int64_t(ages.size());
  SynthMovieLens out;

  // Attribute and genre embeddings carry half of each latent's variance.
  const at::Tensor gender_emb = normal_matrix(rng, 2, d, 0.4);
  const at::Tensor age_emb = normal_matrix(rng, n_ages, d, 0.4);
  const at::Tensor occ_emb = normal_matrix(rng, kMl1mOccupations, d, 0.4);
  const at::Tensor genre_watch = normal_matrix(rng, n_genres, d, 0.7);
  const at::Tensor genre_other = normal_matrix(rng, n_genres, d, 0.7);

  out.user_latent = normal_matrix(rng, n_users, d, 0.7);
  std::vector<int64_t> user_segment;
  for (int64_t u = 0; u < n_users; ++u) {
    MovieLensUser user;
    user.id = u + 1;
    const int64_t g = rng.uniform() < 0.28 ? 1 : 0;  // ML-1M is ~28% female
    const int64_t a = rng.below(n_ages), occ = rng.below(kMl1mOccupations);
    user.gender = g ? 'F' : 'M';
    user.age = ages[size_t(a)];
    user.occupation = occ;
    user.zip = fmt::format("{:05d}", rng.below(100000));
    user_segment.push_back(segment_of_age_bucket(a, o.segments()));
    out.user_latent[u].add_(gender_emb[g] + age_emb[a] + occ_emb[occ]);
    out.data.users.push_back(std::move(user));
  }

  out.item_watch = normal_matrix(rng, n_items, d, 0.7);
  std::vector<std::vector<int64_t>> item_genres;
  at::Tensor item_other = normal_matrix(rng, n_items, d, 0.7);
  for (int64_t i = 0; i < n_items; ++i) {
    MovieLensMovie movie;
    movie.id = i + 1;
    movie.title = fmt::format("Synthetic Movie {} ({})", i + 1, 1920 + rng.below(81));
    const int64_t k = 1 + rng.below(3);
    std::vector<int64_t> picked;
    while (int64_t(picked.size()) < k) {
      const int64_t g = rng.below(n_genres);
      if (std::find(picked.begin(), picked.end(), g) == picked.end()) picked.push_back(g);
    }
    std::sort(picked.begin(), picked.end());
    item_genres.push_back(picked);
    for (int64_t g : picked) {
      movie.genres.push_back(genres[size_t(g)]);
      out.item_watch[i].add_(genre_watch[g]);
      item_other[i].add_(genre_other[g]);
    }
    out.data.movies.push_back(std::move(movie));
  }
  // a and e have the same distribution, so corr(u·a, u·b) = ρ for every user.
  const double rho = o.task_correlation();
  out.item_rating = rho * out.item_watch + std::sqrt(std::max(0.0, 1.0 - rho * rho)) * item_other;
  out.item_popularity = normal_matrix(rng, n_items, 1, 1.0).squeeze(1);
  out.item_quality = normal_matrix(rng, n_items, 1, 0.5).squeeze(1);

  // Segments s >= 1 draw after everything S = 1 draws, so S = 1 is unchanged.
  std::vector<at::Tensor> seg_watch{out.item_watch}, seg_rating{out.item_rating};
  for (int64_t seg = 1; seg < o.segments(); ++seg) {
    const at::Tensor g_watch = normal_matrix(rng, n_genres, d, 0.7);
    const at::Tensor g_other = normal_matrix(rng, n_genres, d, 0.7);
    at::Tensor a = normal_matrix(rng, n_items, d, 0.7), e = normal_matrix(rng, n_items, d, 0.7);
    for (int64_t i = 0; i < n_items; ++i) {
      for (int64_t g : item_genres[size_t(i)]) {
        a[i].add_(g_watch[g]);
        e[i].add_(g_other[g]);
      }
    }
    seg_watch.push_back(a);
    seg_rating.push_back(rho * a + std::sqrt(std::max(0.0, 1.0 - rho * rho)) * e);
  }
  out.segment_item_watch = at::stack(seg_watch);
  out.segment_item_rating = at::stack(seg_rating);
  out.user_segment = at::tensor(user_segment, at::kLong);

  // Each user's affinities under its own segment's item model (segment 0's
  // computed exactly as with one segment, so S = 1 keeps its bytes).
  const double scale = 1.0 / std::sqrt(double(d));
  const auto under_segments = [&](const at::Tensor& items, const at::Tensor& offset) {
    std::vector<at::Tensor> per_segment;
    for (int64_t seg = 0; seg < o.segments(); ++seg) {
      per_segment.push_back(at::matmul(out.user_latent, items[seg].t()) * scale + offset);
    }
    const at::Tensor all = at::stack(per_segment);  // [S, users, items]
    const at::Tensor index = out.user_segment.view({1, n_users, 1}).expand({1, n_users, n_items});
    return all.gather(0, index).squeeze(0).contiguous();
  };
  const at::Tensor watch_logit = under_segments(out.segment_item_watch, out.item_popularity);
  const at::Tensor rating_aff = under_segments(out.segment_item_rating, out.item_quality);
  auto watch = watch_logit.accessor<float, 2>();
  auto affinity = rating_aff.accessor<float, 2>();
  // Ratings per user: min + a geometric-like tail with the requested mean.
  const double extra_mean = double(o.mean_ratings() - o.min_ratings());
  std::vector<std::pair<double, int64_t>> keys(static_cast<size_t>(n_items));
  int64_t timestamp = 956703932;  // ML-1M's first timestamp
  for (int64_t u = 0; u < n_users; ++u) {
    const int64_t extra = extra_mean > 0 ? int64_t(-extra_mean * std::log(1.0 - rng.uniform())) : 0;
    const int64_t count = std::min(n_items, o.min_ratings() + extra);
    for (int64_t i = 0; i < n_items; ++i) keys[size_t(i)] = {watch[u][i] + rng.gumbel(), i};
    std::partial_sort(keys.begin(), keys.begin() + count, keys.end(), std::greater<>());
    std::vector<int64_t> chosen;
    for (int64_t c = 0; c < count; ++c) chosen.push_back(keys[size_t(c)].second);
    std::sort(chosen.begin(), chosen.end());
    for (int64_t i : chosen) {
      const double z = affinity[u][i] + o.rating_noise() * rng.normal();
      const double stars = std::clamp(std::round(3.3 + 0.9 * z), 1.0, 5.0);
      timestamp += 1 + rng.below(600);
      out.data.ratings.push_back(MovieLensRating{u + 1, i + 1, float(stars), timestamp});
    }
  }
  return out;
}

}  // namespace moekit::data
