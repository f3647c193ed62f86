#pragma once
#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <vector>

#include "moekit/dist/process_group.h"
#include "moekit/moe/experts.h"

namespace moekit::dist {

/// Differentiable variable-size all-to-all along dim 0 (Group::all_to_all): the
/// backward sends the gradients back along the reverse route.
at::Tensor all_to_all(const std::shared_ptr<Group>& group, const at::Tensor& x,
                      const std::vector<int64_t>& send_splits,
                      const std::vector<int64_t>& recv_splits);

/// Expert parallelism: the n experts of a layer are sharded over the ranks of
/// `group`, rank r owning the contiguous block [r·n/W, (r+1)·n/W). It presents
/// itself as all n experts, so MoELayer and MultiGateMoE route and combine as
/// before: forward() gets this rank's rows grouped by global expert, sends each
/// expert's rows to its owner (all-to-all of the counts, then of the rows with
/// variable splits), runs the local experts on the rows of every rank, and sends
/// the outputs back in the order they came. Backward runs the reverse exchange,
/// so a local expert's gradient sums the contributions of every rank's rows.
///
/// NOTE: forward() and forward_expert() are collective: every rank calls them
/// the same number of times, in the same order (one per layer per step), even
/// with no rows of its own.
class ShardedExpertsImpl : public moe::Experts {
 public:
  /// `local` holds this rank's n_experts / world_size experts, in order.
  ShardedExpertsImpl(std::shared_ptr<Group> group, std::shared_ptr<moe::Experts> local,
                     int64_t n_experts);

  int64_t n_experts() const override { return n_experts_; }
  int64_t n_local() const { return local_->n_experts(); }
  /// Global index of local expert 0.
  int64_t first_expert() const { return group_->rank() * n_local(); }
  moe::Experts& local() { return *local_; }
  Group& group() { return *group_; }

  /// Runs global expert e on x [R, ...] (collective; only e's owner computes).
  at::Tensor forward_expert(int64_t e, const at::Tensor& x) override;
  /// x_grouped [A, ...], counts [n] per global expert -> [A, ...out], same order.
  at::Tensor forward(const at::Tensor& x_grouped, const std::vector<int64_t>& counts) override;
  void pretty_print(std::ostream& stream) const override;

 private:
  std::shared_ptr<Group> group_;
  std::shared_ptr<moe::Experts> local_;
  int64_t n_experts_;
};
TORCH_MODULE(ShardedExperts);

/// This rank's block of `experts`: experts [first, first + count) as an Experts
/// of `count` experts. One that can slice itself (Experts::slice, e.g.
/// FFNExperts) gives new weights (a copy, so the others' memory can be freed);
/// others (ModuleExperts) keep their expert modules, registered under their
/// global names "expert_<e>".
std::shared_ptr<moe::Experts> slice_experts(const std::shared_ptr<moe::Experts>& experts,
                                            int64_t first, int64_t count);

/// Wraps `experts` (all n, identical on every rank, e.g. after broadcast_module)
/// as this rank's shard. Throws moekit::Error when n is not divisible by the
/// world size.
ShardedExperts shard_experts(const std::shared_ptr<Group>& group,
                             const std::shared_ptr<moe::Experts>& experts);

/// Shards the experts of every moe::ExpertHost (MoELayer, MultiGateMoE) inside
/// `model` over `group` (a no-op on one process). Call it after broadcast_module and before
/// building the optimizer: the expert parameters change. Returns how many
/// expert sets were sharded.
int64_t shard_moe_experts(const std::shared_ptr<Group>& group, torch::nn::Module& model);

/// Parameters of `model` split into replicated ones (average their gradients
/// over ranks) and expert-parallel ones (inside a ShardedExperts: owned by one rank).
struct ParameterSplit {
  std::vector<at::Tensor> replicated;
  std::vector<at::Tensor> sharded;
};
ParameterSplit split_parameters(torch::nn::Module& model);

/// After backward, before the optimizer step: makes every gradient equal to that
/// of one process running the global batch (all ranks' batches, loss = mean of
/// the per-rank losses): replicated gradients are averaged over ranks, sharded
/// expert gradients (summed over every rank's rows by the exchange) divided by
/// the world size.
void synchronize_gradients(Group& group, torch::nn::Module& model);

/// After synchronize_gradients: scales every gradient so that their global L2
/// norm (the sharded experts' summed over ranks) is at most `max_norm`, as
/// torch::nn::utils::clip_grad_norm_ does in one process. Collective on more
/// than one process. Returns the norm before clipping.
double clip_grad_norm(Group& group, torch::nn::Module& model, double max_norm);

}  // namespace moekit::dist
