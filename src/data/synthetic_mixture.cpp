#include "moekit/data/synthetic_mixture.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ATen.h>

#include "moekit/core/error.h"

namespace moekit::data {

void SyntheticMixtureOptions::validate() const {
  MOEKIT_CHECK(rows_ > 0, "rows", "must be > 0, got {}", rows_);
  MOEKIT_CHECK(d_in_ > 0 && d_out_ > 0, "d_in/d_out", "must be > 0, got {}/{}", d_in_, d_out_);
  MOEKIT_CHECK(n_experts_ > 0, "n_experts", "must be > 0, got {}", n_experts_);
  MOEKIT_CHECK(k_ >= 1 && k_ <= n_experts_, "k", "must be in [1, {}], got {}", n_experts_, k_);
  MOEKIT_CHECK(n_clusters_ > 0, "n_clusters", "must be > 0, got {}", n_clusters_);
  MOEKIT_CHECK(input_noise_ >= 0 && target_noise_ >= 0, "noise", "must be >= 0");
}

SyntheticMixture make_synthetic_mixture(const SyntheticMixtureOptions& o, int64_t sample_seed) {
  o.validate();
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  at::Generator teacher = at::make_generator<at::CPUGeneratorImpl>(o.seed());
  const at::Tensor centres = at::normal(0.0, 1.5, {o.n_clusters(), o.d_in()}, teacher, f32);
  const at::Tensor a = at::normal(0.0, 1.0 / std::sqrt(double(o.d_in())),
                                  {o.n_experts(), o.d_in(), o.d_out()}, teacher, f32);
  const at::Tensor c = at::normal(0.0, 0.5, {o.n_experts(), o.d_out()}, teacher, f32);
  // Each cluster mixes k distinct experts with Dirichlet-like weights.
  const at::Tensor chosen =
      at::rand({o.n_clusters(), o.n_experts()}, teacher, f32).argsort(/*dim=*/1, /*descending=*/false).narrow(1, 0, o.k());
  at::Tensor mix = at::rand({o.n_clusters(), o.k()}, teacher, f32) + 0.5;
  mix = mix / mix.sum(1, true);
  const at::Tensor mixture = at::zeros({o.n_clusters(), o.n_experts()}, f32).scatter(1, chosen, mix);

  at::Generator sampler = at::make_generator<at::CPUGeneratorImpl>(sample_seed);
  const at::Tensor ids = at::randint(o.n_clusters(), {o.rows()}, sampler, at::kLong);
  const at::Tensor x =
      centres.index_select(0, ids) + at::normal(0.0, o.input_noise(), {o.rows(), o.d_in()}, sampler, f32);
  // expert_out[e] = tanh(x A_e + c_e): [n, rows, d_out]
  const at::Tensor expert_out = at::tanh(at::matmul(x.unsqueeze(0), a) + c.unsqueeze(1));
  const at::Tensor weights = mixture.index_select(0, ids);  // [rows, n]
  at::Tensor y = at::einsum("rn,nrd->rd", {weights, expert_out});
  y = y + at::normal(0.0, o.target_noise(), {o.rows(), o.d_out()}, sampler, f32);
  return SyntheticMixture{x, y, ids};
}

}  // namespace moekit::data
