#pragma once
#include <ATen/ATen.h>
#include <torch/arg.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace moekit::dist {

/// Where a process sits in a multi-process run and how it meets its peers.
/// Field names follow torchrun's environment variables (GroupOptions::from_env).
struct GroupOptions {
  TORCH_ARG(int64_t, rank) = 0;
  TORCH_ARG(int64_t, world_size) = 1;
  /// Rank on this machine (LOCAL_RANK); picks the GPU under NCCL.
  TORCH_ARG(int64_t, local_rank) = 0;
  /// Host of rank 0's TCPStore.
  TORCH_ARG(std::string, master_addr) = "127.0.0.1";
  TORCH_ARG(int64_t, master_port) = 29500;
  /// Seconds any rendezvous or collective may wait for a peer before failing.
  TORCH_ARG(double, timeout_s) = 60.0;
  /// gloo | nccl | auto (nccl when built with CUDA and a GPU is used, else gloo).
  TORCH_ARG(std::string, backend) = "gloo";

 public:
  /// Reads RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT and
  /// MOEKIT_DIST_TIMEOUT (seconds). Without RANK/WORLD_SIZE: world size 1.
  /// Throws moekit::Error naming the variable when one is malformed.
  static GroupOptions from_env();
  /// Throws moekit::Error naming the field at fault.
  void validate() const;
};

/// A c10d process group (Gloo on CPU) behind a small, blocking API. Every
/// collective waits at most `timeout_s`; a failed or timed-out collective throws
/// moekit::Error("rank R", "<op>: a peer exited or did not answer within N s (...)").
/// World size 1 is a null group: no sockets, every op an identity, so code
/// written for N processes runs unchanged in one.
///
/// Every method except the accessors is collective: all ranks must call it, in
/// the same order, with matching shapes.
class Group {
 public:
  /// The null group (rank 0 of 1).
  Group();
  /// Rendezvous on options.master_addr():master_port() (rank 0 hosts the
  /// TCPStore) and connect the full mesh. Throws moekit::Error when a peer does
  /// not show up within the timeout.
  explicit Group(GroupOptions options);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int64_t rank() const { return options_.rank(); }
  int64_t world_size() const { return options_.world_size(); }
  int64_t local_rank() const { return options_.local_rank(); }
  bool is_distributed() const { return options_.world_size() > 1; }
  const GroupOptions& options() const { return options_; }

  /// In place: each tensor becomes the sum over ranks.
  void all_reduce_sum(const std::vector<at::Tensor>& tensors);
  /// In place: each tensor becomes the mean over ranks.
  void all_reduce_mean(const std::vector<at::Tensor>& tensors);
  /// In place: every rank gets root's values.
  void broadcast(const std::vector<at::Tensor>& tensors, int64_t root = 0);
  /// Variable-size all-to-all along dim 0: rows [Σ send_splits[<j], +send_splits[j])
  /// of `input` go to rank j; the result holds recv_splits[j] rows from rank j,
  /// in rank order. Both split lists have world_size entries. No autograd.
  at::Tensor all_to_all(const at::Tensor& input, const std::vector<int64_t>& send_splits,
                        const std::vector<int64_t>& recv_splits);
  void barrier();

 private:
  struct Impl;
  GroupOptions options_;
  std::unique_ptr<Impl> impl_;
};

/// The group of this process, from the environment (GroupOptions::from_env),
/// created on first use and shared by every later call.
std::shared_ptr<Group> default_group();

/// Data parallelism: every rank starts from rank 0's parameters and buffers.
void broadcast_module(Group& group, torch::nn::Module& module);

/// Averages the gradients of `parameters` over ranks (one flattened all-reduce
/// per dtype). Parameters without a gradient count as zeros, so every rank
/// still joins the same collectives.
void all_reduce_mean_gradients(Group& group, const std::vector<at::Tensor>& parameters);

}  // namespace moekit::dist
