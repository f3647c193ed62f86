#include "moekit/train/translation_experiment.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include <torch/torch.h>

#include "moekit/core/checkpoint.h"
#include "moekit/core/config_options.h"
#include "moekit/core/error.h"
#include "moekit/data/parallel_corpus.h"
#include "moekit/dist/full_state.h"
#include "moekit/train/experiment.h"
#include "moekit/train/experiment_run.h"
#include "moekit/train/option_tables.h"

namespace moekit::train {
namespace fs = std::filesystem;

TranslationExperiment load_translation_experiment(const Config& config) {
  TranslationExperiment ex;
  ex.source = config.where();
  const Config data = config.section("data");
  const auto name = read_key<std::string>(data, "name", "parallel", "data set");
  MOEKIT_CHECK(name == "parallel", data.where("name"),
               "a translation experiment reads a parallel corpus (name: parallel), got '{}'", name);
  ex.data_dir = data.require<std::string>("dir");
  data.document("dir", "text", "(required)", "folder of SPLIT.LANG files and spm.model");
  ex.tokenizer_path = read_key<std::string>(data, "tokenizer", (fs::path(ex.data_dir) / "spm.model").string(),
                                            "SentencePiece model");
  ex.directions = data::parse_directions(
      read_key<std::string>(data, "directions", "es-en,en-es", "translation directions, SRC-TGT,..."),
      data.where("directions"));
  ex.max_len = read_key<int64_t>(data, "max_len", ex.max_len, "longest sentence kept, in tokens");
  MOEKIT_CHECK(ex.max_len >= 2, data.where("max_len"), "must be >= 2, got {}", ex.max_len);

  read_options(config.section("model"), ex.model, transformer_option_table());
  auto [gate_name, gate_options] = gate_from_config(config.section("gate"));
  ex.model.gate(gate_name).gate_options(gate_options);
  read_options(config.section("train"), ex.trainer, translation_trainer_option_table());
  read_options(config.section("distill"), ex.distill, distill_option_table());
  check_experiment_keys(config, {"distill"});
  try {
    ex.trainer.validate();
    ex.distill.validate();
  } catch (const Error& e) {
    throw e.with_prefix(config.where());
  }
  return ex;
}

models::TransformerOptions TranslationExperiment::model_for(const data::Tokenizer& tokenizer) const {
  models::TransformerOptions m = model;
  m.vocab_size(tokenizer.vocab_size())
      .pad_id(tokenizer.pad_id())
      .bos_id(tokenizer.bos_id())
      .eos_id(tokenizer.eos_id());
  try {
    m.validate();
  } catch (const Error& e) {
    throw Error(source + ": model." + e.where(), e.message());
  }
  return m;
}


namespace {

// A run directory stands for its best.pt.
std::string weights_file(const std::string& path) {
  return fs::is_directory(path) ? (fs::path(path) / "best.pt").string() : path;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  MOEKIT_CHECK(in.good(), path, "cannot read the tokenizer");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool is_gate_tensor(const std::string& name) {
  return name.rfind("gate.", 0) == 0 || name.find(".gate.") != std::string::npos;
}

}  // namespace

std::vector<std::string> load_initial_weights(models::Transformer& model, const std::string& init) {
  const std::string path = weights_file(init);
  MOEKIT_CHECK(fs::exists(path), path, "no such weights file (train.init)");
  torch::serialize::InputArchive archive;
  load_archive(archive, path);
  std::vector<std::string> missing;
  try {
    dist::load_full_state(*model, nullptr, archive, nullptr, path, &missing);
  } catch (const c10::Error& e) {
    throw Error(path, "not model weights: " + std::string(e.what_without_backtrace()));
  }
  for (const auto& name : missing) {
    MOEKIT_CHECK(is_gate_tensor(name), path,
                 "has no tensor '{}' (weights of another model or config?); only a gate's "
                 "own tensors may be absent", name);
  }
  return missing;
}

models::Transformer load_teacher(const std::string& run, const data::Tokenizer& tokenizer,
                                 const std::string& tokenizer_path,
                                 const models::TransformerOptions& student) {
  const fs::path config_path = fs::path(run) / "config.yaml";
  MOEKIT_CHECK(fs::exists(config_path), "distill.teacher",
               "'{}' is not a run directory (no config.yaml)", run);
  const Config config = Config::load(config_path.string());
  MOEKIT_CHECK(experiment_family(config) == ExperimentFamily::kTranslation, "distill.teacher",
               "'{}' is not a translation run", run);
  const TranslationExperiment ex = load_translation_experiment(config);
  // The teacher reads the student's tokens: its vocabulary must be the same one.
  MOEKIT_CHECK(read_bytes(ex.tokenizer_path) == read_bytes(tokenizer_path), "distill.teacher",
               "'{}' was trained with the tokenizer {}, not {}: the teacher must read the "
               "student's tokens", run, ex.tokenizer_path, tokenizer_path);
  models::Transformer teacher(ex.model_for(tokenizer));
  check_teacher(teacher->options, student, "distill.teacher");
  load_module_weights(*teacher, (fs::path(run) / "best.pt").string());
  return teacher;
}

}  // namespace moekit::train
