#include "moekit/train/option_tables.h"

namespace moekit::train {

const OptionTable<models::TransformerOptions>& transformer_option_table() {
  using O = models::TransformerOptions;
  static const OptionTable<O> table = {
      MOEKIT_OPTION(O, int64_t, d_model, at_least<int64_t>(v, 1, "d_model"), "model width"),
      MOEKIT_OPTION(O, int64_t, ffn_hidden, at_least<int64_t>(v, 1, "ffn_hidden"),
                    "hidden width of each FFN (and of each expert)"),
      MOEKIT_OPTION(O, int64_t, heads, at_least<int64_t>(v, 1, "heads"),
                    "attention heads (must divide d_model)"),
      MOEKIT_OPTION(O, int64_t, encoder_layers, at_least<int64_t>(v, 1, "encoder_layers"), "encoder layers"),
      MOEKIT_OPTION(O, int64_t, decoder_layers, at_least<int64_t>(v, 1, "decoder_layers"), "decoder layers"),
      MOEKIT_OPTION(O, double, dropout, fraction(v, "dropout"),
                    "dropout on the embeddings and every residual branch"),
      MOEKIT_OPTION(O, bool, pre_norm, v, "layer norm before each sub-block instead of after the add"),
      MOEKIT_OPTION(O, bool, learned_positions, v, "learned position embeddings instead of sinusoids"),
      MOEKIT_OPTION(O, int64_t, max_positions, at_least<int64_t>(v, 1, "max_positions"),
                    "longest sequence with learned positions"),
      MOEKIT_OPTION(O, int64_t, moe_every, at_least<int64_t>(v, 0, "moe_every"),
                    "layer i has a MoE FFN when i % moe_every == moe_every - 1; 0 = dense"),
      MOEKIT_OPTION(O, std::string, moe_layers, (models::parse_moe_layers(v), v),
                    "MoE layers: even (0,2,..: THOR), odd, all, none or a list like 0,2,4; "
                    "overrides moe_every"),
      MOEKIT_OPTION(O, int64_t, n_experts, at_least<int64_t>(v, 1, "n_experts"), "experts per MoE layer"),
      MOEKIT_OPTION(O, int64_t, expert_hidden, at_least<int64_t>(v, 0, "expert_hidden"),
                    "hidden width of each expert; 0 = ffn_hidden"),
  };
  return table;
}

const OptionTable<TranslationTrainerOptions>& translation_trainer_option_table() {
  using O = TranslationTrainerOptions;
  static const OptionTable<O> table = {
      MOEKIT_OPTION(O, double, lr, positive(v, "lr"),
                    "peak learning rate of the inverse-sqrt schedule"),
      MOEKIT_OPTION(O, int64_t, warmup_steps, at_least<int64_t>(v, 1, "warmup_steps"), "linear warm-up steps"),
      MOEKIT_OPTION(O, double, weight_decay, at_least(v, 0.0, "weight_decay"), "Adam weight decay"),
      MOEKIT_OPTION(O, double, clip_norm, any_value(v, "clip_norm"),
                    "global gradient-norm clip; <= 0 disables it"),
      MOEKIT_OPTION(O, int64_t, max_tokens, at_least<int64_t>(v, 1, "max_tokens"),
                    "padded tokens per batch (rows x longest sentence)"),
      MOEKIT_OPTION(O, int64_t, update_freq, at_least<int64_t>(v, 1, "update_freq"),
                    "batches accumulated per optimiser step (update = update_freq x max_tokens)"),
      MOEKIT_OPTION(O, int64_t, max_steps, at_least<int64_t>(v, 1, "max_steps"), "optimiser steps to train"),
      MOEKIT_OPTION(O, int64_t, eval_every, at_least<int64_t>(v, 1, "eval_every"),
                    "steps between validations"),
      MOEKIT_OPTION(O, int64_t, log_every, at_least<int64_t>(v, 1, "log_every"),
                    "steps between metrics.jsonl train lines"),
      MOEKIT_OPTION(O, int64_t, bleu_sentences, at_least<int64_t>(v, 0, "bleu_sentences"),
                    "sentences decoded (greedy) for validation and test BLEU; 0 = none"),
      MOEKIT_OPTION(O, int64_t, max_decode_len, at_least<int64_t>(v, 1, "max_decode_len"),
                    "most tokens per decoded sentence"),
      MOEKIT_OPTION(O, std::string, best_metric, one_of(v, "best_metric", {"bleu", "loss"}),
                    "validation metric that picks best.pt"),
      MOEKIT_OPTION(O, bool, consistency, v,
                    "THOR: two passes per batch and the symmetric-KL consistency term"),
      MOEKIT_OPTION(O, double, consistency_alpha, at_least(v, 0.0, "consistency_alpha"),
                    "weight α of the consistency term"),
      MOEKIT_OPTION(O, double, label_smoothing, fraction(v, "label_smoothing"),
                    "label smoothing of the cross-entropy"),
      MOEKIT_OPTION(O, int64_t, seed, any_value(v, "seed"), "torch seed of the run"),
      MOEKIT_OPTION(O, std::string, init, v,
                    "weights that start the model: a run directory (its best.pt) or a .pt file; "
                    "tensors absent there (a new gate's) keep their initialisation"),
  };
  return table;
}

const OptionTable<DistillOptions>& distill_option_table() {
  using O = DistillOptions;
  static const OptionTable<O> table = {
      MOEKIT_OPTION(O, std::string, teacher, v,
                    "run directory of the frozen teacher; \"\" = no distillation"),
      MOEKIT_OPTION(O, double, beta, at_least(v, 0.0, "beta"),
                    "weight of KL(teacher || student) on the output distributions"),
      MOEKIT_OPTION(O, double, gamma, at_least(v, 0.0, "gamma"),
                    "weight of the hidden-state MSE summed over the layers"),
      MOEKIT_OPTION(O, bool, symmetric, v,
                    "symmetric KL instead of KL(teacher || student), as MoEBERT's code"),
  };
  return table;
}

const OptionTable<models::MultiTaskModelOptions>& multi_task_model_option_table() {
  using O = models::MultiTaskModelOptions;
  static const OptionTable<O> table = {
      MOEKIT_OPTION(O, std::string, expert, one_of(v, "expert", {"cnn", "mlp", "dense"}),
                    "expert network: cnn (images), mlp (dense-dense) or dense (dense + dropout)"),
      MOEKIT_OPTION(O, double, expert_dropout, fraction(v, "expert_dropout"),
                    "dropout inside each dense expert"),
      MOEKIT_OPTION(O, int64_t, n_experts, at_least<int64_t>(v, 1, "n_experts"), "experts shared by the tasks"),
      MOEKIT_OPTION(O, int64_t, expert_width, at_least<int64_t>(v, 1, "expert_width"),
                    "width of each expert's output (and mlp hidden layer)"),
      MOEKIT_OPTION(O, int64_t, tower_hidden, at_least<int64_t>(v, 1, "tower_hidden"),
                    "hidden width of each task tower"),
      MOEKIT_OPTION(O, int64_t, embedding_dim, at_least<int64_t>(v, 1, "embedding_dim"),
                    "width of each categorical column's embedding"),
  };
  return table;
}

const OptionTable<TrainerOptions>& trainer_option_table() {
  using O = TrainerOptions;
  static const OptionTable<O> table = {
      MOEKIT_OPTION(O, double, lr, positive(v, "lr"), "Adam learning rate"),
      MOEKIT_OPTION(O, int64_t, batch_size, at_least<int64_t>(v, 1, "batch_size"), "rows per batch"),
      MOEKIT_OPTION(O, int64_t, epochs, at_least<int64_t>(v, 1, "epochs"), "most epochs"),
      MOEKIT_OPTION(O, int64_t, patience, at_least<int64_t>(v, 1, "patience"),
                    "epochs without a better validation loss before stopping"),
      MOEKIT_OPTION(O, double, weight_decay, at_least(v, 0.0, "weight_decay"), "Adam weight decay"),
      MOEKIT_OPTION(O, std::vector<double>, task_weights, v,
                    "weight of each task's loss, in task order, e.g. [0.1, 0.9]; empty = all 1"),
      MOEKIT_OPTION(O, bool, consistency, v,
                    "THOR: two passes per batch and the symmetric-divergence consistency term"),
      MOEKIT_OPTION(O, double, consistency_alpha, at_least(v, 0.0, "consistency_alpha"),
                    "weight α of the consistency term"),
      MOEKIT_OPTION(O, int64_t, seed, any_value(v, "seed"), "torch seed of the run"),
  };
  return table;
}

const OptionTable<data::MultiFashionMNISTOptions>& multifashion_option_table() {
  using O = data::MultiFashionMNISTOptions;
  static const OptionTable<O> table = {
      MOEKIT_OPTION(O, std::string, source_dir, v,
                    "Fashion-MNIST files the pairs are built from (when dir has none yet)"),
      MOEKIT_OPTION(O, int64_t, seed, any_value(v, "seed"), "seed of the pairing"),
  };
  return table;
}

const OptionTable<data::RecsysOptions>& recsys_option_table() {
  using O = data::RecsysOptions;
  static const OptionTable<O> table = {
      MOEKIT_OPTION(O, int64_t, negatives, at_least<int64_t>(v, 0, "negatives"),
                    "unrated items drawn per rating as watch-task negatives"),
      MOEKIT_OPTION(O, double, valid_fraction, fraction(v, "valid_fraction"), "share held out for validation"),
      MOEKIT_OPTION(O, double, test_fraction, fraction(v, "test_fraction"), "share held out for test"),
      MOEKIT_OPTION(O, int64_t, seed, any_value(v, "seed"), "seed of negatives and splits"),
  };
  return table;
}

const OptionTable<data::SyntheticMixtureOptions>& mixture_option_table() {
  using O = data::SyntheticMixtureOptions;
  static const OptionTable<O> table = {
      MOEKIT_OPTION(O, int64_t, rows, at_least<int64_t>(v, 1, "rows"), "training rows (valid/test: a quarter)"),
      MOEKIT_OPTION(O, int64_t, d_in, at_least<int64_t>(v, 1, "d_in"), "input width"),
      MOEKIT_OPTION_AS(O, int64_t, "teacher_experts", n_experts,
                       at_least<int64_t>(v, 1, "teacher_experts"), "experts of the teacher"),
      MOEKIT_OPTION_AS(O, int64_t, "clusters", n_clusters, at_least<int64_t>(v, 1, "clusters"),
                       "input clusters (the ids a hash gate reads)"),
      MOEKIT_OPTION(O, int64_t, seed, any_value(v, "seed"), "seed of the teacher and samples"),
  };
  return table;
}

}  // namespace moekit::train
