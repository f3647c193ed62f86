#pragma once
#include <torch/arg.h>

#include <cstdint>
#include <memory>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "moekit/data/parallel_corpus.h"
#include "moekit/data/tokenizer.h"
#include "moekit/dist/process_group.h"
#include "moekit/train/distillation.h"
#include "moekit/train/run_dir.h"
#include "moekit/models/transformer.h"

namespace torch::optim {
class Adam;
}

namespace moekit::train {

/// Options of THOR translation training (`moekit train-mt`, YAML section `train`).
struct TranslationTrainerOptions {
  /// checkpoint.pt, best.pt and metrics.jsonl go here; "" writes nothing.
  TORCH_ARG(std::string, run_dir) = "";
  /// Peak learning rate of the inverse-sqrt schedule: lr·min(s/warmup, sqrt(warmup/s)).
  TORCH_ARG(double, lr) = 5e-4;
  TORCH_ARG(int64_t, warmup_steps) = 4000;
  TORCH_ARG(double, weight_decay) = 1e-4;
  /// Global gradient norm clip; <= 0 disables it.
  TORCH_ARG(double, clip_norm) = 0.0;
  /// Padded tokens per batch (rows · longest sentence).
  TORCH_ARG(int64_t, max_tokens) = 4096;
  /// Batches per optimiser step (gradient accumulation, fairseq's --update-freq):
  /// a step sees update_freq · max_tokens tokens. THOR's two passes stay inside
  /// one batch.
  TORCH_ARG(int64_t, update_freq) = 1;
  TORCH_ARG(int64_t, max_steps) = 1000;
  TORCH_ARG(int64_t, eval_every) = 500;
  TORCH_ARG(int64_t, log_every) = 50;
  /// Validation sentences decoded (greedy) for BLEU, evenly spread over the valid set.
  TORCH_ARG(int64_t, bleu_sentences) = 200;
  TORCH_ARG(int64_t, max_decode_len) = 128;
  /// `bleu` (higher is better) or `loss` picks best.pt.
  TORCH_ARG(std::string, best_metric) = "bleu";
  /// Two forward passes per batch and THOR's loss (CE of both + α·symmetric KL); works with
  /// any gate (with a deterministic gate the passes differ by dropout only).
  TORCH_ARG(bool, consistency) = false;
  TORCH_ARG(double, consistency_alpha) = 1.0;
  TORCH_ARG(double, label_smoothing) = 0.1;
  TORCH_ARG(int64_t, seed) = 1;
  /// Weights that start the model instead of a random initialisation: a run
  /// directory (its best.pt) or a weights file, e.g. `moekit moefy`'s output.
  /// Read by the experiment (load_initial_weights), not by the trainer.
  TORCH_ARG(std::string, init) = "";

 public:
  void validate() const;  // throws moekit::Error naming the field
};

struct TranslationFitResult {
  int64_t steps = 0;
  /// Validation BLEU and loss at best_step. NaN where unknown: a run resumed after
  /// its best step keeps only the metric that picked it.
  double best_bleu = std::numeric_limits<double>::quiet_NaN();
  double best_loss = std::numeric_limits<double>::quiet_NaN();
  int64_t best_step = 0;
  double last_train_loss = 0;
};

/// Token-budget batching, Adam(0.9, 0.98) with inverse-sqrt warm-up, weight decay, clipping,
/// optional THOR consistency, periodic validation (loss + greedy BLEU), best.pt,
/// atomic checkpoint.pt (model, optimizer, step, epoch position, RNG) and metrics.jsonl.
///
/// Under a multi-process `group` (moekit launch, experts already sharded with
/// dist::shard_moe_experts) each rank takes a share of the sentences of every
/// batch, weighted by its target tokens; gradients are synchronised and clipped
/// by their global norm, validation loss is summed over ranks, and BLEU is
/// decoded by every rank with the whole model (rank 0's score counts). Rank 0
/// writes the files, in the single-process layout (dist/full_state.h).
class TranslationTrainer {
 public:
  TranslationTrainer(models::Transformer model, data::Tokenizer tokenizer,
                     TranslationTrainerOptions options,
                     std::shared_ptr<dist::Group> group = nullptr);
  ~TranslationTrainer();

  /// Trains to max_steps; with `resume` continues from run_dir/checkpoint.pt exactly.
  /// A NaN/Inf loss or gradient throws moekit::Error naming the step before anything
  /// is written (the last good checkpoint stays). SIGINT/SIGTERM save a checkpoint
  /// after the current step and throw Interrupted (stop_signal.h).
  TranslationFitResult fit(const data::ParallelCorpus& train, const data::ParallelCorpus& valid,
                           bool resume = false);

  /// Mean per-token cross-entropy (no smoothing) over the whole split, eval mode.
  double validation_loss(const data::ParallelCorpus& valid);
  /// Greedy corpus BLEU over up to bleu_sentences pairs of `valid`.
  double validation_bleu(const data::ParallelCorpus& valid);

  /// Distils `teacher` (frozen, eval mode) into the model from the next fit
  /// on: every batch's loss gains distillation_terms(...).total on each
  /// pass's output. Throws moekit::Error naming `distill.teacher` when the
  /// two models cannot be matched (check_teacher).
  void set_teacher(models::Transformer teacher, DistillOptions options);

  /// Loads run_dir/best.pt into the model (every rank, sharded or not), so a
  /// test runs on the best weights; false (weights unchanged) without one.
  bool restore_best();

  int64_t step() const { return step_; }

 private:
  void save_checkpoint(int64_t epoch, int64_t batch_in_epoch, double best, int64_t best_step,
                       double window_loss, int64_t window_steps);
  void set_learning_rate();
  /// Collective; rank 0 writes run_dir/best.pt.
  void save_best();
  /// The whole (unsharded) model with this model's weights, for decoding
  /// without collectives; the model itself on one process.
  models::Transformer whole_model();
  /// The batch's training loss: CE (or THOR's two-pass loss), aux losses and,
  /// with a teacher, the distillation terms.
  at::Tensor batch_loss(const data::PaddedBatch& batch);

  models::Transformer model_;
  models::Transformer teacher_{nullptr};
  DistillOptions distill_;
  data::Tokenizer tokenizer_;
  TranslationTrainerOptions options_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
  std::shared_ptr<dist::Group> group_;
  RunDir run_;
  int64_t step_ = 0;
};

}  // namespace moekit::train
