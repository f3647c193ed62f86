#include "moekit/train/experiment_run.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "moekit/core/checkpoint.h"
#include "moekit/core/error.h"
#include "moekit/data/parallel_corpus.h"
#include "moekit/dist/expert_parallel.h"
#include "moekit/gates/gate.h"
#include "moekit/gates/permutation_search.h"
#include "moekit/train/experiment.h"
#include "moekit/train/translation_experiment.h"

namespace moekit::train {
namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Json to_json(const Metrics& m) {
  Json j;
  j["loss"] = m.loss;
  for (const auto& [name, value] : m.values) j[name] = value;
  j["active_experts"] = m.active_experts;
  return j;
}

// JSON writes NaN as null.
double number(const Json& j) { return j.is_number() ? j.get<double>() : kNaN; }

Metrics metrics_from_json(const Json& j) {
  Metrics m;
  for (const auto& [key, value] : j.items()) {
    if (key == "loss") {
      m.loss = number(value);
    } else if (key == "active_experts") {
      m.active_experts = number(value);
    } else {
      m.values.emplace_back(key, number(value));
    }
  }
  return m;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// What read_run_record needs to tell runs apart, first in results.json.
Json identify(const RunRecord& r, const std::string& family) {
  Json j;
  j["family"] = family;
  j["gate"] = r.gate;
  j["local_search"] = r.local_search;
  if (r.consistency) j["consistency"] = true;
  j["seed"] = r.seed;
  j["routed_experts"] = r.routed_experts;
  if (r.local_search) {
    j["permutation_moved"] = r.permutation_moved;
    j["permutation_hardened"] = r.permutation_hardened;
  }
  return j;
}

RunRecord record_from(const Json& j) {
  RunRecord r;
  r.gate = j.at("gate").get<std::string>();
  r.local_search = j.at("local_search").get<bool>();
  r.consistency = j.value("consistency", false);
  r.seed = j.at("seed").get<int64_t>();
  r.routed_experts = j.value("routed_experts", int64_t{0});
  if (j.contains("permutation_moved")) r.permutation_moved = number(j.at("permutation_moved"));
  r.permutation_hardened = j.value("permutation_hardened", false);
  if (j.contains("params")) {
    for (const auto& [key, value] : j.at("params").items()) r.params.emplace_back(key, value.get<std::string>());
  }
  r.valid_loss = number(j.at("valid").at("loss"));
  r.test = metrics_from_json(j.at("test"));
  r.epochs = j.contains("epochs") ? j.at("epochs").get<int64_t>() : j.at("steps").get<int64_t>();
  r.train_seconds = number(j.at("train_seconds"));
  return r;
}

// Writes results.json on the writer and hands its text back.
void finish(const Json& results, const RunOptions& options, bool writer, std::string* text) {
  const std::string dumped = results.dump(2) + "\n";
  if (writer && !options.run_dir.empty()) {
    write_text_atomically((fs::path(options.run_dir) / "results.json").string(), dumped);
  }
  if (text) *text = dumped;
}

// The resolved config (defaults included) goes beside the run's files, so
// `--resume`, `eval` and `translate` read what the run used.
void write_config(const Config& config, const RunOptions& options, bool writer) {
  if (writer && !options.run_dir.empty()) {
    write_text_atomically((fs::path(options.run_dir) / "config.yaml").string(), config.dump());
  }
}

// How far local search moved each Π from its initial argmax, and whether it hardened.
void record_search(torch::nn::Module& model, const std::vector<at::Tensor>& initial, RunRecord& r) {
  if (initial.empty()) return;
  r.permutation_moved = gates::mean_hamming_distance(initial, gates::search_assignments(model));
  r.permutation_hardened = gates::search_hardened(model);
}

RunRecord run_multi_task(const Config& config, const RunOptions& options,
                         const std::shared_ptr<dist::Group>& group, std::string* text) {
  MultiTaskExperiment ex = load_experiment(config);
  write_config(config, options, group->rank() == 0);
  torch::manual_seed(ex.trainer_options.seed());
  models::MultiTaskModel model = [&] {
    try {
      return models::MultiTaskModel(ex.model_options);
    } catch (const Error& e) {
      throw e.with_prefix(config.where());
    }
  }();
  dist::broadcast_module(*group, *model);
  dist::shard_moe_experts(group, *model);
  MultiTaskTrainer trainer(model, ex.trainer_options.run_dir(options.run_dir), group);
  // Taken before a resume loads the checkpoint: the seeded init gives the same Π.
  const auto initial_assignments = gates::search_assignments(*model);
  const auto start = std::chrono::steady_clock::now();
  const FitResult fit = trainer.fit(ex.train, ex.valid, options.resume);
  RunRecord r;
  record_search(*model, initial_assignments, r);
  r.train_seconds = seconds_since(start);
  r.test = trainer.evaluate(ex.test);
  r.gate = ex.model_options.gate();
  r.local_search = ex.model_options.gate_options().local_search();
  r.consistency = ex.trainer_options.consistency();
  r.seed = ex.trainer_options.seed();
  r.valid_loss = fit.best_valid.loss;
  r.epochs = fit.epochs_run;
  r.routed_experts = gates::routed_experts(r.gate, ex.model_options.gate_options().k());

  Json results = identify(r, "multi_task");
  results["epochs"] = fit.epochs_run;
  results["best_epoch"] = fit.best_epoch;
  results["early_stopped"] = fit.early_stopped;
  results["train_seconds"] = r.train_seconds;
  results["valid"] = to_json(fit.best_valid);
  results["test"] = to_json(r.test);
  results["world_size"] = group->world_size();
  finish(results, options, group->rank() == 0, text);
  return r;
}

RunRecord run_translation(const Config& config, const RunOptions& options,
                          const std::shared_ptr<dist::Group>& group, std::string* text) {
  const TranslationExperiment ex = load_translation_experiment(config);
  write_config(config, options, group->rank() == 0);
  data::Tokenizer tokenizer(ex.tokenizer_path);
  const models::TransformerOptions model_options = ex.model_for(tokenizer);
  auto corpus = [&](const std::string& split) {
    return data::load_parallel_corpus(tokenizer, ex.data_dir, split, ex.directions, ex.max_len);
  };
  const auto train = corpus("train");
  const auto valid = corpus("valid");
  // The test split is optional for a single run; compare and tune need it.
  const bool has_test = data::has_parallel_split(ex.data_dir, "test", ex.directions);
  if (group->rank() == 0) {
    spdlog::info("{} train pairs, {} valid pairs, vocabulary {}", train.pairs.size(),
                 valid.pairs.size(), tokenizer.vocab_size());
  }

  torch::manual_seed(ex.trainer.seed());
  models::Transformer model(model_options);
  // A resumed run's checkpoint holds every weight: the initial ones are not read.
  if (!ex.trainer.init().empty() && !options.resume) {
    const auto kept = load_initial_weights(model, ex.trainer.init());
    if (group->rank() == 0) {
      spdlog::info("weights from {}{}", ex.trainer.init(),
                   kept.empty() ? "" : fmt::format(" ({} gate tensors initialised afresh)", kept.size()));
    }
  }
  dist::broadcast_module(*group, *model);
  dist::shard_moe_experts(group, *model);
  TranslationTrainerOptions trainer_options = ex.trainer;
  TranslationTrainer trainer(model, tokenizer, trainer_options.run_dir(options.run_dir), group);
  if (ex.distill.enabled()) {
    trainer.set_teacher(load_teacher(ex.distill.teacher(), tokenizer, ex.tokenizer_path, model_options),
                        ex.distill);
    if (group->rank() == 0) spdlog::info("distilling {} into the model", ex.distill.teacher());
  }
  const auto initial_assignments = gates::search_assignments(*model);
  const auto start = std::chrono::steady_clock::now();
  const TranslationFitResult fit = trainer.fit(train, valid, options.resume);
  RunRecord r;
  record_search(*model, initial_assignments, r);
  r.train_seconds = seconds_since(start);
  r.gate = model_options.gate();
  r.local_search = model_options.gate_options().local_search();
  r.consistency = ex.trainer.consistency();
  r.seed = ex.trainer.seed();
  r.valid_loss = fit.best_loss;
  r.epochs = fit.steps;
  r.routed_experts = gates::routed_experts(r.gate, model_options.gate_options().k());
  r.test.loss = kNaN;
  r.test.active_experts = kNaN;
  if (has_test) {
    // Without a run directory there is no best.pt: the last weights are tested.
    trainer.restore_best();
    const auto test = corpus("test");
    r.test.loss = trainer.validation_loss(test);
    r.test.values = {{"bleu", trainer.validation_bleu(test)}};
  }

  Json results = identify(r, "translation");
  results["steps"] = fit.steps;
  results["best_step"] = fit.best_step;
  results["best_metric"] = ex.trainer.best_metric();
  results["best_valid_bleu"] = fit.best_bleu;
  results["best_valid_loss"] = fit.best_loss;
  results["last_train_loss"] = fit.last_train_loss;
  results["train_seconds"] = r.train_seconds;
  results["valid"] = Json{{"loss", fit.best_loss}, {"bleu", fit.best_bleu}};
  if (has_test) results["test"] = to_json(r.test);
  results["world_size"] = group->world_size();
  if (!ex.trainer.init().empty()) results["init"] = ex.trainer.init();
  if (ex.distill.enabled()) {
    results["distill"] = Json{{"teacher", ex.distill.teacher()}, {"beta", ex.distill.beta()},
                              {"gamma", ex.distill.gamma()}, {"symmetric", ex.distill.symmetric()}};
  }
  finish(results, options, group->rank() == 0, text);
  return r;
}

}  // namespace

std::vector<std::string> experiment_data_sets() {
  std::vector<std::string> names = multi_task_data_set_names();
  names.push_back("parallel");
  return names;
}

ExperimentFamily experiment_family(const Config& config) {
  MOEKIT_CHECK(!config.keys().empty(), config.where(),
               "the config is empty; an experiment needs at least its data and gate");
  const Config data = config.section("data");
  const std::string name = data.has("name") ? data.get<std::string>("name", "") : "multifashion";
  if (name == "parallel") return ExperimentFamily::kTranslation;
  std::string known;
  for (const auto& n : experiment_data_sets()) {
    if (n == name) return ExperimentFamily::kMultiTask;
    known += (known.empty() ? "" : ", ") + n;
  }
  throw Error(data.where("name"), fmt::format("unknown data set '{}'; expected {}", name, known));
}

void resolve_experiment(const Config& config) {
  if (experiment_family(config) == ExperimentFamily::kTranslation) {
    load_translation_experiment(config);
  } else {
    load_experiment(config, /*load_data=*/false);
  }
}

RunRecord run_experiment(const Config& config, const RunOptions& options, std::string* results_json) {
  const auto group = options.group ? options.group : std::make_shared<dist::Group>();
  if (!options.run_dir.empty() && group->rank() == 0) fs::create_directories(options.run_dir);
  return experiment_family(config) == ExperimentFamily::kTranslation
             ? run_translation(config, options, group, results_json)
             : run_multi_task(config, options, group, results_json);
}

RunRecord read_run_record(const std::string& path) {
  std::ifstream in(path);
  MOEKIT_CHECK(in.good(), path, "cannot open results file");
  try {
    return record_from(Json::parse(in));
  } catch (const nlohmann::json::exception& e) {
    throw Error(path, fmt::format("not a results.json of a finished run: {}", e.what()));
  }
}

std::string run_record_to_json(const RunRecord& r, const std::string& extra) {
  Json j = identify(r, "");
  j.erase("family");
  Json params = Json::object();
  for (const auto& [key, value] : r.params) params[key] = value;
  j["params"] = params;
  j["valid"] = Json{{"loss", r.valid_loss}};
  j["test"] = to_json(r.test);
  j["epochs"] = r.epochs;
  j["train_seconds"] = r.train_seconds;
  if (!extra.empty()) j.update(Json::parse(extra));
  return j.dump();
}

RunRecord run_record_from_json(const std::string& text, const std::string& where) {
  try {
    return record_from(Json::parse(text));
  } catch (const nlohmann::json::exception& e) {
    throw Error(where, fmt::format("not a run record: {}", e.what()));
  }
}

}  // namespace moekit::train
