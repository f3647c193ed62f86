#pragma once
#include <torch/arg.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "moekit/core/config.h"
#include "moekit/train/multi_task_trainer.h"

namespace moekit::train {

/// One training run of a multi-task experiment: what was set and what came out.
struct RunRecord {
  std::string gate;
  bool local_search = false;
  int64_t seed = 0;
  std::vector<std::pair<std::string, std::string>> params;  // tuned keys (tune only)
  double valid_loss = 0;                                    // best validation loss
  Metrics test;
  int64_t epochs = 0;
  double train_seconds = 0;
};

/// Trains and tests one run on an independent copy of `base` with `overrides`
/// (`section.key=value`) applied, seeding torch with train.seed first.
RunRecord run_once(const Config& base, const std::vector<std::string>& overrides);

struct CompareOptions {
  TORCH_ARG(std::vector<std::string>, gates) = std::vector<std::string>{"softmax"};
  TORCH_ARG(int64_t, seeds) = 1;
  /// The gate.local_search settings to run, e.g. {false}, {true} or {false, true}.
  TORCH_ARG(std::vector<bool>, local_search) = std::vector<bool>{false};
  /// Where compare.md and compare.csv go; "" writes nothing.
  TORCH_ARG(std::string, out_dir) = "";

 public:
  void validate() const;
};

struct CompareResult {
  std::vector<RunRecord> runs;
  std::string table;  // Markdown, one row per (gate, local search)
  bool plot_written = false;  // compare.svg; false when gnuplot is missing or failed
  /// "<gate>[ + LS] seed <s>: <error>" for each (gate, local search) that failed;
  /// its remaining seeds are skipped, the other gates still run.
  std::vector<std::string> failures;
};

/// Runs gates x local-search settings x seeds 0..seeds-1 and summarises the
/// test metrics as mean ± std over seeds. `progress` gets one line per run.
/// A run that throws moekit::Error is recorded in `failures` (see there).
CompareResult run_compare(const Config& config, const CompareOptions& options,
                          const std::function<void(const std::string&)>& progress = {});

/// The row label of a (gate, local search) setting in tables and plots: "topk + LS".
std::string group_label(const std::string& gate, bool local_search);

/// Markdown table: one row per (gate, local search) in first-seen order, mean ±
/// std (sample std; 0 for one run) of every test metric, active experts, time.
std::string summary_table(const std::vector<RunRecord>& runs);

/// CSV of the same summary as summary_table: group, runs, then `<column>_mean`,
/// `<column>_std` for valid loss, every test metric, active experts and time.
std::string summary_csv(const std::vector<RunRecord>& runs);

/// CSV, one row per run: gate, local_search, seed, params, valid_loss, test metrics, time.
std::string runs_csv(const std::vector<RunRecord>& runs);

}  // namespace moekit::train
