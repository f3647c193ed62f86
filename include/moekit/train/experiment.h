#pragma once
#include <string>

#include "moekit/core/config.h"
#include "moekit/data/multi_task_dataset.h"
#include "moekit/models/multi_task_model.h"
#include "moekit/train/multi_task_trainer.h"

namespace moekit::train {

/// A multi-task experiment assembled from a run config: the data splits, the
/// model options and the trainer options. Sections: `data` (name: multifashion
/// | movielens | mixture, and its knobs), `model`, `gate` (name + GateOptions
/// keys), `train`. Unknown keys are errors naming `file: section.key`.
struct MultiTaskExperiment {
  std::string data_name;
  data::MultiTaskDataset train, valid, test;
  models::MultiTaskModelOptions model_options{{1}, {}};
  TrainerOptions trainer_options;
};

/// Reads every section, loads (or builds and caches) the data, and checks that
/// no key was left unread. With `load_data` false only the config is resolved
/// and checked (`moekit config`): the splits stay empty and shapes that come
/// from data files are placeholders.
MultiTaskExperiment load_experiment(const Config& config, bool load_data = true);

/// Throws naming the first key no reader used: a top-level section other than
/// data, model, gate, train (and `search`, read by `moekit tune`), or one of
/// the family's own `extra` sections, or a key inside one.
void check_experiment_keys(const Config& config, const std::vector<std::string>& extra = {});

/// The names `data.name` may take in a multi-task experiment.
std::vector<std::string> multi_task_data_set_names();

/// Gate name + GateOptions from the `gate` section (defaults recorded in the config).
std::pair<std::string, gates::GateOptions> gate_from_config(const Config& gate_section);

}  // namespace moekit::train
