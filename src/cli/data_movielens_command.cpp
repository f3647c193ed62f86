// `moekit data synth-movielens` writes ML-1M files from the latent-factor
// generator; `moekit data movielens` checks a MovieLens folder (ML-1M or
// ML-latest) and prints the multi-task data set it gives.
#include <fmt/format.h>

#include <chrono>
#include <iostream>

#include "cli/commands.h"
#include "moekit/data/movielens.h"
#include "moekit/data/recsys_dataset.h"
#include "moekit/data/synth_movielens.h"

namespace moekit::cli {
namespace {

struct SynthArgs {
  std::string out = "data/synth-movielens";
  int64_t users = 2000, items = 1000, mean_ratings = 50, segments = 1, seed = 0;
  double task_correlation = 0.5;
};

struct MovielensArgs {
  std::string dir;
  int64_t negatives = 1, seed = 0;
};

void print_dataset(const std::string& dir, int64_t negatives, int64_t seed) {
  const auto raw = data::read_movielens(dir);
  double mean = 0;
  for (const auto& r : raw.ratings) mean += r.rating;
  mean /= double(raw.ratings.size());
  const auto ds = data::make_recsys_dataset(raw, data::RecsysOptions().negatives(negatives).seed(seed));
  std::cout << fmt::format(
      "{}: {} ratings (mean {:.3f} stars), {} users ({} attribute features), {} movies ({} genres)\n",
      dir, raw.ratings.size(), mean, ds.n_users(), ds.user_features.size(1), ds.n_items(),
      ds.genres.size());
  std::cout << fmt::format("rows with {} negative(s) per rating: train {}, valid {}, test {}\n",
                           negatives, ds.train.size(), ds.valid.size(), ds.test.size());
}

void run_synth(const SynthArgs& args) {
  const auto start = std::chrono::steady_clock::now();
  const auto synth = data::generate_synth_movielens(data::SynthMovieLensOptions()
                                                        .users(args.users)
                                                        .items(args.items)
                                                        .mean_ratings(args.mean_ratings)
                                                        .task_correlation(args.task_correlation)
                                                        .segments(args.segments)
                                                        .seed(args.seed));
  data::write_movielens_1m(synth.data, args.out);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << fmt::format(
      "wrote {}/{{ratings,users,movies}}.dat (task correlation {}, {} segment(s), seed {}) in {:.2f} s\n",
      args.out, args.task_correlation, args.segments, args.seed, secs);
  // Read back through the loader, so the files are known to be valid ML-1M.
  print_dataset(args.out, 1, args.seed);
}

}  // namespace

void add_data_movielens_command(CLI::App& app) {
  auto synth = std::make_shared<SynthArgs>();
  auto* cmd = data_command(app)->add_subcommand(
      "synth-movielens", "Write ML-1M-format files from a latent-factor model with correlated tasks");
  cmd->add_option("--out", synth->out, "output folder")->capture_default_str();
  cmd->add_option("--users", synth->users, "users")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--items", synth->items, "movies")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--mean-ratings", synth->mean_ratings, "mean ratings per user (min 20)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--task-correlation", synth->task_correlation,
                  "correlation of the watch and rating affinities, in [-1, 1]")->capture_default_str();
  cmd->add_option("--segments", synth->segments,
                  "user populations (by age bucket) with their own item models, 1 to 7")
      ->capture_default_str();
  cmd->add_option("--seed", synth->seed, "generator seed")->capture_default_str();
  cmd->callback([synth] { run_synth(*synth); });

  auto real = std::make_shared<MovielensArgs>();
  auto* check = data_command(app)->add_subcommand(
      "movielens", "Check a MovieLens folder (ML-1M .dat or ML-latest .csv) and summarise it");
  check->add_option("DIR", real->dir, "folder with ratings.dat or ratings.csv")->required();
  check->add_option("--negatives", real->negatives, "negatives per rating")->capture_default_str();
  check->add_option("--seed", real->seed, "split and negative-sampling seed")->capture_default_str();
  check->callback([real] { print_dataset(real->dir, real->negatives, real->seed); });
}

}  // namespace moekit::cli
