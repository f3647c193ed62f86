#include "moekit/train/experiment.h"

#include <torch/torch.h>

#include <filesystem>

#include "moekit/core/error.h"
#include "moekit/gates/gate.h"
#include "moekit/data/movielens.h"
#include "moekit/data/multi_fashion_mnist.h"
#include "moekit/data/recsys_dataset.h"
#include "moekit/data/synthetic_mixture.h"

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

void load_multifashion(const Config& data, MultiTaskExperiment& ex) {
  const auto dir = data.get<std::string>("dir", "data/multifashion");
  const auto source = data.get<std::string>("source_dir", "/usr/share/datasets/fashion-mnist");
  const auto seed = data.get<int64_t>("seed", 0);
  data::MultiFashionMNIST mf;
  if (fs::exists(fs::path(dir) / "train.mfmnist")) {
    mf = data::load_multi_fashion_mnist(dir);
  } else {
    mf = data::build_multi_fashion_mnist(
        data::MultiFashionMNISTOptions().source_dir(source).seed(seed));
    data::save_multi_fashion_mnist(mf, dir);
  }
  ex.train = from_fashion(mf.train);
  ex.valid = from_fashion(mf.valid);
  ex.test = from_fashion(mf.test);
  ex.model_options = models::MultiTaskModelOptions(
      {1, data::kMultiFashionCanvas, data::kMultiFashionCanvas},
      {{"task1", "classification", 10}, {"task2", "classification", 10}});
  ex.model_options.expert("cnn");
}

data::MultiTaskDataset from_recsys(const data::RecsysSplit& s, const data::RecsysDataset& d) {
  std::vector<at::Tensor> features{d.item_features.index_select(0, s.item)};
  if (d.user_features.size(1) > 0) features.insert(features.begin(), d.user_features.index_select(0, s.user));
  return data::MultiTaskDataset{at::cat(features, 1), at::stack({s.user, s.item}, 1), s.user,
                                {s.watch, s.rating}, {at::Tensor(), s.rating_mask}};
}

// Range checks at the config level, so the message names `file: data.key`
// rather than the data module's own option name.
int64_t get_at_least(const Config& section, const std::string& key, int64_t fallback, int64_t low) {
  const auto v = section.get<int64_t>(key, fallback);
  MOEKIT_CHECK(v >= low, section.where(key), "must be >= {}, got {}", low, v);
  return v;
}

double get_fraction(const Config& section, const std::string& key, double fallback) {
  const auto v = section.get<double>(key, fallback);
  MOEKIT_CHECK(v >= 0 && v < 1, section.where(key), "must lie in [0, 1), got {}", v);
  return v;
}

void load_movielens(const Config& data, MultiTaskExperiment& ex) {
  const auto dir = data.get<std::string>("dir", "data/synth-movielens");
  MOEKIT_CHECK(fs::exists(dir), data.where("dir"),
               "'{}' does not exist; write it with `moekit data synth-movielens --out {}`", dir, dir);
  const auto options = data::RecsysOptions()
                           .negatives(get_at_least(data, "negatives", 1, 0))
                           .valid_fraction(get_fraction(data, "valid_fraction", 0.1))
                           .test_fraction(get_fraction(data, "test_fraction", 0.1))
                           .seed(data.get<int64_t>("seed", 0));
  const data::RecsysDataset d = data::make_recsys_dataset(data::read_movielens(dir), options);
  ex.train = from_recsys(d.train, d);
  ex.valid = from_recsys(d.valid, d);
  ex.test = from_recsys(d.test, d);
  ex.model_options = models::MultiTaskModelOptions(
      {ex.train.input.size(1)}, {{"watch", "binary", 1}, {"rating", "regression", 1}});
  ex.model_options.expert("mlp").categorical_sizes({d.n_users(), d.n_items()});
}

