#pragma once
// A tiny multi-task model on synthetic-mixture rows, for in-process trainer tests.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "moekit/data/synthetic_mixture.h"
#include "moekit/models/multi_task_model.h"
#include "moekit/train/multi_task_trainer.h"

namespace moekit::testing {

inline data::MultiTaskDataset mixture_rows(int64_t rows, int64_t sample_seed) {
  auto mix = data::make_synthetic_mixture(
      data::SyntheticMixtureOptions().rows(rows).d_in(8).n_clusters(3), sample_seed);
  return data::MultiTaskDataset{mix.x, {}, mix.ids, {mix.y.select(1, 0).contiguous(), mix.ids}, {}};
}

/// Same seed, same weights: every call builds the same model.
inline models::MultiTaskModel tiny_model() {
  torch::manual_seed(0);
  models::MultiTaskModelOptions options(
      {8}, {{"value", "regression", 1}, {"cluster", "classification", 3}});
  options.expert("mlp").n_experts(4).expert_width(8).tower_hidden(8).gate("topk");
  options.gate_options(gates::GateOptions(0, 0).k(2));
  return models::MultiTaskModel(options);
}

inline train::TrainerOptions tiny_options(const std::string& run_dir, int64_t epochs) {
  return train::TrainerOptions().lr(1e-2).batch_size(32).epochs(epochs).patience(100).run_dir(
      run_dir);
}

inline std::string fresh_run_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/moekit_reliability_" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

inline std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Every parameter of `a` equals the one of `b`, bit for bit.
inline bool same_parameters(models::MultiTaskModel& a, models::MultiTaskModel& b) {
  const auto pa = a->parameters(), pb = b->parameters();
  if (pa.size() != pb.size()) return false;
  for (size_t i = 0; i < pa.size(); ++i) {
    if (!torch::equal(pa[i], pb[i])) return false;
  }
  return true;
}

}  // namespace moekit::testing
