#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "moekit/gates/routing.h"

namespace moekit::moe {

/// Token -> expert assignments grouped by expert: what dispatch (gather) and
/// combine (weighted scatter-add) share. Expert e serves the contiguous slice
/// [offsets[e], offsets[e+1]) of the gathered rows, and no other row.
struct DispatchPlan {
  at::Tensor token;   // [A] int64: source row of each assignment, grouped by expert
  at::Tensor expert;  // [A] int64: its expert (non-decreasing)
  at::Tensor slot;    // [A] int64: position in the flattened compact form [T·k_eff];
                      //     undefined for union plans (multi-gate)
  std::vector<int64_t> counts;   // [n] assignments per expert
  std::vector<int64_t> offsets;  // [n + 1] prefix sums of counts
  int64_t rows = 0;              // T
  /// The same assignments grouped by row, for combine and for the gradient of
  /// gather (sums over a row's assignments, so every row is written by one
  /// thread: no atomics, no zero-fill): row t owns
  /// by_row[row_offsets[t] .. row_offsets[t+1]). Set by the planners; a plan
  /// built elsewhere may leave them undefined and gets them derived from `token`.
  at::Tensor by_row;       // [A] int64: assignment ids, grouped by row
  at::Tensor row_offsets;  // [T + 1] int64
  /// Every row goes to one expert exactly once (k_eff = 1, no empty slot), so
  /// plan order is row order: gather and combine need no copy or scatter
  /// (THOR's batch-level random expert, a fixed expert at inference).
  bool identity = false;

  int64_t assignments() const { return offsets.empty() ? 0 : offsets.back(); }
  int64_t n_experts() const { return static_cast<int64_t>(counts.size()); }
};

/// Plans dispatch for one gate's compact routing `idx` [T, k_eff] (-1 = none):
/// flatten, stable-sort by expert, count. One host sync, for the counts.
/// A row that lists an expert twice is sent to it twice.
DispatchPlan plan_dispatch(const at::Tensor& idx, int64_t n_experts);

/// Plans dispatch for several gates over one expert set (multi-gate, MMoE):
/// each (row, expert) pair that any routing uses appears once, so every expert
/// runs once on the union of the rows routed to it.
DispatchPlan plan_union_dispatch(const std::vector<gates::Routing>& routings, int64_t n_experts);

/// The combine weight of each planned assignment under `routing`: its compact
/// `w` for a plan built from that routing, else its dense weight [token, expert].
at::Tensor assignment_weights(const DispatchPlan& plan, const gates::Routing& routing);

/// Rows of x in plan order: [A, ...]. On CPU (float, double) one autograd node
/// whose gradient sums each row's assignments in place of a scatter-add.
at::Tensor gather_rows(const at::Tensor& x, const DispatchPlan& plan);

/// Weighted scatter-add of expert outputs y [A, ...] back to rows: out[token] +=
/// weight · y. Rows with no assignment get zeros. Returns [T, ...]. On CPU
/// (float, double) one fused autograd node: no [A, ...] weighted temporary, and
/// the gradients of y and weight in one pass over y.
at::Tensor combine(const at::Tensor& y, const at::Tensor& weight, const DispatchPlan& plan);

/// Fills plan.by_row and plan.row_offsets from plan.token when they are unset.
void index_plan_by_row(DispatchPlan& plan);

}  // namespace moekit::moe
