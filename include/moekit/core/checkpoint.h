#pragma once
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

namespace torch::nn {
class Module;
}

#include <string>

namespace moekit {

/// Writes `archive` to `path` so that a crash or a full disk never leaves a
/// half-written file there: it goes to `path.tmp`, is flushed to disk, then
/// renamed over `path`. On failure the temporary is removed, the previous file
/// at `path` is untouched, and moekit::Error names the path and the cause.
void save_archive_atomically(torch::serialize::OutputArchive& archive, const std::string& path);

/// Writes `text` to `path` the same way: temporary file, flush, rename. For
/// run outputs (config.yaml, results, tables) that readers may open at any time.
void write_text_atomically(const std::string& path, const std::string& text);

/// Reads `path` into `archive`; a missing or corrupt file throws moekit::Error naming it.
void load_archive(torch::serialize::InputArchive& archive, const std::string& path);

/// Loads the weights file `path` (what Module::save wrote, in a checkpoint
/// file) into `module`; throws moekit::Error naming the file when it is
/// missing, corrupt or does not match the module (a run's config changed?).
void load_module_weights(torch::nn::Module& module, const std::string& path);

}  // namespace moekit
