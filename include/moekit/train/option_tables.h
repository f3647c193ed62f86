#pragma once
// The config keys of every Options struct an experiment reads (YAML sections
// `model`, `train` and the data sets' knobs): key, type, range and doc, the
// default being the struct's own. The gate's table is gates::gate_option_table().
#include "moekit/core/option_table.h"
#include "moekit/data/multi_fashion_mnist.h"
#include "moekit/data/recsys_dataset.h"
#include "moekit/data/synthetic_mixture.h"
#include "moekit/models/multi_task_model.h"
#include "moekit/models/transformer.h"
#include "moekit/train/distillation.h"
#include "moekit/train/multi_task_trainer.h"
#include "moekit/train/translation_trainer.h"

namespace moekit::train {

/// `model:` of a translation experiment (vocabulary and special ids come from the tokenizer).
const OptionTable<models::TransformerOptions>& transformer_option_table();
/// `train:` of a translation experiment (run_dir is the command's --out).
const OptionTable<TranslationTrainerOptions>& translation_trainer_option_table();
/// `distill:` of a translation experiment.
const OptionTable<DistillOptions>& distill_option_table();
/// `model:` of a multi-task experiment (shapes and tasks come from the data set).
const OptionTable<models::MultiTaskModelOptions>& multi_task_model_option_table();
/// `train:` of a multi-task experiment.
const OptionTable<TrainerOptions>& trainer_option_table();

/// `data:` knobs of the data sets, under their config names.
const OptionTable<data::MultiFashionMNISTOptions>& multifashion_option_table();
const OptionTable<data::RecsysOptions>& recsys_option_table();
const OptionTable<data::SyntheticMixtureOptions>& mixture_option_table();

}  // namespace moekit::train
