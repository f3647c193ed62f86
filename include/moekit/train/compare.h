#pragma once
#include <torch/arg.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "moekit/core/config.h"
#include "moekit/train/arm_setting.h"
#include "moekit/train/experiment_run.h"
#include "moekit/train/study_arm.h"
#include "moekit/train/study_tables.h"

namespace moekit::train {

class StudyLog;

/// The config text of a run: `base` with `overrides` (`section.key=value`) applied.
std::string run_request(const Config& base, const std::vector<std::string>& overrides);

/// Trains and tests one run on an independent copy of `base` with `overrides`
/// applied. A run whose request is in `log` is taken from it. With a `run_dir`
/// the run is resumable: a finished run (results.json) is read back instead of
/// trained again, an interrupted one continues from its checkpoint; a run_dir
/// that holds a run of another config is an error naming it.
RunRecord run_once(const Config& base, const std::vector<std::string>& overrides,
                   const std::string& run_dir = "", const StudyLog* log = nullptr);

/// The run folder of one run of a study under its output folder ("" when it has none).
std::string study_run_dir(const std::string& out_dir, const std::string& subdir,
                          const StudyArm& arm, const std::string& index);

/// The pairs COMET's claims name: COMET+ - DSelect-k, DSelect-k - Top-k,
/// DSelect-k - Hash, COMET - Top-k.
std::vector<std::vector<std::string>> default_pairs();

struct CompareOptions {
  /// Arms (study_arm.h): gate names, crossed with local_search, or written
  /// out ("topk+ls", "random+consistency").
  TORCH_ARG(std::vector<std::string>, gates) = std::vector<std::string>{"softmax"};
  TORCH_ARG(int64_t, seeds) = 1;
  /// The gate.local_search settings to run, e.g. {false}, {true} or {false, true}.
  TORCH_ARG(std::vector<bool>, local_search) = std::vector<bool>{false};
  /// Where compare.md, compare.csv, runs.jsonl and the runs
  /// (runs/<gate>[-ls]-seed<s>/, so a rerun continues where it stopped) go;
  /// "" writes nothing.
  TORCH_ARG(std::string, out_dir) = "";
  /// A runs.jsonl (e.g. a committed copy) whose runs are taken as done.
  TORCH_ARG(std::string, continue_from) = "";
  /// A folder kept in git (docs/results/<study>/compare): the study continues
  /// from its runs.jsonl, and the tables, runs.jsonl and plot are copied there
  /// as they are written; the run folders stay in out_dir.
  TORCH_ARG(std::string, record_dir) = "";
  /// Tune records (folders or trials.jsonl files; several comma-separated, as
  /// when a study's arms were tuned by two processes): every arm they tuned is
  /// run with its best trial's values (lowest validation loss) instead of
  /// gates x local_search; `gates`, when not empty, keeps only the arms it
  /// names (with local_search, as without from_tune).
  TORCH_ARG(std::string, from_tune) = "";
  /// Arms compared seed by seed ("A", "B": A - B), with a 95% t-interval;
  /// pairs whose arms did not run are left out.
  TORCH_ARG(std::vector<std::vector<std::string>>, pairs) = default_pairs();
  /// Values fixed for one arm (arm_setting.h), applied after its tuned ones;
  /// with from_tune that arm's best trial is chosen among the trials that ran
  /// with them. A setting for an arm the study does not run is ignored.
  TORCH_ARG(std::vector<ArmSetting>, arm_settings) = {};

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

/// The best trial (lowest validation loss) of each arm of a tune record (a
/// tune folder or its trials.jsonl), arms in first-seen order. An arm with
/// `fixed` settings counts only its trials that ran with them (earlier trials
/// that drew those keys stay in the record but do not compete); an arm left
/// with none is an error naming the record and the setting.
std::vector<RunRecord> best_trials(const std::string& tune_record,
                                   const std::vector<ArmSetting>& fixed = {});

}  // namespace moekit::train
