#include "moekit/train/translation_experiment.h"

#include <filesystem>

#include <torch/torch.h>

#include "moekit/core/checkpoint.h"
#include "moekit/core/config_options.h"
#include "moekit/core/error.h"
#include "moekit/data/parallel_corpus.h"
#include "moekit/train/experiment.h"
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
  check_experiment_keys(config);
  try {
    ex.trainer.validate();
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

void load_model_weights(models::Transformer& model, const std::string& path) {
  torch::serialize::InputArchive archive;
  load_archive(archive, path);
  try {
    model->load(archive);
  } catch (const c10::Error& e) {
    throw Error(path, "does not match the run's config: " + std::string(e.what_without_backtrace()));
  }
}

}  // namespace moekit::train
