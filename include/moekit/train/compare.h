#pragma once
#include <torch/arg.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "moekit/core/config.h"
#include "moekit/train/experiment_run.h"

namespace moekit::train {

/// Trains and tests one run on an independent copy of `base` with `overrides`
/// (`section.key=value`) applied. With a `run_dir` the run is resumable: a
/// finished run (results.json) is read back instead of trained again, an
/// interrupted one continues from its checkpoint; a run_dir that holds a run
/// of another config is an error naming it.
RunRecord run_once(const Config& base, const std::vector<std::string>& overrides,
                   const std::string& run_dir = "");

/// The run folder of one run of a study under its output folder ("" when it has none).
std::string study_run_dir(const std::string& out_dir, const std::string& subdir,
                          const std::string& gate, bool local_search, const std::string& index);

struct CompareOptions {
  TORCH_ARG(std::vector<std::string>, gates) = std::vector<std::string>{"softmax"};
  TORCH_ARG(int64_t, seeds) = 1;
  /// The gate.local_search settings to run, e.g. {false}, {true} or {false, true}.
  TORCH_ARG(std::vector<bool>, local_search) = std::vector<bool>{false};
  /// Where compare.md, compare.csv and the runs (runs/<gate>[-ls]-seed<s>/, so a
  /// rerun continues where it stopped) go; "" writes nothing.
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
