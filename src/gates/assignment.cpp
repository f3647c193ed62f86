// Exact linear assignment, used to harden the Sinkhorn relaxation of local search.
#include "moekit/gates/assignment.h"

#include <limits>

#include "moekit/core/error.h"

namespace moekit::gates {

std::vector<int64_t> solve_assignment(const at::Tensor& cost) {
  MOEKIT_CHECK(cost.dim() == 2, "cost", "must be a 2-D [n, n] matrix, got {} dims", cost.dim());
  MOEKIT_CHECK(cost.size(0) == cost.size(1), "cost", "must be square, got [{}, {}]", cost.size(0),
               cost.size(1));
  MOEKIT_CHECK(cost.is_floating_point(), "cost", "must be a floating-point tensor, got {}",
               c10::toString(cost.scalar_type()));
  const at::Tensor c = cost.detach().to(at::kCPU, at::kDouble).contiguous();
  MOEKIT_CHECK(at::isfinite(c).all().item<bool>(), "cost", "must be finite (no NaN or Inf)");
  const int64_t n = c.size(0);
  const auto a = c.accessor<double, 2>();

  // Shortest augmenting paths with row potentials u and column potentials v
  // (Kuhn 1955; Munkres 1957; the O(n³) form of Jonker-Volgenant's Dijkstra
  // step). Rows and columns are 1-based; column 0 is a virtual start whose row
  // is the one being inserted. Invariant: a[i][j] - u[i] - v[j] >= 0, with
  // equality on matched pairs, so the final matching is optimal.
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0.0), v(n + 1, 0.0);
  std::vector<int64_t> match(n + 1, 0), way(n + 1, 0);  // match[j] = row of column j
  for (int64_t i = 1; i <= n; ++i) {
    match[0] = i;
    int64_t j0 = 0;
    std::vector<double> min_slack(n + 1, kInf);
    std::vector<char> used(n + 1, 0);
    do {
      used[j0] = 1;
      const int64_t i0 = match[j0];
      double delta = kInf;
      int64_t j1 = 0;
      for (int64_t j = 1; j <= n; ++j) {
        if (used[j]) continue;
        const double slack = a[i0 - 1][j - 1] - u[i0] - v[j];
        if (slack < min_slack[j]) {
          min_slack[j] = slack;
          way[j] = j0;
        }
        if (min_slack[j] < delta) {
          delta = min_slack[j];
          j1 = j;
        }
      }
      for (int64_t j = 0; j <= n; ++j) {
        if (used[j]) {
          u[match[j]] += delta;
          v[j] -= delta;
        } else {
          min_slack[j] -= delta;
        }
      }
      j0 = j1;
    } while (match[j0] != 0);
    do {  // flip the augmenting path back to the start
      const int64_t j1 = way[j0];
      match[j0] = match[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<int64_t> perm(n);
  for (int64_t j = 1; j <= n; ++j) perm[match[j] - 1] = j - 1;
  return perm;
}

at::Tensor permutation_to_matrix(const std::vector<int64_t>& perm,
                                 const at::TensorOptions& options) {
  const auto n = static_cast<int64_t>(perm.size());
  std::vector<char> seen(n, 0);
  for (int64_t i = 0; i < n; ++i) {
    MOEKIT_CHECK(perm[i] >= 0 && perm[i] < n && !seen[perm[i]], "perm",
                 "must be a permutation of 0..{}, got {} at position {}", n - 1, perm[i], i);
    seen[perm[i]] = 1;
  }
  at::Tensor cols = at::tensor(perm, at::kLong).to(options.device());
  return at::zeros({n, n}, options).scatter_(1, cols.unsqueeze(1), 1.0);
}

}  // namespace moekit::gates
