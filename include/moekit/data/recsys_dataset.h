#pragma once
#include <ATen/ATen.h>
#include <torch/arg.h>

#include <cstdint>
#include <string>
#include <vector>

#include "moekit/data/movielens.h"

namespace moekit::data {

/// How MovieLens tables become the two-task (watch, rating) data set of COMET's recommender setting.
struct RecsysOptions {
  /// Negatives of the watch task per rating: items the user never rated,
  /// drawn uniformly with replacement (none for a user who rated every item).
  TORCH_ARG(int64_t, negatives) = 1;
  TORCH_ARG(double, valid_fraction) = 0.1;
  TORCH_ARG(double, test_fraction) = 0.1;
  TORCH_ARG(int64_t, seed) = 0;

 public:
  void validate() const;  // throws moekit::Error naming the field
};

/// Rows of one split. A rating is one positive row; its sampled negatives
/// land in the same split. Ratings go to train/valid/test at random (from the seed).
struct RecsysSplit {
  at::Tensor user;         // [N] int64, dense index into user_features; the hash gate's key
  at::Tensor item;         // [N] int64, dense index into item_features
  at::Tensor watch;        // [N] float 0/1: task 1 (binary; ROC AUC)
  at::Tensor rating;       // [N] float stars; 0 on negatives: task 2 (regression; MSE)
  at::Tensor rating_mask;  // [N] float, 1 where a rating was observed (the positives)

  int64_t size() const { return user.defined() ? user.size(0) : 0; }
};

struct RecsysDataset {
  RecsysSplit train, valid, test;
  /// [n_users, F_u] float: gender (1 = F), one-hot age bucket (7), one-hot
  /// occupation (21); F_u = 0 when the release has no user file (ML-latest).
  at::Tensor user_features;
  /// [n_items, n_genres] float, multi-hot genres in the order of `genres`.
  at::Tensor item_features;
  std::vector<std::string> genres;    // sorted
  std::vector<int64_t> user_raw_ids;  // dense index -> file's user id
  std::vector<int64_t> item_raw_ids;  // dense index -> file's movie id

  int64_t n_users() const { return int64_t(user_raw_ids.size()); }
  int64_t n_items() const { return int64_t(item_raw_ids.size()); }
};

/// Builds the data set; the same data and options give the same tensors.
RecsysDataset make_recsys_dataset(const MovieLensData& data, const RecsysOptions& options);

}  // namespace moekit::data
