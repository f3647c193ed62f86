#pragma once
#include <torch/arg.h>

#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "moekit/core/config.h"
#include "moekit/train/arm_setting.h"
#include "moekit/train/compare.h"
#include "moekit/train/tuning_budget.h"

namespace moekit::train {

/// One tuned config key (a `section.key` path) and how to draw it. In the
/// config's top-level `search:` section a key maps to
///   [low, high]                       uniform (integers when both are integers)
///   {low: , high: , log: true}        log-uniform (log: false = uniform)
///   [a, b, c, ...] (not 2 numbers)    one of the choices
///   {choices: [a, b]}                 one of the choices (any count)
struct SearchDim {
  enum class Kind { kUniform, kLogUniform, kIntUniform, kChoice };
  std::string key;
  Kind kind = Kind::kUniform;
  double low = 0, high = 0;
  std::vector<std::string> choices;

  /// The drawn value as config text (for Config::set).
  std::string sample(std::mt19937_64& rng) const;

  /// Trial `trial`'s value: drawn from a generator seeded by (seed, trial,
  /// key) alone, so every arm of a study gets the same value in trial t
  /// (paired arms), whatever other keys the arms tune.
  std::string draw(uint64_t seed, int64_t trial) const;

  /// Whether the arm reads this key: `gate.<option>` only when the gate reads
  /// the option (the local-search options only in "+ LS" arms),
  /// `gate.<name>.<option>` only for that gate, train.consistency_alpha only
  /// in "+ consistency" arms; other keys always.
  bool applies_to(const StudyArm& arm) const;
};

/// Reads the `search:` section of `config` (empty if absent); bad entries
/// throw naming `file: search.<key>`.
std::vector<SearchDim> parse_search_space(const Config& config);

struct TuneOptions {
  TORCH_ARG(std::vector<std::string>, gates) = std::vector<std::string>{"softmax"};
  TORCH_ARG(std::vector<bool>, local_search) = std::vector<bool>{false};
  TORCH_ARG(int64_t, trials) = 10;  // per gate and local-search setting
  /// The sampler's: trial t draws every key from (seed, t, key) and trains
  /// with train.seed = t, in every arm alike.
  TORCH_ARG(uint64_t, seed) = 0;
  /// Fraction of trials, by validation loss, whose test metrics are reported.
  TORCH_ARG(double, top_fraction) = 0.05;
  /// Where tune_trials.csv, trials.jsonl, tune_summary.md, expected_best.csv(.svg)
  /// and the trials' run folders go; "" writes nothing. Running again on the
  /// same folder continues the study.
  TORCH_ARG(std::string, out_dir) = "";
  /// A trials.jsonl (e.g. a committed copy) whose trials are taken as done.
  TORCH_ARG(std::string, continue_from) = "";
  /// A folder kept in git (docs/results/<study>/tune): the study continues
  /// from its trials.jsonl, and the small files (tables, trials.jsonl, plot)
  /// are copied there as they are written; the run folders stay in out_dir.
  TORCH_ARG(std::string, record_dir) = "";
  /// Values fixed for one arm (arm_setting.h): that arm does not draw those
  /// keys, and its trials record the fixed values among their tuned ones, so
  /// `compare --from-tune` reruns them. A setting for an arm the study does
  /// not run is ignored, so one command line serves both halves of a study.
  TORCH_ARG(std::vector<ArmSetting>, arm_settings) = {};

 public:
  void validate() const;
};

struct TuneResult {
  std::vector<RunRecord> trials;
  /// Per group ("gate" or "gate + LS"), in run order: expected best validation
  /// loss after n = 1..trials trials.
  std::vector<std::pair<std::string, std::vector<double>>> expected_best;
  /// Its 95% bootstrap band, one per curve (tuning_budget.h).
  std::vector<CurveBand> expected_best_bands;
  /// For every gate tuned without and with local search ("topk", "topk + LS"):
  /// the budget ratio R of the plain arm to the "+ LS" arm.
  std::vector<std::pair<std::string, BudgetRatio>> budget_ratios;
  std::string summary;        // Markdown: top-fraction table + expected best
  bool plot_written = false;  // false when gnuplot is missing or failed
};

/// Indices of the best ceil(fraction * n) (at least 1) losses, best first.
std::vector<size_t> top_fraction(const std::vector<double>& losses, double fraction);

/// E[min of n draws with replacement from `losses`] for n = 1..losses.size():
/// the bootstrap estimate of the best validation loss after n trials, computed
/// exactly rather than by resampling (so it is non-increasing and its n = 1
/// value is the mean).
std::vector<double> expected_best_curve(const std::vector<double>& losses);

/// Random search: for each gate and local-search setting, `trials` runs with
/// values drawn from the config's `search:` space.
TuneResult run_tune(const Config& config, const TuneOptions& options,
                    const std::function<void(const std::string&)>& progress = {});

}  // namespace moekit::train
