#pragma once
// Checkpoints that any world size can load: a model and its Adam state are
// written in the single-process layout (what Module::save writes for the
// unsharded model), whatever the world size of the run that wrote them. On
// save, each expert-parallel tensor is gathered from the ranks that own its
// experts; on load, each rank keeps the slice of the experts it owns. So a run
// checkpointed on 2 processes resumes on 1, on 4 or on 2 again, and `moekit
// eval` reads it like any other run. PyTorch calls this a "full state dict".
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "moekit/dist/process_group.h"

namespace torch::nn {
class Module;
}
namespace torch::optim {
class Optimizer;
}
namespace torch::serialize {
class InputArchive;
class OutputArchive;
}  // namespace torch::serialize

namespace moekit::dist {

/// One tensor of a model as the single-process model names and shapes it.
struct FullEntry {
  std::string name;            // dotted, e.g. "moe.experts.w1"
  std::vector<int64_t> shape;  // full shape
  at::ScalarType dtype = at::kFloat;
  bool is_buffer = false;
  /// This rank's tensor behind the entry; undefined when another rank owns it.
  at::Tensor local;
  /// Expert-parallel entry: its value is gathered from / scattered to its owners.
  bool sharded = false;
  /// For a sharded entry with `local` defined: local covers rows [offset,
  /// offset + local.size(0)) of the full tensor, or all of it when offset < 0.
  int64_t offset = -1;
};

/// `model` as the single-process model would be: its parameters, then buffers
/// (the experts of every ShardedExperts under the names and shapes they have
/// without sharding) and the dotted path of every submodule (Module::load
/// expects an archive even for those without tensors). Same order on every
/// rank. Not collective.
struct FullLayout {
  std::vector<FullEntry> entries;
  std::vector<std::string> modules;
};
FullLayout full_layout(torch::nn::Module& model);

/// Collective. Writes `model` (gathered) into `model_archive` in Module::save's
/// layout and, when `adam` is given, its per-parameter state (step, exp_avg,
/// exp_avg_sq) into `optim_archive`. Every rank must call it; the archives are
/// complete on every rank, so any one of them can write the file.
void save_full_state(Group& group, torch::nn::Module& model, torch::optim::Optimizer* adam,
                     torch::serialize::OutputArchive& model_archive,
                     torch::serialize::OutputArchive* optim_archive);

/// Loads what save_full_state wrote (at any world size) into this rank's
/// shard of `model` and, when `adam` and `optim_archive` are given, into the
/// Adam state of its parameters. Throws moekit::Error at `where` naming the
/// first tensor that is missing or has the wrong shape; with `missing` given,
/// tensors the archive lacks keep their values and their names are appended
/// there instead (partial loads: a model that has what the archive's lacks).
/// Not collective.
void load_full_state(torch::nn::Module& model, torch::optim::Optimizer* adam,
                     torch::serialize::InputArchive& model_archive,
                     torch::serialize::InputArchive* optim_archive, const std::string& where,
                     std::vector<std::string>* missing = nullptr);

}  // namespace moekit::dist
