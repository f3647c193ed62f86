#include "moekit/train/experiment.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>

#include "moekit/core/config_options.h"
#include "moekit/core/error.h"
#include "moekit/gates/gate.h"
#include "moekit/data/movielens.h"
#include "moekit/data/multi_fashion_mnist.h"
#include "moekit/data/recsys_dataset.h"
#include "moekit/data/synthetic_mixture.h"
#include "moekit/train/option_tables.h"

namespace moekit::train {
namespace fs = std::filesystem;
namespace {

// The first `max_rows` rows (0 = all): quick runs on a slice of the data.
data::MultiTaskDataset head(const data::MultiTaskDataset& d, int64_t max_rows) {
  if (max_rows <= 0 || max_rows >= d.size()) return d;
  return d.select(at::arange(max_rows, at::kLong));
}

data::MultiTaskDataset from_fashion(const data::MultiFashionSplit& split) {
  return data::MultiTaskDataset{split.float_images(), {}, {},
                                {split.labels.select(1, 0).contiguous(),
                                 split.labels.select(1, 1).contiguous()},
                                {}};
}

// `max_train` and friends: range-checked here so the message names `file: data.key`.
int64_t read_row_limit(const Config& data, const std::string& key) {
  const auto v = read_key<int64_t>(data, key, 0, "use the first N rows of the split; 0 = all");
  MOEKIT_CHECK(v >= 0, data.where(key), "must be >= 0, got {}", v);
  return v;
}

void load_multifashion(const Config& data, bool load_data, MultiTaskExperiment& ex) {
  const auto dir = read_key<std::string>(data, "dir", "data/multifashion",
                                         "cache of the built pairs (built from source_dir when absent)");
  data::MultiFashionMNISTOptions options;
  read_options(data, options, multifashion_option_table());
  ex.model_options = models::MultiTaskModelOptions(
      {1, data::kMultiFashionCanvas, data::kMultiFashionCanvas},
      {{"task1", "classification", 10}, {"task2", "classification", 10}});
  ex.model_options.expert("cnn");
  if (!load_data) return;
  data::MultiFashionMNIST mf;
  if (fs::exists(fs::path(dir) / "train.mfmnist")) {
    mf = data::load_multi_fashion_mnist(dir);
  } else {
    mf = data::build_multi_fashion_mnist(options);
    data::save_multi_fashion_mnist(mf, dir);
  }
  ex.train = from_fashion(mf.train);
  ex.valid = from_fashion(mf.valid);
  ex.test = from_fashion(mf.test);
}

// `ids_only`: no side features (an empty input), the model sees the user and
// item id embeddings alone.
data::MultiTaskDataset from_recsys(const data::RecsysSplit& s, const data::RecsysDataset& d,
                                   bool ids_only) {
  at::Tensor input = at::zeros({s.size(), 0});
  if (!ids_only) {
    std::vector<at::Tensor> features{d.item_features.index_select(0, s.item)};
    if (d.user_features.size(1) > 0) features.insert(features.begin(), d.user_features.index_select(0, s.user));
    input = at::cat(features, 1);
  }
  return data::MultiTaskDataset{input, at::stack({s.user, s.item}, 1), s.user,
                                {s.watch, s.rating}, {at::Tensor(), s.rating_mask}};
}

void load_movielens(const Config& data, bool load_data, MultiTaskExperiment& ex) {
  const auto dir = read_key<std::string>(data, "dir", "data/synth-movielens",
                                         "MovieLens folder (u.data, u.item, u.user)");
  const auto features = read_key<std::string>(
      data, "features", "side", "side (user attributes, genres and id embeddings) or ids (id embeddings alone)");
  MOEKIT_CHECK(features == "side" || features == "ids", data.where("features"),
               "must be side or ids, got '{}'", features);
  data::RecsysOptions options;
  read_options(data, options, recsys_option_table());
  // Input width and vocabularies come from the files; a resolve-only load
  // keeps placeholders.
  ex.model_options = models::MultiTaskModelOptions(
      {1}, {{"watch", "binary", 1}, {"rating", "regression", 1}});
  ex.model_options.expert("mlp");
  if (!load_data) return;
  MOEKIT_CHECK(fs::exists(dir), data.where("dir"),
               "'{}' does not exist; write it with `moekit data synth-movielens --out {}`", dir, dir);
  const data::RecsysDataset d = data::make_recsys_dataset(data::read_movielens(dir), options);
  const bool ids_only = features == "ids";
  ex.train = from_recsys(d.train, d, ids_only);
  ex.valid = from_recsys(d.valid, d, ids_only);
  ex.test = from_recsys(d.test, d, ids_only);
  ex.model_options.input_shape({ex.train.input.size(1)}).categorical_sizes({d.n_users(), d.n_items()});
}

void load_mixture(const Config& data, bool load_data, MultiTaskExperiment& ex) {
  // The config's preset: a small problem (8 clusters rather than the struct's 32).
  auto options = data::SyntheticMixtureOptions().n_clusters(8);
  read_options(data, options, mixture_option_table());
  // The sizes come from a file: bound what they allocate (x, every teacher
  // expert's output per row, the teacher itself) before anything is drawn.
  constexpr double kMaxValues = double(int64_t(1) << 28);  // 1 GiB of float
  const double rows = double(options.rows());
  const double values =
      rows * (double(options.d_in()) + double(options.n_experts()) * double(options.d_out() + 1)) +
      double(options.n_clusters()) * (double(options.d_in()) + 2.0 * double(options.n_experts())) +
      double(options.n_experts()) * double(options.d_in()) * double(options.d_out());
  MOEKIT_CHECK(values <= kMaxValues, data.where("rows"),
               "{} rows, d_in {}, {} teacher experts and {} clusters need {:.3g} values; a "
               "synthetic mixture holds at most {:.3g}",
               options.rows(), options.d_in(), options.n_experts(), options.n_clusters(), values,
               kMaxValues);
  ex.model_options = models::MultiTaskModelOptions(
      {options.d_in()}, {{"value", "regression", 1}, {"cluster", "classification", options.n_clusters()}});
  ex.model_options.expert("mlp");
  if (!load_data) return;
  auto make = [&](int64_t n, int64_t sample_seed) {
    auto m = data::make_synthetic_mixture(data::SyntheticMixtureOptions(options).rows(n), sample_seed);
    return data::MultiTaskDataset{m.x, {}, m.ids, {m.y.select(1, 0).contiguous(), m.ids}, {}};
  };
  ex.train = make(options.rows(), options.seed() + 1);
  ex.valid = make(std::max<int64_t>(options.rows() / 4, 1), options.seed() + 2);
  ex.test = make(std::max<int64_t>(options.rows() / 4, 1), options.seed() + 3);
}

// The multi-task data sets: name -> loader. Adding one is a loader above and a row here.
using DataLoader = void (*)(const Config&, bool, MultiTaskExperiment&);
const std::vector<std::pair<std::string, DataLoader>>& multi_task_data_sets() {
  static const std::vector<std::pair<std::string, DataLoader>> sets = {
      {"multifashion", load_multifashion},
      {"movielens", load_movielens},
      {"mixture", load_mixture},
  };
  return sets;
}

}  // namespace

void check_experiment_keys(const Config& config, const std::vector<std::string>& extra) {
  // `search` is `moekit tune`'s space, not part of one run: it is read there.
  for (const auto& key : config.keys()) {
    if (key == "search") continue;
    MOEKIT_CHECK(key == "data" || key == "model" || key == "gate" || key == "train" ||
                     std::find(extra.begin(), extra.end(), key) != extra.end(),
                 config.where(key), "unknown key");
    config.section(key).check_all_used();
  }
}

std::vector<std::string> multi_task_data_set_names() {
  std::vector<std::string> names;
  for (const auto& entry : multi_task_data_sets()) names.push_back(entry.first);
  return names;
}

std::pair<std::string, gates::GateOptions> gate_from_config(const Config& gate) {
  const std::string name =
      read_key<std::string>(gate, "name", "softmax", "registry name of the gate (`moekit gates`)");
  gates::GateOptions options(0, 0);
  read_options(gate, options, gates::gate_option_table(), {"d_in", "n_experts"});  // set by the model
  // A section named after a gate overrides options for that gate only, e.g.
  // `topk: {noisy: false, balance_weight: 0}` for the COMET papers' Top-k.
  // Every such section is checked, whichever gate the run uses.
  gates::GateOptions selected = options;
  for (const auto& info : gates::registered_gates()) {
    if (!gate.has(info.name)) continue;
    const Config section = gate.section(info.name);
    gates::GateOptions overridden = options;
    for (const auto& key : section.keys()) {
      try {
        MOEKIT_CHECK(key != "d_in" && key != "n_experts" && key != "name", key,
                     "cannot be set per gate");
        overridden.set(key, section.get<std::string>(key, ""));
      } catch (const Error& e) {
        throw Error(section.where(key), e.message());
      }
    }
    if (info.name == name) selected = overridden;
  }
  return {name, selected};
}

MultiTaskExperiment load_experiment(const Config& config, bool load_data) {
  MultiTaskExperiment ex;
  const Config data = config.section("data");
  ex.data_name = read_key<std::string>(data, "name", "multifashion", "data set");
  std::string known;
  DataLoader load = nullptr;
  for (const auto& [name, loader] : multi_task_data_sets()) {
    if (name == ex.data_name) load = loader;
    known += (known.empty() ? "" : ", ") + name;
  }
  MOEKIT_CHECK(load != nullptr, data.where("name"), "unknown multi-task data set '{}'; expected {}",
               ex.data_name, known);
  load(data, load_data, ex);
  const int64_t max_train = read_row_limit(data, "max_train");
  const int64_t max_valid = read_row_limit(data, "max_valid");
  const int64_t max_test = read_row_limit(data, "max_test");
  if (load_data) {
    ex.train = head(ex.train, max_train);
    ex.valid = head(ex.valid, max_valid);
    ex.test = head(ex.test, max_test);
  }

  auto& mo = ex.model_options;
  auto& to = ex.trainer_options;
  read_options(config.section("model"), mo, multi_task_model_option_table());
  auto [gate_name, gate_options] = gate_from_config(config.section("gate"));
  mo.gate(gate_name).gate_options(gate_options);
  read_options(config.section("train"), to, trainer_option_table());
  check_experiment_keys(config);
  try {
    mo.validate();
    to.validate();
    std::string tasks;
    for (const auto& t : mo.tasks()) tasks += (tasks.empty() ? "" : ", ") + t.name;
    MOEKIT_CHECK(to.task_weights().empty() || to.task_weights().size() == mo.tasks().size(),
                 "train.task_weights", "gives {} weights for {} tasks ({})", to.task_weights().size(),
                 mo.tasks().size(), tasks);
  } catch (const Error& e) {
    throw e.with_prefix(config.where());
  }
  return ex;
}

}  // namespace moekit::train
