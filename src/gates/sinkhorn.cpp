// Sinkhorn normalisation in log space, the relaxation behind permutation local search.
#include "moekit/gates/sinkhorn.h"

#include "moekit/core/error.h"

namespace moekit::gates {

at::Tensor log_sinkhorn(const at::Tensor& log_alpha, int64_t iters) {
  MOEKIT_CHECK(log_alpha.dim() == 2, "log_alpha", "must be 2-D [n, n], got {} dims",
               log_alpha.dim());
  MOEKIT_CHECK(log_alpha.size(0) == log_alpha.size(1) && log_alpha.size(0) > 0, "log_alpha",
               "must be square and non-empty, got [{}, {}]", log_alpha.size(0), log_alpha.size(1));
  MOEKIT_CHECK(iters >= 1, "iters", "must be >= 1, got {}", iters);
  at::Tensor la = log_alpha;
  for (int64_t i = 0; i < iters; ++i) {
    la = la - at::logsumexp(la, /*dim=*/1, /*keepdim=*/true);  // rows sum to 1
    la = la - at::logsumexp(la, /*dim=*/0, /*keepdim=*/true);  // columns sum to 1
  }
  return la;
}

at::Tensor sinkhorn(const at::Tensor& log_alpha, int64_t iters) {
  return log_sinkhorn(log_alpha, iters).exp();
}

}  // namespace moekit::gates
