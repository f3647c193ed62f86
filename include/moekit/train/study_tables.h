#pragma once
// The tables and plots of a study's runs: one row per arm (mean ± spread of
// every metric, sparsity mark), paired differences, CSVs, compare.svg.
#include <string>
#include <utility>
#include <vector>

#include "moekit/train/experiment_run.h"
#include "moekit/train/study_arm.h"

namespace moekit::train {

/// The arm a run belongs to.
StudyArm arm_of(const RunRecord& r);

/// Runs by arm label, arms in first-seen order.
std::vector<std::pair<std::string, std::vector<const RunRecord*>>> runs_by_arm(
    const std::vector<RunRecord>& runs);

enum class Spread { kStd, kStandardError };

/// Markdown table: one row per arm in first-seen order, mean ± std (sample
/// std; 0 for one run) or standard error of every test metric, active
/// experts, time. A row of a sparse gate whose mean active experts at test
/// exceed its routed experts + 0.05 is marked "not sparse at test".
std::string summary_table(const std::vector<RunRecord>& runs, Spread spread = Spread::kStd);

/// Markdown: for each pair (A, B) with runs in both arms, per metric, the mean
/// of A - B over the seeds both ran and its 95% t-interval.
std::string paired_table(const std::vector<RunRecord>& runs,
                         const std::vector<std::vector<std::string>>& pairs);

/// CSV of the same summary as summary_table: group, runs, then `<column>_mean`,
/// `<column>_std` for valid loss, every test metric, active experts and time.
std::string summary_csv(const std::vector<RunRecord>& runs);

/// CSV, one row per run: arm (its table label), gate, local_search,
/// consistency, seed, params, valid_loss, test metrics, active experts, how
/// far local search moved Π, epochs, time.
std::string runs_csv(const std::vector<RunRecord>& runs);

/// DIR/compare.svg from DIR/compare_summary.csv (summary_csv of `runs`): one
/// panel per test metric, bars of the mean with the std as error bars. False
/// when there is nothing to plot or gnuplot is missing or failed.
bool plot_summary(const std::string& dir, const std::vector<RunRecord>& runs);

}  // namespace moekit::train
