#include "moekit/dist/expert_parallel.h"

#include <torch/torch.h>

#include <numeric>
#include <unordered_set>

#include "moekit/core/error.h"

namespace moekit::dist {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Carries the group through AutogradContext::saved_data, which holds IValues only.
struct GroupCapsule : torch::CustomClassHolder {
  explicit GroupCapsule(std::shared_ptr<Group> g) : group(std::move(g)) {}
  std::shared_ptr<Group> group;
};

struct AllToAllFunction : torch::autograd::Function<AllToAllFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x,
                            const std::shared_ptr<Group>& group, std::vector<int64_t> send,
                            std::vector<int64_t> recv) {
    ctx->saved_data["group"] =
        c10::IValue::make_capsule(c10::make_intrusive<GroupCapsule>(group));
    ctx->saved_data["send"] = send;
    ctx->saved_data["recv"] = recv;
    return group->all_to_all(x, send, recv);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto capsule = c10::static_intrusive_pointer_cast<GroupCapsule>(
        ctx->saved_data["group"].toCapsule());
    const auto send = ctx->saved_data["send"].toIntVector();
    const auto recv = ctx->saved_data["recv"].toIntVector();
    // The gradient of each received row goes back to the rank that sent it.
    at::Tensor g = capsule->group->all_to_all(grads[0].contiguous(), recv, send);
    return {g, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

int64_t sum(const std::vector<int64_t>& v, size_t begin, size_t end) {
  return std::accumulate(v.begin() + begin, v.begin() + end, int64_t{0});
}

}  // namespace

at::Tensor all_to_all(const std::shared_ptr<Group>& group, const at::Tensor& x,
                      const std::vector<int64_t>& send_splits,
                      const std::vector<int64_t>& recv_splits) {
  if (!group->is_distributed()) return group->all_to_all(x, send_splits, recv_splits);
  return AllToAllFunction::apply(x, group, send_splits, recv_splits);
}

ShardedExpertsImpl::ShardedExpertsImpl(std::shared_ptr<Group> group,
                                       std::shared_ptr<moe::Experts> local, int64_t n_experts)
    : group_(std::move(group)), n_experts_(n_experts) {
  MOEKIT_CHECK(group_ && local, "sharded_experts", "needs a group and local experts");
  MOEKIT_CHECK(local->n_experts() * group_->world_size() == n_experts, "n_experts",
               "{} experts cannot be split into {} ranks of {} local experts", n_experts,
               group_->world_size(), local->n_experts());
  local_ = register_module("local", std::move(local));
}

at::Tensor ShardedExpertsImpl::forward_expert(int64_t e, const at::Tensor& x) {
  MOEKIT_CHECK(e >= 0 && e < n_experts_, "expert", "must lie in [0, {}), got {}", n_experts_, e);
  std::vector<int64_t> counts(n_experts_, 0);
  counts[e] = x.size(0);
  return forward(x, counts);
}

at::Tensor ShardedExpertsImpl::forward(const at::Tensor& x_grouped,
                                       const std::vector<int64_t>& counts) {
  const int64_t W = group_->world_size(), L = n_local();
  MOEKIT_CHECK(static_cast<int64_t>(counts.size()) == n_experts_, "counts",
               "expected {} experts, got {}", n_experts_, counts.size());
  MOEKIT_CHECK(sum(counts, 0, counts.size()) == x_grouped.size(0), "counts",
               "counts sum to {}, rows are {}", sum(counts, 0, counts.size()), x_grouped.size(0));
  if (W == 1) return local_->forward(x_grouped, counts);

  // 1. Counts: recv[j·L + e] = rows rank j sends to local expert e.
  const at::Tensor send_counts = at::tensor(counts, at::TensorOptions(at::kLong));
  const at::Tensor recv_counts_t =
      group_->all_to_all(send_counts, std::vector<int64_t>(W, L), std::vector<int64_t>(W, L));
  const std::vector<int64_t> recv_counts(recv_counts_t.data_ptr<int64_t>(),
                                         recv_counts_t.data_ptr<int64_t>() + W * L);
  std::vector<int64_t> send_splits(W), recv_splits(W), local_counts(L, 0);
  for (int64_t j = 0; j < W; ++j) {
    send_splits[j] = sum(counts, j * L, (j + 1) * L);
    recv_splits[j] = sum(recv_counts, j * L, (j + 1) * L);
    for (int64_t e = 0; e < L; ++e) local_counts[e] += recv_counts[j * L + e];
  }

  // 2. Rows, received in (source rank, local expert) order.
  const at::Tensor x_recv = all_to_all(group_, x_grouped, send_splits, recv_splits);
  const int64_t R = x_recv.size(0);

  // 3. Regroup by (local expert, source rank): each local expert sees one slice.
  at::Tensor order;  // local grouped row i = received row order[i]
  if (L > 1) {
    std::vector<int64_t> start(W * L);
    int64_t offset = 0;
    for (int64_t i = 0; i < W * L; ++i) {
      start[i] = offset;
      offset += recv_counts[i];
    }
    order = at::empty({R}, at::TensorOptions(at::kLong));
    int64_t* o = order.data_ptr<int64_t>();
    for (int64_t e = 0; e < L; ++e) {
      for (int64_t j = 0; j < W; ++j) {
        const int64_t c = recv_counts[j * L + e];
        std::iota(o, o + c, start[j * L + e]);
        o += c;
      }
    }
    order = order.to(x_recv.device());
  }
  const at::Tensor x_local = order.defined() ? x_recv.index_select(0, order) : x_recv;
  const at::Tensor y_local = local_->forward(x_local, local_counts);  // [R, ...out]

  // 4. Back to received order, then back to the senders.
  at::Tensor y_recv = y_local;
  if (order.defined()) {
    const at::Tensor inverse = at::empty_like(order).index_put_(
        {order}, at::arange(R, order.options()));
    y_recv = y_local.index_select(0, inverse);
  }
  return all_to_all(group_, y_recv, recv_splits, send_splits);
}

void ShardedExpertsImpl::pretty_print(std::ostream& stream) const {
  stream << "moekit::ShardedExperts(n_experts=" << n_experts_ << ", rank=" << group_->rank()
         << ", world_size=" << group_->world_size() << ", local=[" << first_expert() << ", "
         << first_expert() + local_->n_experts() << "))";
}

namespace {

// Expert modules [first, first + count) of another Experts, under their global
// names; the rest of that Experts is kept alive but not registered, so it
// neither trains nor takes part in this rank's checkpoint.
class SubsetExpertsImpl : public moe::Experts {
 public:
  SubsetExpertsImpl(std::shared_ptr<moe::Experts> full, int64_t first, int64_t count)
      : full_(std::move(full)), first_(first), count_(count) {
    const auto children = full_->named_children();
    for (int64_t e = first; e < first + count; ++e) {
      const std::string name = "expert_" + std::to_string(e);
      if (children.contains(name)) register_module(name, children[name]);
    }
  }
  int64_t n_experts() const override { return count_; }
  at::Tensor forward_expert(int64_t e, const at::Tensor& x) override {
    return full_->forward_expert(first_ + e, x);
  }
  using Experts::forward;

 private:
  std::shared_ptr<moe::Experts> full_;
  int64_t first_, count_;
};

}  // namespace

std::shared_ptr<moe::Experts> slice_experts(const std::shared_ptr<moe::Experts>& experts,
                                            int64_t first, int64_t count) {
  MOEKIT_CHECK(first >= 0 && count >= 1 && first + count <= experts->n_experts(), "experts",
               "cannot take experts [{}, {}) of {}", first, first + count, experts->n_experts());
  if (auto slice = experts->slice(first, count)) return slice;
  return std::make_shared<SubsetExpertsImpl>(experts, first, count);
}

ShardedExperts shard_experts(const std::shared_ptr<Group>& group,
                             const std::shared_ptr<moe::Experts>& experts) {
  const int64_t n = experts->n_experts(), W = group->world_size();
  MOEKIT_CHECK(n % W == 0, "n_experts",
               "expert parallelism needs n_experts divisible by the world size; {} experts do "
               "not split over {} ranks",
               n, W);
  const int64_t L = n / W;
  return ShardedExperts(group, slice_experts(experts, group->rank() * L, L), n);
}

int64_t shard_moe_experts(const std::shared_ptr<Group>& group, torch::nn::Module& model) {
  if (!group->is_distributed()) return 0;
  int64_t sharded = 0;
  for (const auto& module : model.modules(/*include_self=*/true)) {
    auto* host = dynamic_cast<moe::ExpertHost*>(module.get());
    if (host == nullptr) continue;
    const auto experts = host->expert_set();
    if (!experts || std::dynamic_pointer_cast<ShardedExpertsImpl>(experts)) continue;
    host->set_experts(shard_experts(group, experts).ptr());
    ++sharded;
  }
  return sharded;
}

ParameterSplit split_parameters(torch::nn::Module& model) {
  std::unordered_set<const void*> in_shards;
  for (const auto& module : model.modules(/*include_self=*/true)) {
    if (dynamic_cast<ShardedExpertsImpl*>(module.get()) != nullptr) {
      for (const auto& p : module->parameters()) in_shards.insert(p.unsafeGetTensorImpl());
    }
  }
  ParameterSplit split;
  for (const auto& p : model.parameters()) {
    (in_shards.count(p.unsafeGetTensorImpl()) ? split.sharded : split.replicated).push_back(p);
  }
  return split;
}

void synchronize_gradients(Group& group, torch::nn::Module& model) {
  if (!group.is_distributed()) return;
  const ParameterSplit split = split_parameters(model);
  all_reduce_mean_gradients(group, split.replicated);
  torch::NoGradGuard no_grad;
  for (const auto& p : split.sharded) {
    // An expert no row reached still steps, as it would in one process (with a
    // zero gradient), so Adam's state stays the same on every layout.
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
    p.mutable_grad().div_(static_cast<double>(group.world_size()));
  }
}

double clip_grad_norm(Group& group, torch::nn::Module& model, double max_norm) {
  if (!group.is_distributed()) {
    return torch::nn::utils::clip_grad_norm_(model.parameters(), max_norm);
  }
  const ParameterSplit split = split_parameters(model);
  auto squares = [](const std::vector<at::Tensor>& params) {
    at::Tensor sum = at::zeros({}, at::kDouble);
    for (const auto& p : params) {
      if (p.grad().defined()) sum += p.grad().to(at::kDouble).pow(2).sum();
    }
    return sum;
  };
  // Replicated gradients are equal on every rank: only the shards' squares are summed.
  at::Tensor sharded = squares(split.sharded);
  group.all_reduce_sum({sharded});
  const double norm = std::sqrt((squares(split.replicated) + sharded).item<double>());
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1) {
    torch::NoGradGuard no_grad;
    for (const auto& p : model.parameters()) {
      if (p.grad().defined()) p.grad().mul_(coef);
    }
  }
  return norm;
}

}  // namespace moekit::dist