void load_mixture(const Config& data, MultiTaskExperiment& ex) {
  auto options = data::SyntheticMixtureOptions()
                     .d_in(get_at_least(data, "d_in", 16, 1))
                     .n_experts(get_at_least(data, "teacher_experts", 8, 1))
                     .n_clusters(get_at_least(data, "clusters", 8, 1))
                     .seed(data.get<int64_t>("seed", 0));
  const int64_t rows = get_at_least(data, "rows", 4096, 1);
  // The sizes come from a file: bound what they allocate (x, every teacher
  // expert's output per row, the teacher itself) before anything is drawn.
  constexpr double kMaxValues = double(int64_t(1) << 28);  // 1 GiB of float
  const double values =
      double(rows) * (double(options.d_in()) + double(options.n_experts()) * double(options.d_out() + 1)) +
      double(options.n_clusters()) * (double(options.d_in()) + 2.0 * double(options.n_experts())) +
      double(options.n_experts()) * double(options.d_in()) * double(options.d_out());
  MOEKIT_CHECK(values <= kMaxValues, data.where("rows"),
               "{} rows, d_in {}, {} teacher experts and {} clusters need {:.3g} values; a "
               "synthetic mixture holds at most {:.3g}",
               rows, options.d_in(), options.n_experts(), options.n_clusters(), values, kMaxValues);
  auto make = [&](int64_t n, int64_t sample_seed) {
    auto m = data::make_synthetic_mixture(options.rows(n), sample_seed);
    return data::MultiTaskDataset{m.x, {}, m.ids, {m.y.select(1, 0).contiguous(), m.ids}, {}};
  };
  ex.train = make(rows, options.seed() + 1);
  ex.valid = make(std::max<int64_t>(rows / 4, 1), options.seed() + 2);
  ex.test = make(std::max<int64_t>(rows / 4, 1), options.seed() + 3);
  ex.model_options = models::MultiTaskModelOptions(
      {options.d_in()}, {{"value", "regression", 1}, {"cluster", "classification", options.n_clusters()}});
  ex.model_options.expert("mlp");
}

}  // namespace

std::pair<std::string, gates::GateOptions> gate_from_config(const Config& gate) {
  const std::string name = gate.get<std::string>("name", "softmax");
  gates::GateOptions options(0, 0);
  for (const auto& [key, value] : options.values()) {
    if (key == "d_in" || key == "n_experts") continue;  // set by the model
    try {
      options.set(key, gate.get<std::string>(key, value));
    } catch (const Error& e) {
      throw Error(gate.where(key), e.message());
    }
  }
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

MultiTaskExperiment load_experiment(const Config& config) {
  MultiTaskExperiment ex;
  const Config data = config.section("data");
  ex.data_name = data.get<std::string>("name", "multifashion");
  if (ex.data_name == "multifashion") {
    load_multifashion(data, ex);
  } else if (ex.data_name == "movielens") {
    load_movielens(data, ex);
  } else if (ex.data_name == "mixture") {
    load_mixture(data, ex);
  } else {
    throw Error(data.where("name"), fmt::format("unknown data set '{}'; expected multifashion, "
                                                "movielens or mixture", ex.data_name));
  }
  // 0 = all rows.
  ex.train = head(ex.train, get_at_least(data, "max_train", 0, 0));
  ex.valid = head(ex.valid, get_at_least(data, "max_valid", 0, 0));
  ex.test = head(ex.test, get_at_least(data, "max_test", 0, 0));

  const Config model = config.section("model");
  auto& mo = ex.model_options;
  mo.expert(model.get<std::string>("expert", mo.expert()))
      .n_experts(model.get<int64_t>("n_experts", mo.n_experts()))
      .expert_width(model.get<int64_t>("expert_width", mo.expert_width()))
      .tower_hidden(model.get<int64_t>("tower_hidden", mo.tower_hidden()))
      .embedding_dim(get_at_least(model, "embedding_dim", mo.embedding_dim(), 1));
  auto [gate_name, gate_options] = gate_from_config(config.section("gate"));
  mo.gate(gate_name).gate_options(gate_options);

  const Config train = config.section("train");
  auto& to = ex.trainer_options;
  to.lr(train.get<double>("lr", to.lr()))
      .batch_size(train.get<int64_t>("batch_size", to.batch_size()))
      .epochs(train.get<int64_t>("epochs", to.epochs()))
      .patience(train.get<int64_t>("patience", to.patience()))
      .weight_decay(train.get<double>("weight_decay", to.weight_decay()))
      .seed(train.get<int64_t>("seed", to.seed()));
  // `search` is `moekit tune`'s space, not part of one run: it is read there.
  for (const auto& key : config.keys()) {
    if (key == "search") continue;
    MOEKIT_CHECK(key == "data" || key == "model" || key == "gate" || key == "train",
                 config.where(key), "unknown key");
    config.section(key).check_all_used();
  }
  try {
    mo.validate();
    to.validate();
  } catch (const Error& e) {
    throw e.with_prefix(config.where());
  }
  return ex;
}

}  // namespace moekit::train
