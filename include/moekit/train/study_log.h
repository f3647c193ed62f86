#pragma once
#include <string>
#include <vector>

#include "moekit/train/experiment_run.h"

namespace moekit::train {

/// The record of a study (`tune`'s trials.jsonl, `compare`'s runs.jsonl): one
/// JSON line per finished run with the config it ran (its request: the base
/// config and the run's overrides), gate, seed, tuned values, metrics and
/// time. It is small, so it is committed with a study's results; a study
/// continues from a copy of it on a fresh machine (`--continue-from`): a run
/// whose request is in the log is taken from it, not trained again.
class StudyLog {
 public:
  struct Entry {
    std::string request;  // the run's config text (Config::dump)
    RunRecord record;
  };

  /// Adds the lines of `paths` (comma-separated; a missing file adds
  /// nothing); a line that is not a run record throws naming `path:line`. A
  /// request already present keeps its first record.
  void load(const std::string& paths);

  /// The record of the run that used `request`, or null.
  const RunRecord* find(const std::string& request) const;

  void add(const RunRecord& record, const std::string& request);

  /// Rewrites `path` whole (atomically), in the order runs were added.
  void write(const std::string& path) const;

  const std::vector<Entry>& entries() const { return entries_; }

 private:
  void load_file(const std::string& path);
  std::vector<Entry> entries_;
};

/// "a,b" -> {"a", "b"} (empty parts dropped): the study options that take
/// several records.
std::vector<std::string> split_paths(const std::string& text);

/// Throws moekit::Error naming `option` and the path when a path of the
/// comma-separated `paths` does not exist.
void check_records_exist(const std::string& paths, const std::string& option);

/// Copies those of `names` that exist in `from_dir` into `to_dir` (created),
/// each atomically: how a study's small files (tables, records, plots) reach
/// its committed record folder as they are written. "" for `to_dir` copies nothing.
void copy_study_files(const std::string& from_dir, const std::string& to_dir,
                      const std::vector<std::string>& names);

}  // namespace moekit::train
