#include "moekit/moe/dispatch.h"

#include <algorithm>

#include "moe/dispatch_kernels.h"
#include "moekit/core/error.h"

namespace moekit::moe {
namespace {

// CPU row kernels (dispatch_cpu.cpp) for float and double; everything else
// takes the ATen ops below, which run on every device.
bool use_row_kernels(const at::Tensor& t) {
  return t.is_cpu() && (t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble);
}

// The plan itself when it carries its by-row index, else a copy that does.
DispatchPlan indexed(const DispatchPlan& plan) {
  DispatchPlan copy = plan;
  index_plan_by_row(copy);
  return copy;
}

// counts[e] for e in [0, n) from a histogram that may carry a leading bin for
// "no expert" (-1); the only host sync of dispatch.
void set_counts(DispatchPlan& plan, const at::Tensor& histogram, int64_t skip_bins) {
  const at::Tensor host = histogram.to(at::kCPU, at::kLong).contiguous();
  const int64_t* h = host.data_ptr<int64_t>();
  const int64_t n = host.numel() - skip_bins;
  plan.counts.assign(h + skip_bins, h + skip_bins + n);
  plan.offsets.assign(n + 1, 0);
  for (int64_t e = 0; e < n; ++e) plan.offsets[e + 1] = plan.offsets[e] + plan.counts[e];
}

}  // namespace

DispatchPlan plan_dispatch(const at::Tensor& idx, int64_t n_experts) {
  MOEKIT_CHECK(idx.dim() == 2, "routing.idx", "expected [T, k_eff], got {} dims", idx.dim());
  DispatchPlan plan;
  plan.rows = idx.size(0);
  const int64_t k_eff = idx.size(1);
  const at::Tensor flat = idx.reshape(-1);
  // Bin 0 counts the empty slots (-1), which the stable sort puts first.
  set_counts(plan, at::bincount(flat + 1, /*weights=*/{}, n_experts + 1), /*skip_bins=*/1);
  const int64_t empty = flat.numel() - plan.assignments();
  auto [sorted, order] = at::sort(flat, /*stable=*/true, /*dim=*/0, /*descending=*/false);
  plan.slot = order.narrow(0, empty, plan.assignments());
  plan.expert = sorted.narrow(0, empty, plan.assignments());
  plan.token = at::div(plan.slot, k_eff, "floor");
  // The stable sort keeps rows in order when they all share one expert.
  plan.identity = k_eff == 1 && std::find(plan.counts.begin(), plan.counts.end(), plan.rows) !=
                                    plan.counts.end();
  if (!plan.identity) index_plan_by_row(plan);
  return plan;
}

DispatchPlan plan_union_dispatch(const std::vector<gates::Routing>& routings, int64_t n_experts) {
  MOEKIT_CHECK(!routings.empty(), "routings", "need at least one routing");
  const int64_t rows = routings.front().rows();
  // used[e, t]: does any routing send row t to expert e. Non-zero positions of
  // the [n, T] mask come out sorted by expert, then row: the grouping we need.
  at::Tensor used = at::zeros({n_experts, rows}, routings.front().idx.options().dtype(at::kBool));
  for (const auto& r : routings) {
    MOEKIT_CHECK(r.rows() == rows, "routings", "all routings need {} rows, got {}", rows, r.rows());
    const at::Tensor valid = r.idx.ge(0);
    const at::Tensor row = at::arange(rows, r.idx.options()).unsqueeze(1).expand_as(r.idx);
    used.index_put_({r.idx.masked_select(valid), row.masked_select(valid)},
                    at::ones({}, used.options()));
  }
  DispatchPlan plan;
  plan.rows = rows;
  set_counts(plan, used.sum(1), /*skip_bins=*/0);
  const at::Tensor pairs = used.nonzero();  // [A, 2] (expert, row)
  plan.expert = pairs.select(1, 0).contiguous();
  plan.token = pairs.select(1, 1).contiguous();
  index_plan_by_row(plan);
  return plan;
}

at::Tensor assignment_weights(const DispatchPlan& plan, const gates::Routing& routing) {
  if (plan.slot.defined()) return routing.w.reshape(-1).index_select(0, plan.slot);
  return routing.weights.index({plan.token, plan.expert});
}

void index_plan_by_row(DispatchPlan& plan) {
  if (plan.by_row.defined() && plan.row_offsets.defined()) return;
  const at::Tensor token = plan.token.to(at::kLong);
  // A stable sort keeps a row's assignments in plan order: the sum order of combine.
  plan.by_row = std::get<1>(at::sort(token, /*stable=*/true, /*dim=*/0, /*descending=*/false));
  plan.row_offsets = at::zeros({plan.rows + 1}, token.options());
  if (token.numel() > 0) {
    plan.row_offsets.narrow(0, 1, plan.rows).copy_(at::bincount(token, {}, plan.rows).cumsum(0));
  }
}

at::Tensor gather_rows(const at::Tensor& x, const DispatchPlan& plan) {
  if (plan.identity && x.size(0) == plan.rows) return x;
  if (use_row_kernels(x) && x.size(0) == plan.rows) {
    return gather_rows_cpu(x, indexed(plan));
  }
  return x.index_select(0, plan.token);
}

at::Tensor combine(const at::Tensor& y, const at::Tensor& weight, const DispatchPlan& plan) {
  if (use_row_kernels(y) && !(plan.identity && y.size(0) == plan.rows)) {
    MOEKIT_CHECK(y.size(0) == plan.assignments() && weight.numel() == y.size(0), "combine",
                 "expected {} rows and weights, got {} and {}", plan.assignments(), y.size(0),
                 weight.numel());
    return combine_cpu(y, weight.to(y.scalar_type()).reshape(-1), indexed(plan));
  }
  std::vector<int64_t> shape = y.sizes().vec();
  shape[0] = plan.rows;
  std::vector<int64_t> weight_shape(y.dim(), 1);
  weight_shape[0] = weight.size(0);
  const at::Tensor weighted = y * weight.to(y.scalar_type()).view(weight_shape);
  if (plan.identity && y.size(0) == plan.rows) return weighted;
  // In place on fresh zeros: index_add would first copy them.
  return at::zeros(shape, y.options()).index_add_(0, plan.token, weighted);
}

}  // namespace moekit::moe
