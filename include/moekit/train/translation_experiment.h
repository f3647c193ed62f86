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
/// (TranslationTrainerOptions), `distill` (DistillOptions, optional). Unknown keys are errors naming `file: section.key`.
struct TranslationExperiment {
  std::string source;  // the config's name, for errors found later
  std::string data_dir, tokenizer_path;
  std::vector<std::pair<std::string, std::string>> directions;
  int64_t max_len = 128;
  models::TransformerOptions model{1};
  TranslationTrainerOptions trainer;
  DistillOptions distill;

  /// The model options with the tokenizer's vocabulary and special ids, validated.
  models::TransformerOptions model_for(const data::Tokenizer& tokenizer) const;
};

/// Loads `init` (a run directory, meaning its best.pt, or a weights file) into
/// `model` as load_module_weights (core/checkpoint.h) does, except that tensors of a gate absent
/// there keep their initialisation (a student routed by a gate other than the
/// one it was saved with); returns their names. Any other absent tensor or a
/// shape that differs throws moekit::Error naming the file.
std::vector<std::string> load_initial_weights(models::Transformer& model, const std::string& init);

/// The frozen teacher of `distill.teacher`: that run's model (its config.yaml)
/// with its best.pt, checked against `student` (check_teacher) and against the
/// student's tokenizer (the same SentencePiece model file, byte for byte).
/// Throws moekit::Error naming `distill.teacher` or the run's file at fault.
models::Transformer load_teacher(const std::string& run, const data::Tokenizer& tokenizer,
                                 const std::string& tokenizer_path,
                                 const models::TransformerOptions& student);

/// Reads and checks every key (nothing is loaded: the corpus is read by the run).
TranslationExperiment load_translation_experiment(const Config& config);

}  // namespace moekit::train
