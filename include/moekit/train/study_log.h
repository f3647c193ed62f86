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

  /// Adds the lines of `path` (a missing file adds nothing); a line that is
  /// not a run record throws naming `path:line`. A request already present
  /// keeps its first record.
  void load(const std::string& path);

  /// The record of the run that used `request`, or null.
  const RunRecord* find(const std::string& request) const;

  void add(const RunRecord& record, const std::string& request);

  /// Rewrites `path` whole (atomically), in the order runs were added.
  void write(const std::string& path) const;

  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

}  // namespace moekit::train
