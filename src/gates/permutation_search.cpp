// COMET's permutation-based local search (Ibrahim et al., KDD 2023, §4): a
// learnable soft permutation of the experts, annealed to a hard one, as the
// reference code (mazumder-lab/COMET, learn_permutations.py) runs it.
#include "moekit/gates/permutation_search.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <utility>

#include "moekit/core/error.h"
#include "moekit/gates/assignment.h"
#include "moekit/gates/sinkhorn.h"

namespace moekit::gates {
namespace {

void validate(const GateOptions& o) {
  MOEKIT_CHECK(o.n_experts() > 0, "n_experts", "must be > 0, got {}", o.n_experts());
  MOEKIT_CHECK(o.search_steps() >= 0, "search_steps", "must be >= 0, got {}", o.search_steps());
  MOEKIT_CHECK(std::isfinite(o.search_epochs()) && o.search_epochs() >= 0, "search_epochs",
               "must be finite and >= 0, got {}", o.search_epochs());
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
  MOEKIT_CHECK(std::isfinite(o.permutation_init()) && o.permutation_init() > 0, "permutation_init",
               "must be finite and > 0, got {}", o.permutation_init());
  MOEKIT_CHECK(std::isfinite(o.permutation_noise()) && o.permutation_noise() >= 0,
               "permutation_noise", "must be finite and >= 0, got {}", o.permutation_noise());
}

// -x log(x + 1e-6) summed over the matrix, as the reference computes it: the
// epsilon keeps the log finite where Sinkhorn at small τ underflows to 0.
at::Tensor matrix_entropy(const at::Tensor& p) { return -(p * (p + 1e-6).log()).sum(); }

const PermutationSearchGate& checked_owner(const std::shared_ptr<PermutationSearchGate>& owner) {
  MOEKIT_CHECK(owner != nullptr && owner->owns_permutation(), "gate",
               "a shared permutation needs the gate that owns it");
  return *owner;
}

}  // namespace

at::Tensor permutation_entropy(const at::Tensor& pi) {
  return matrix_entropy(pi) + matrix_entropy(pi / pi.sum(1, /*keepdim=*/true));
}

PermutationSearchGate::PermutationSearchGate(std::shared_ptr<Gate> inner,
                                             const GateOptions& options)
    : Gate("PermutationSearchGate"), options_(options) {
  MOEKIT_CHECK(inner != nullptr, "gate", "permutation search needs a gate to wrap, got null");
  validate(options_);
  inner_ = register_module("inner", std::move(inner));
  reset();
}

PermutationSearchGate::PermutationSearchGate(std::shared_ptr<Gate> inner,
                                             std::shared_ptr<PermutationSearchGate> owner)
    : Gate("PermutationSearchGate"), options_(checked_owner(owner).options_) {
  MOEKIT_CHECK(inner != nullptr, "gate", "permutation search needs a gate to wrap, got null");
  owner_ = std::move(owner);
  inner_ = register_module("inner", std::move(inner));
}

void PermutationSearchGate::reset() {
  const int64_t n = options_.n_experts();
  const double a = options_.permutation_init();
  // L ~ U(-a, a), the reference's Keras RandomUniform (a = 0.05): L/τ_start
  // spans ±50, so Sinkhorn(L/τ_start) is already close to a hard permutation,
  // a random one, and the search moves locally around it.
  logits_ = register_parameter("logits", (torch::rand({n, n}) * 2 - 1) * a);
  step_ = register_buffer("step", torch::zeros({}, torch::kLong));
  hardened_ = register_buffer("hardened", torch::zeros({}, torch::kBool));
  permutation_ = register_buffer("permutation", torch::arange(n, torch::kLong));
}

// NOTE: Module::to(dtype) converts every buffer, integer ones included, so the
// buffers are read through item<>/ne(0) and cast back to int64 where used.
int64_t PermutationSearchGate::step() const { return state().step_.item().toLong(); }

bool PermutationSearchGate::hardened() const { return state().hardened_.ne(0).item<bool>(); }

at::Tensor PermutationSearchGate::permutation() const {
  return state().permutation_.to(torch::kLong).clone();
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

at::Tensor PermutationSearchGate::log_soft_permutation(int64_t step, bool noisy) const {
  at::Tensor l = logits_;
  if (noisy && options_.permutation_noise() > 0) {
    // Gumbel(0, 1) noise, scaled: the Gumbel-Sinkhorn sampler of the reference.
    const at::Tensor u = torch::rand_like(l).clamp(1e-20, 1.0 - 1e-7);
    l = l + options_.permutation_noise() * -(-u.log()).log();
  }
  return log_sinkhorn(l / tau_at(step), sinkhorn_iters_at(step));
}

at::Tensor PermutationSearchGate::permutation_matrix() {
  PermutationSearchGate& s = state();
  if (s.hardened()) {
    const at::Tensor p = s.permutation().cpu();
    const std::vector<int64_t> perm(p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + p.numel());
    return permutation_to_matrix(perm, s.logits_.options().requires_grad(false));
  }
  return s.log_soft_permutation(s.step(), /*noisy=*/false).exp();
}

at::Tensor PermutationSearchGate::eval_permutation() const {
  const PermutationSearchGate& s = state();
  if (s.hardened()) return s.permutation();
  const int64_t step = s.step(), version = static_cast<int64_t>(s.logits_._version());
  if (step != s.eval_step_ || version != s.eval_version_) {
    torch::NoGradGuard no_grad;
    // Nearest permutation = the assignment maximising Σ_i Π[i, perm[i]].
    s.eval_perm_ = solve_assignment(-s.log_soft_permutation(step, /*noisy=*/false).exp());
    s.eval_step_ = step;
    s.eval_version_ = version;
  }
  return torch::tensor(s.eval_perm_, torch::kLong);
}

void PermutationSearchGate::harden() {
  PermutationSearchGate& s = state();
  if (s.hardened()) return;
  torch::NoGradGuard no_grad;
  s.permutation_.copy_(s.eval_permutation());
  s.hardened_.fill_(1);
  s.logits_.requires_grad_(false);
}

void PermutationSearchGate::optimizer_step() {
  if (!owns_permutation() || hardened()) return;
  {
    torch::NoGradGuard no_grad;
    step_.add_(1);
  }
  if (step() >= options_.search_steps()) harden();  // the next forward is exact
}

void PermutationSearchGate::set_steps_per_epoch(int64_t steps_per_epoch) {
  if (!owns_permutation() || options_.search_epochs() <= 0) return;
  MOEKIT_CHECK(steps_per_epoch > 0, "search_epochs", "needs steps per epoch > 0, got {}",
               steps_per_epoch);
  options_.search_steps(static_cast<int64_t>(
      std::ceil(options_.search_epochs() * static_cast<double>(steps_per_epoch) - 1e-9)));
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
  state().logits_.copy_(logits);
}

Routing PermutationSearchGate::forward(const GateInput& in) {
  PermutationSearchGate& s = state();
  s.sync_frozen();
  if (is_training() && !s.hardened() && s.step() >= s.options_.search_steps()) s.harden();
  Routing r = inner_->forward(in);
  const int64_t n = options_.n_experts();
  MOEKIT_CHECK(r.n_experts() == n, "n_experts",
               "the wrapped gate routes over {} experts, permutation search expects {}",
               r.n_experts(), n);
  if (is_training() && !s.hardened()) return soft_forward(std::move(r));
  return hard_forward(std::move(r), s.eval_permutation());
}

Routing PermutationSearchGate::soft_forward(Routing r) {
  const PermutationSearchGate& s = state();
  // NOTE: with permutation_noise > 0 each sharing gate draws its own noise.
  const at::Tensor pi = s.log_soft_permutation(s.step(), /*noisy=*/true).exp();
  const at::Tensor mapped = r.weights.matmul(pi.to(r.weights.scalar_type()));
  // Rows keep the sum the inner gate gave them (Sinkhorn is doubly stochastic
  // only approximately); the reference divides by the row sum, the same for
  // gates whose rows sum to 1. Empty rows (dropped tokens) stay empty.
  const at::Tensor before = r.weights.sum(1, /*keepdim=*/true);
  const at::Tensor after = mapped.sum(1, /*keepdim=*/true);
  at::Tensor weights = mapped * at::where(after > 0, before / after.clamp_min(1e-30),
                                          at::ones_like(after));
  at::Tensor aux = r.aux_loss;
  // The penalty belongs to Π: added once, by the gate that owns it.
  if (owns_permutation() && options_.permutation_entropy_weight() > 0) {
    aux = aux + options_.permutation_entropy_weight() *
                    permutation_entropy(pi).to(aux.scalar_type());
  }
  return Routing::from_dense(std::move(weights), std::move(aux));
}

Routing PermutationSearchGate::hard_forward(Routing r, const at::Tensor& perm) const {
  const at::Tensor p = perm.to(r.idx.device(), torch::kLong);
  const at::Tensor mapped = p.index_select(0, r.idx.clamp_min(0).reshape(-1)).view_as(r.idx);
  at::Tensor idx = torch::where(r.idx.ge(0), mapped, r.idx);  // -1 slots stay empty
  return Routing::from_compact(std::move(idx), std::move(r.w), options_.n_experts(),
                               std::move(r.aux_loss));
}

void PermutationSearchGate::load(torch::serialize::InputArchive& archive) {
  at::Tensor logits;
  const bool has_logits = archive.try_read("logits", logits);
  MOEKIT_CHECK(has_logits == owns_permutation(), "gate.permutation_per_task",
               "the checkpoint has {} but this model {}: it was written with "
               "permutation_per_task: {} (or, for a multi-gate model, before task gates shared "
               "one Π); load it with gate.permutation_per_task={}",
               has_logits ? "a permutation Π for this task gate" : "no Π for this task gate",
               owns_permutation() ? "learns one per task gate" : "shares the first task's Π",
               has_logits ? "true" : "false", has_logits ? "true" : "false");
  Gate::load(archive);
  eval_step_ = -1;
}

void PermutationSearchGate::pretty_print(std::ostream& stream) const {
  stream << "PermutationSearchGate(n_experts=" << options_.n_experts();
  if (owns_permutation()) {
    stream << ", search_steps=" << options_.search_steps() << ", tau_start=" << options_.tau_start()
           << ", tau_end=" << options_.tau_end()
           << ", sinkhorn_iters_start=" << options_.sinkhorn_iters_start()
           << ", sinkhorn_iters_end=" << options_.sinkhorn_iters_end()
           << ", permutation_entropy_weight=" << options_.permutation_entropy_weight()
           << ", permutation_init=" << options_.permutation_init()
           << ", permutation_noise=" << options_.permutation_noise();
  } else {
    stream << ", shared";
  }
  stream << ", inner=";
  inner_->pretty_print(stream);
  stream << ")";
}

std::shared_ptr<Gate> wrap_with_permutation_search(std::shared_ptr<Gate> inner,
                                                   const GateOptions& options) {
  return std::make_shared<PermutationSearchGate>(std::move(inner), options);
}

namespace {

std::vector<PermutationSearchGate*> search_owners(torch::nn::Module& model) {
  // modules(false) and `model` itself: a model built on the stack has no
  // shared_ptr to itself for modules() to return.
  std::vector<torch::nn::Module*> all{&model};
  for (const auto& module : model.modules(/*include_self=*/false)) all.push_back(module.get());
  std::vector<PermutationSearchGate*> owners;
  for (auto* module : all) {
    auto* gate = dynamic_cast<PermutationSearchGate*>(module);
    if (gate && gate->owns_permutation()) owners.push_back(gate);
  }
  return owners;
}

}  // namespace

std::vector<at::Tensor> search_assignments(torch::nn::Module& model) {
  std::vector<at::Tensor> out;
  for (auto* gate : search_owners(model)) out.push_back(gate->eval_permutation());
  return out;
}

bool search_hardened(torch::nn::Module& model) {
  for (auto* gate : search_owners(model)) {
    if (!gate->hardened()) return false;
  }
  return true;
}

double mean_hamming_distance(const std::vector<at::Tensor>& before,
                             const std::vector<at::Tensor>& after) {
  MOEKIT_CHECK(before.size() == after.size(), "mean_hamming_distance",
               "{} permutations before, {} after", before.size(), after.size());
  if (before.empty()) return std::numeric_limits<double>::quiet_NaN();
  double sum = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    sum += static_cast<double>(before[i].ne(after[i]).sum().item<int64_t>());
  }
  return sum / static_cast<double>(before.size());
}

}  // namespace moekit::gates
