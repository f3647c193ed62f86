#pragma once
#include <torch/arg.h>
#include <torch/optim/optimizer.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "moekit/data/multi_task_dataset.h"
#include "moekit/dist/process_group.h"
#include "moekit/models/multi_task_model.h"
#include "moekit/train/run_dir.h"

namespace moekit::train {

struct TrainerOptions {
  TORCH_ARG(double, lr) = 1e-3;
  TORCH_ARG(int64_t, batch_size) = 512;
  TORCH_ARG(int64_t, epochs) = 50;
  /// Stop after this many epochs without a lower validation loss.
  TORCH_ARG(int64_t, patience) = 5;
  TORCH_ARG(double, weight_decay) = 0.0;
  /// Weight of each task's loss in training and in the validation loss that
  /// early stopping reads (the reference's 0.1/0.9); empty = 1 for every task.
  TORCH_ARG(std::vector<double>, task_weights) = {};
  /// THOR's consistency: two forward passes per batch with independent draws of
  /// any stochastic gate; the loss is both passes' task losses plus alpha times
  /// each task's symmetric divergence between the passes' predictions.
  TORCH_ARG(bool, consistency) = false;
  TORCH_ARG(double, consistency_alpha) = 1.0;
  /// Seeds the model init (before the trainer is built), batch order and gate noise.
  TORCH_ARG(int64_t, seed) = 0;
  /// Where checkpoint.pt, best.pt and metrics.jsonl go; "" writes nothing.
  TORCH_ARG(std::string, run_dir) = "";

 public:
  void validate() const;  // throws moekit::Error naming the field
};

/// Named metric values of one evaluation, in a stable order.
struct Metrics {
  double loss = 0;                                     // summed task losses (no aux)
  std::vector<std::pair<std::string, double>> values;  // e.g. task1.accuracy, watch.auc
  double active_experts = 0;                           // mean over tasks and rows
  double get(const std::string& name) const;           // throws when absent
};

struct FitResult {
  int64_t epochs_run = 0;   // epochs completed in total (including resumed ones)
  int64_t best_epoch = 0;   // 1-based epoch of the lowest validation loss
  Metrics best_valid;
  bool early_stopped = false;
};

/// Adam on the summed task losses + aux losses, one validation per epoch,
/// early stopping on validation loss, atomic checkpoints after every epoch and
/// an exact --resume (model, optimiser, RNG and counters come back).
/// NaN/Inf in the loss or a gradient throws moekit::Error naming the step before
/// anything is written, so the last good checkpoint stays. SIGINT/SIGTERM (see
/// stop_signal.h) save a checkpoint at the next step and throw Interrupted.
///
/// Under a multi-process `group` (moekit launch) every rank builds the same
/// model, shards its experts (dist::shard_moe_experts) and then the trainer: each
/// rank takes a share of every batch, gradients are synchronised so a step
/// equals one process's on the whole batch, metrics are computed on the gathered
/// outputs (so early stopping agrees), and rank 0 writes the files, in the
/// single-process layout that any world size can resume from.
class MultiTaskTrainer {
 public:
  MultiTaskTrainer(models::MultiTaskModel model, TrainerOptions options,
                   std::shared_ptr<dist::Group> group = nullptr);

  /// Trains; with `resume`, continues from run_dir/checkpoint.pt. Afterwards the
  /// model holds the best validation weights.
  FitResult fit(const data::MultiTaskDataset& train, const data::MultiTaskDataset& valid,
                bool resume = false);

  /// Loss, per-task metrics and active experts on `data` (eval mode, no grad).
  Metrics evaluate(const data::MultiTaskDataset& data);

  /// Called after each epoch with (epoch, train loss, validation metrics).
  std::function<void(int64_t, double, const Metrics&)> on_epoch;

 private:
  // Where training stands: what checkpoint.pt stores besides model and optimiser.
  struct Progress {
    int64_t epoch = 0;       // epochs completed
    int64_t batch = 0;       // batches completed in epoch + 1 (a stop mid-epoch)
    double loss_sum = 0;     // summed train loss of those batches
    double best_loss = 0;    // lowest validation loss so far (+inf before the first)
    int64_t best_epoch = 0;
    int64_t bad_epochs = 0;
  };
  void save_checkpoint(const Progress& p);
  bool load_checkpoint(Progress& p);
  /// Runs the rest of epoch p.epoch + 1 from batch p.batch; returns its mean loss.
  /// On a stop signal saves a mid-epoch checkpoint and throws Interrupted.
  double train_epoch(const data::MultiTaskDataset& train, Progress& p);
  /// The training loss of one batch: weighted task losses + aux, or THOR's
  /// two-pass loss under `consistency`.
  at::Tensor batch_loss(const data::MultiTaskDataset& batch);

  /// Collective; rank 0 writes best.pt.
  void save_best();
  models::MultiTaskModel model_;
  TrainerOptions options_;
  std::shared_ptr<dist::Group> group_;
  RunDir run_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
};

}  // namespace moekit::train
