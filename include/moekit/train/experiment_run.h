#pragma once
#include <memory>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "moekit/core/config.h"
#include "moekit/dist/process_group.h"
#include "moekit/train/multi_task_trainer.h"

namespace moekit::train {

/// The model families an experiment config can describe; `data.name` picks
/// one (multifashion, movielens, mixture: multi-task; parallel: translation).
enum class ExperimentFamily { kMultiTask, kTranslation };

/// Every data set a config may name, multi-task ones first.
std::vector<std::string> experiment_data_sets();

/// The family of `config` from `data.name` (absent: multi-task, the
/// multifashion default). An unknown name throws naming `file: data.name`.
ExperimentFamily experiment_family(const Config& config);

/// Reads and checks every key of either family without loading any data:
/// errors name `file: section.key`, an empty config is an error, and the
/// config then holds every default (Config::annotated_dump, `moekit config`).
void resolve_experiment(const Config& config);

/// One training run of an experiment: what was set and what came out.
struct RunRecord {
  std::string gate;
  bool local_search = false;
  bool consistency = false;  // trained with THOR's two-pass consistency term
  int64_t seed = 0;
  std::vector<std::pair<std::string, std::string>> params;  // tuned keys (tune only)
  double valid_loss = 0;  // validation loss of the best weights
  /// Test split on the best weights: loss and every metric (multi-task: per
  /// task; translation: `bleu`, greedy over train.bleu_sentences sentences).
  Metrics test;
  int64_t epochs = 0;  // multi-task: epochs run; translation: optimiser steps
  double train_seconds = 0;
  /// Experts the gate sends each input to once trained (0: a dense gate); a
  /// sparse gate whose test active_experts exceeds it is not sparse at test.
  int64_t routed_experts = 0;
  /// Local search: how many experts' assignments the final Π moved from its
  /// initial argmax (Hamming distance, mean over the model's Π's), and
  /// whether every Π hardened. NaN and false without local search.
  double permutation_moved = std::numeric_limits<double>::quiet_NaN();
  bool permutation_hardened = false;
};

struct RunOptions {
  /// config.yaml, checkpoint.pt, best.pt, metrics.jsonl and results.json; "" writes nothing.
  std::string run_dir;
  /// Continue from run_dir/checkpoint.pt.
  bool resume = false;
  /// The process group (moekit launch); null = one process.
  std::shared_ptr<dist::Group> group;
};

/// Trains `config` (either family, seeded with train.seed), tests the best
/// weights and, on rank 0, writes run_dir/results.json (its text is returned in
/// `results_json`).
RunRecord run_experiment(const Config& config, const RunOptions& options,
                         std::string* results_json = nullptr);

/// A RunRecord back from a results.json that run_experiment wrote; throws
/// naming `path` when it is not one.
RunRecord read_run_record(const std::string& path);

/// A RunRecord as one line of JSON (no newline) and back: the lines of a
/// study's trials.jsonl / runs.jsonl. `extra` (a JSON object's text, or "")
/// adds keys to the line; run_record_from_json throws naming `where`.
std::string run_record_to_json(const RunRecord& r, const std::string& extra = "");
RunRecord run_record_from_json(const std::string& text, const std::string& where);

}  // namespace moekit::train
