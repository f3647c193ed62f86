#pragma once
#include <ATen/ATen.h>
#include <torch/arg.h>

#include <cstdint>
#include <string>

#include "moekit/data/movielens.h"

namespace moekit::data {

/// A latent-factor generator of MovieLens-like data (ML-1M files), since
/// MovieLens itself cannot be installed here.
///
/// Users have ML-1M attributes (gender, age bucket, occupation) and items 1-3
/// of the 18 ML-1M genres; latent vectors are sums of attribute/genre
/// embeddings and noise, so the features are informative. A user watches
/// items drawn without replacement with probability ∝ exp(w_ui) (Gumbel
/// top-k), w_ui = u·a_i/√d + popularity_i; the stars come from
/// r_ui = u·b_i/√d + quality_i + noise with b_i = ρ·a_i + √(1-ρ²)·e_i, so the
/// watch and rating affinities have correlation ρ over user-item pairs.
///
/// With `segments` S > 1 the users fall into S populations by age bucket
/// (the 7 ML-1M buckets in S contiguous groups), and each population has its
/// own item model: its own genre embeddings and item noise give a_i^s, b_i^s.
/// Routing then has structure to find (a user's segment is in its features).
/// S = 1 is the single-population data, byte for byte.
struct SynthMovieLensOptions {
  TORCH_ARG(int64_t, users) = 2000;
  TORCH_ARG(int64_t, items) = 1000;
  TORCH_ARG(int64_t, latent_dim) = 8;
  /// Mean ratings per user; each user rates at least min_ratings (ML-1M: 20).
  TORCH_ARG(int64_t, mean_ratings) = 50;
  TORCH_ARG(int64_t, min_ratings) = 20;
  /// ρ in [-1, 1]: correlation between the watch and rating affinities.
  TORCH_ARG(double, task_correlation) = 0.5;
  /// Std of the per-rating noise, in latent units (one star is ~1 unit).
  TORCH_ARG(double, rating_noise) = 0.5;
  /// User populations with different item models, 1 to 7.
  TORCH_ARG(int64_t, segments) = 1;
  TORCH_ARG(int64_t, seed) = 0;

 public:
  void validate() const;  // throws moekit::Error naming the field
};

struct SynthMovieLens {
  MovieLensData data;  // ids start at 1, as in ML-1M
  /// The ground truth, for tests and analysis; row k belongs to id k + 1.
  at::Tensor user_latent;        // [users, d] float
  at::Tensor item_watch;         // [items, d] float (a_i)
  at::Tensor item_rating;        // [items, d] float (b_i)
  at::Tensor item_popularity;    // [items] float
  at::Tensor item_quality;       // [items] float
  /// Segment s's item models ([segments, items, d]; s = 0 is item_watch/item_rating).
  at::Tensor segment_item_watch, segment_item_rating;
  at::Tensor user_segment;       // [users] int64
};

/// The segment of an age bucket's index (0..6) among `segments` populations.
int64_t segment_of_age_bucket(int64_t bucket, int64_t segments);

/// Deterministic from options.seed (std::mt19937_64; no torch RNG involved).
SynthMovieLens generate_synth_movielens(const SynthMovieLensOptions& options);

}  // namespace moekit::data
