#include "moekit/models/attention.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "moekit/core/error.h"

namespace moekit::models {

void MultiHeadAttentionOptions::validate() const {
  MOEKIT_CHECK(d_model_ > 0, "d_model", "must be > 0, got {}", d_model_);
  MOEKIT_CHECK(heads_ > 0 && d_model_ % heads_ == 0, "heads",
               "must be > 0 and divide d_model = {}, got {}", d_model_, heads_);
  MOEKIT_CHECK(dropout_ >= 0.0 && dropout_ < 1.0, "dropout", "must lie in [0, 1), got {}",
               dropout_);
}

MultiHeadAttentionImpl::MultiHeadAttentionImpl(MultiHeadAttentionOptions options_)
    : options(std::move(options_)) {
  options.validate();
  reset();
}

void MultiHeadAttentionImpl::reset() {
  const int64_t d = options.d_model();
  q_proj = register_module("q_proj", torch::nn::Linear(d, d));
  k_proj = register_module("k_proj", torch::nn::Linear(d, d));
  v_proj = register_module("v_proj", torch::nn::Linear(d, d));
  out_proj = register_module("out_proj", torch::nn::Linear(d, d));
  dropout = register_module("dropout", torch::nn::Dropout(options.dropout()));
  // fairseq's init: Xavier on the projections, zero output bias.
  for (auto* linear : {&q_proj, &k_proj, &v_proj}) {
    torch::nn::init::xavier_uniform_((*linear)->weight, 1.0 / std::sqrt(2.0));
  }
  torch::nn::init::xavier_uniform_(out_proj->weight);
  torch::nn::init::zeros_(out_proj->bias);
}

void MultiHeadAttentionImpl::pretty_print(std::ostream& stream) const {
  stream << "moekit::MultiHeadAttention(d_model=" << options.d_model()
         << ", heads=" << options.heads() << ", dropout=" << options.dropout() << ")";
}

at::Tensor MultiHeadAttentionImpl::split_heads(const at::Tensor& x) const {
  const int64_t h = options.heads();
  return x.view({x.size(0), x.size(1), h, options.d_model() / h}).transpose(1, 2);
}

std::pair<at::Tensor, at::Tensor> MultiHeadAttentionImpl::project_kv(const at::Tensor& key_value) {
  return {split_heads(k_proj(key_value)), split_heads(v_proj(key_value))};
}

at::Tensor MultiHeadAttentionImpl::forward(const at::Tensor& query, const at::Tensor& key_value,
                                           const at::Tensor& key_padding_mask, bool causal) {
  auto kv = project_kv(key_value);
  return attend(query, kv.first, kv.second, key_padding_mask, causal);
}

at::Tensor MultiHeadAttentionImpl::attend(const at::Tensor& query, const at::Tensor& k,
                                          const at::Tensor& v, const at::Tensor& key_padding_mask,
                                          bool causal) {
  MOEKIT_CHECK(query.dim() == 3 && query.size(2) == options.d_model(), "query",
               "expected [B, T, {}], got {}", options.d_model(), c10::str(query.sizes()));
  const int64_t batch = query.size(0), t = query.size(1), s = k.size(2);
  const double scale = 1.0 / std::sqrt(static_cast<double>(options.d_model() / options.heads()));
  at::Tensor q = split_heads(q_proj(query)) * scale;  // [B, h, T, dh]
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1));  // [B, h, T, S]
  const double neg_inf = -std::numeric_limits<double>::infinity();
  if (key_padding_mask.defined()) {
    MOEKIT_CHECK(key_padding_mask.sizes() == at::IntArrayRef({batch, s}), "key_padding_mask",
                 "expected [{}, {}], got {}", batch, s, c10::str(key_padding_mask.sizes()));
    scores = scores.masked_fill(key_padding_mask.view({batch, 1, 1, s}), neg_inf);
  }
  if (causal) {
    // Key j is in query i's future when j > i + (S - T).
    at::Tensor future =
        at::ones({t, s}, query.options().dtype(at::kBool)).triu(s - t + 1);
    scores = scores.masked_fill(future, neg_inf);
  }
  at::Tensor weights = dropout(at::softmax(scores, -1));
  at::Tensor out = at::matmul(weights, v);  // [B, h, T, dh]
  return out_proj(out.transpose(1, 2).reshape({batch, t, options.d_model()}));
}

}  // namespace moekit::models
