// COMET's permutation-based local search (Ibrahim et al., KDD 2023, §4): a
// learnable soft permutation of the experts, annealed to a hard one.
#include "moekit/gates/permutation_search.h"

#include <torch/torch.h>

#include <cmath>
#include <utility>

#include "moekit/core/error.h"
#include "moekit/gates/assignment.h"
#include "moekit/gates/sinkhorn.h"

namespace moekit::gates {
namespace {

void validate(const GateOptions& o) {
  MOEKIT_CHECK(o.n_experts() > 0, "n_experts", "must be > 0, got {}", o.n_experts());
  MOEKIT_CHECK(o.search_steps() >= 0, "search_steps", "must be >= 0, got {}", o.search_steps());
  MOEKIT_CHECK(std::isfinite(o.tau_end()) && o.tau_end() > 0, "tau_end",
               "must be finite and > 0, got {}", o.tau_end());
  MOEKIT_CHECK(std::isfinite(o.tau_start()) && o.tau_start() >= o.tau_end(), "tau_start",
               "must be finite and >= tau_end ({}), got {}", o.tau_end(), o.tau_start());
  MOEKIT_CHECK(o.sinkhorn_iters_start() >= 1, "sinkhorn_iters_start", "must be >= 1, got {}",
               o.sinkhorn_iters_start());
  MOEKIT_CHECK(o.sinkhorn_iters_end() >= o.sinkhorn_iters_start(), "sinkhorn_iters_end",
               "must be >= sinkhorn_iters_start ({}), got {}", o.sinkhorn_iters_start(),
               o.sinkhorn_iters_end());
  MOEKIT_CHECK(std::isfinite(o.permutation_entropy_weight()) && o.permutation_entropy_weight() >= 0,
               "permutation_entropy_weight", "must be finite and >= 0, got {}",
               o.permutation_entropy_weight());
}

}  // namespace

PermutationSearchGate::PermutationSearchGate(std::shared_ptr<Gate> inner,
                                             const GateOptions& options)
    : Gate("PermutationSearchGate"), options_(options) {
  MOEKIT_CHECK(inner != nullptr, "gate", "permutation search needs a gate to wrap, got null");
  validate(options_);
  inner_ = register_module("inner", std::move(inner));
  reset();
}

void PermutationSearchGate::reset() {
  const int64_t n = options_.n_experts();
  // L ~ U(-τ_start/2, τ_start/2), so L/τ starts in (-1/2, 1/2): Π is close to
  // uniform (every expert can still go anywhere and the entropy is high, so the
  // search explores), yet not exactly uniform, which would be a symmetric point
  // where all n! permutations tie and the first steps have no preferred
  // direction. Scaling by τ_start keeps that meaning for any schedule; as τ
  // anneals, the same L is sharpened towards a permutation.
  logits_ = register_parameter("logits", (torch::rand({n, n}) - 0.5) * options_.tau_start());
  step_ = register_buffer("step", torch::zeros({}, torch::kLong));
  hardened_ = register_buffer("hardened", torch::zeros({}, torch::kBool));
  permutation_ = register_buffer("permutation", torch::arange(n, torch::kLong));
}

// NOTE: Module::to(dtype) converts every buffer, integer ones included, so the
// buffers are read through item<>/ne(0) and cast back to int64 where used.
int64_t PermutationSearchGate::step() const { return step_.item().toLong(); }

bool PermutationSearchGate::hardened() const { return hardened_.ne(0).item<bool>(); }

at::Tensor PermutationSearchGate::permutation() const {
  return permutation_.to(torch::kLong).clone();
}

double PermutationSearchGate::progress(int64_t step) const {
  const int64_t last = options_.search_steps() - 1;
  if (last <= 0) return 1.0;
  return std::min(1.0, static_cast<double>(step) / static_cast<double>(last));
}

double PermutationSearchGate::tau_at(int64_t step) const {
  // Log-linear: geometric interpolation between tau_start and tau_end.
  const double t = progress(step);
  return std::exp((1 - t) * std::log(options_.tau_start()) + t * std::log(options_.tau_end()));
}

int64_t PermutationSearchGate::sinkhorn_iters_at(int64_t step) const {
  const double t = progress(step);
  return static_cast<int64_t>(
      std::llround((1 - t) * static_cast<double>(options_.sinkhorn_iters_start()) +
                   t * static_cast<double>(options_.sinkhorn_iters_end())));
}

at::Tensor PermutationSearchGate::log_soft_permutation(int64_t step) const {
  return log_sinkhorn(logits_ / tau_at(step), sinkhorn_iters_at(step));
}

at::Tensor PermutationSearchGate::permutation_matrix() {
  if (hardened()) {
    std::vector<int64_t> perm(options_.n_experts());
    const at::Tensor p = permutation().cpu();
    for (size_t i = 0; i < perm.size(); ++i) perm[i] = p[i].item<int64_t>();
    return permutation_to_matrix(perm, logits_.options().requires_grad(false));
  }
  return log_soft_permutation(step()).exp();
}

void PermutationSearchGate::harden() {
  if (hardened()) return;
  torch::NoGradGuard no_grad;
  // Nearest permutation = the assignment maximising Σ_i Π[i, perm[i]].
  const std::vector<int64_t> perm = solve_assignment(-log_soft_permutation(step()).exp());
  permutation_.copy_(torch::tensor(perm, torch::kLong));
  hardened_.fill_(1);
  logits_.requires_grad_(false);
}

void PermutationSearchGate::sync_frozen() {
  // A checkpoint restores the buffers but not requires_grad: derive it.
  const bool frozen = hardened();
  if (logits_.requires_grad() == frozen) logits_.requires_grad_(!frozen);
}

void PermutationSearchGate::set_permutation_logits(const at::Tensor& logits) {
  const int64_t n = options_.n_experts();
  MOEKIT_CHECK(logits.dim() == 2 && logits.size(0) == n && logits.size(1) == n, "logits",
               "must have shape [{}, {}], got {}", n, n, c10::str(logits.sizes()));
  MOEKIT_CHECK(torch::isfinite(logits).all().item<bool>(), "logits", "must be finite");
  torch::NoGradGuard no_grad;
  logits_.copy_(logits);
}

Routing PermutationSearchGate::forward(const GateInput& in) {
  sync_frozen();
  if (is_training() && !hardened() && step() >= options_.search_steps()) harden();
  Routing r = inner_->forward(in);
  const int64_t n = options_.n_experts();
  MOEKIT_CHECK(r.n_experts() == n, "n_experts",
               "the wrapped gate routes over {} experts, permutation search expects {}",
               r.n_experts(), n);
  const int64_t s = step();
  Routing out = hardened() ? hard_forward(std::move(r)) : soft_forward(std::move(r), s);
  if (is_training()) {
    torch::NoGradGuard no_grad;
    step_.add_(1);
    if (s + 1 >= options_.search_steps()) harden();  // the next forward is exact
  }
  return out;
}

Routing PermutationSearchGate::soft_forward(Routing r, int64_t step) const {
  const at::Tensor log_pi = log_soft_permutation(step);
  const at::Tensor pi = log_pi.exp();
  at::Tensor weights = r.weights.matmul(pi.to(r.weights.scalar_type()));
  at::Tensor aux = r.aux_loss;
  if (options_.permutation_entropy_weight() > 0) {
    // Mean row entropy -Σ_j Π_ij log Π_ij, from log Π so that entries that
    // underflow to 0 at small τ contribute 0 instead of 0 · (-inf).
    const at::Tensor entropy = -(pi * log_pi).sum(1).mean();
    aux = aux + options_.permutation_entropy_weight() * entropy.to(aux.scalar_type());
  }
  return Routing::from_dense(std::move(weights), std::move(aux));
}

Routing PermutationSearchGate::hard_forward(Routing r) const {
  const at::Tensor perm = permutation_.to(r.idx.device(), torch::kLong);
  const at::Tensor mapped = perm.index_select(0, r.idx.clamp_min(0).reshape(-1)).view_as(r.idx);
  at::Tensor idx = torch::where(r.idx.ge(0), mapped, r.idx);  // -1 slots stay empty
  return Routing::from_compact(std::move(idx), std::move(r.w), options_.n_experts(),
                               std::move(r.aux_loss));
}

void PermutationSearchGate::pretty_print(std::ostream& stream) const {
  stream << "PermutationSearchGate(n_experts=" << options_.n_experts()
         << ", search_steps=" << options_.search_steps() << ", tau_start=" << options_.tau_start()
         << ", tau_end=" << options_.tau_end()
         << ", sinkhorn_iters_start=" << options_.sinkhorn_iters_start()
         << ", sinkhorn_iters_end=" << options_.sinkhorn_iters_end()
         << ", permutation_entropy_weight=" << options_.permutation_entropy_weight() << ", inner=";
  inner_->pretty_print(stream);
  stream << ")";
}

std::shared_ptr<Gate> wrap_with_permutation_search(std::shared_ptr<Gate> inner,
                                                   const GateOptions& options) {
  return std::make_shared<PermutationSearchGate>(std::move(inner), options);
}

}  // namespace moekit::gates
