#pragma once
#include <torch/serialize/output-archive.h>

#include <cstdint>
#include <string>

namespace moekit::train {

/// The files of one training run, shared by both trainers:
///   config.yaml (resolved), metrics.jsonl (one JSON object per line),
///   checkpoint.pt (resumable state), best.pt (best weights), results.json.
/// Every rewrite is atomic (temporary file, flush, rename: see
/// core/checkpoint.h), so a kill or a full disk never leaves a half-written
/// file; metrics lines are appended and flushed, and a torn last line (a kill
/// mid-append) is dropped when the run resumes.
///
/// A run without a directory (dir "") writes nothing. In a distributed run
/// every rank reads the directory but only the writer (rank 0) writes it.
class RunDir {
 public:
  explicit RunDir(std::string dir = "", bool writer = true);

  /// A directory was given.
  bool enabled() const { return !dir_.empty(); }
  /// A directory was given and this process writes it.
  bool writer() const { return enabled() && writer_; }
  const std::string& dir() const { return dir_; }
  /// dir/name.
  std::string path(const std::string& name) const;
  std::string checkpoint_path() const { return path("checkpoint.pt"); }
  std::string best_path() const { return path("best.pt"); }
  std::string metrics_path() const { return path("metrics.jsonl"); }

  /// Creates the directory (writer only). Throws moekit::Error naming it.
  void create() const;
  /// A fresh run: metrics.jsonl starts empty.
  void start_metrics() const;
  /// A resumed run: keeps the metrics lines whose number `key` is <= `last`
  /// (what the checkpoint has seen), so no line is duplicated or lost; lines
  /// that do not parse (a torn last line) are dropped. Atomic rewrite.
  void truncate_metrics(const std::string& key, int64_t last) const;
  /// Appends one line (a JSON object, no newline) and flushes it. Throws
  /// moekit::Error naming metrics.jsonl when the disk refuses it.
  void append_metrics(const std::string& json_line) const;
  /// Writes `archive` to dir/name atomically (writer only).
  void save(torch::serialize::OutputArchive& archive, const std::string& name) const;
  /// Writes `text` to dir/name atomically (writer only).
  void write_text(const std::string& name, const std::string& text) const;

 private:
  std::string dir_;
  bool writer_;
};

}  // namespace moekit::train
