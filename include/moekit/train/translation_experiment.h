#pragma once
#include <string>
#include <utility>
#include <vector>

#include "moekit/core/config.h"
#include "moekit/data/tokenizer.h"
#include "moekit/models/transformer.h"
#include "moekit/train/translation_trainer.h"

namespace moekit::train {

/// A translation experiment assembled from a run config. Sections: `data`
/// (name: parallel; dir with SPLIT.LANG files and the SentencePiece model,
/// directions, max_len), `model` (TransformerOptions), `gate`, `train`
/// (TranslationTrainerOptions). Unknown keys are errors naming `file: section.key`.
struct TranslationExperiment {
  std::string source;  // the config's name, for errors found later
  std::string data_dir, tokenizer_path;
  std::vector<std::pair<std::string, std::string>> directions;
  int64_t max_len = 128;
  models::TransformerOptions model{1};
  TranslationTrainerOptions trainer;

  /// The model options with the tokenizer's vocabulary and special ids, validated.
  models::TransformerOptions model_for(const data::Tokenizer& tokenizer) const;
};

/// Loads a run's weights file into `model`; throws moekit::Error naming the
/// file when it is missing, unreadable or does not match the model.
void load_model_weights(models::Transformer& model, const std::string& path);

/// Reads and checks every key (nothing is loaded: the corpus is read by the run).
TranslationExperiment load_translation_experiment(const Config& config);

}  // namespace moekit::train
