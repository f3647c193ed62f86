#include "moekit/models/transformer_layers.h"

#include <torch/torch.h>

#include <functional>
#include <tuple>

#include "moekit/gates/routing.h"

namespace moekit::models {
namespace {

torch::nn::LayerNorm layer_norm(int64_t d) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}));
}

// One residual sub-block: pre-norm x + drop(f(norm(x))), post-norm norm(x + drop(f(x))).
at::Tensor residual(bool pre_norm, const at::Tensor& x, torch::nn::LayerNorm& norm,
                    torch::nn::Dropout& dropout, const std::function<at::Tensor(at::Tensor)>& f) {
  if (pre_norm) return x + dropout(f(norm(x)));
  return norm(x + dropout(f(x)));
}

}  // namespace

FeedForwardBlockImpl::FeedForwardBlockImpl(const TransformerOptions& options, bool is_moe) {
  const int64_t d = options.d_model(), hidden = options.ffn_hidden();
  if (is_moe) {
    gates::GateOptions gate_options = options.gate_options();
    gate_options.n_ids(options.vocab_size());  // the hash gate keys on token ids
    moe = register_module("moe", moe::MoELayer(moe::MoELayerOptions(d, options.resolved_expert_hidden(), options.n_experts())
                                                   .gate(options.gate())
                                                   .gate_options(gate_options)));
  } else {
    fc1 = register_module("fc1", torch::nn::Linear(d, hidden));
    fc2 = register_module("fc2", torch::nn::Linear(hidden, d));
  }
}

std::pair<at::Tensor, at::Tensor> FeedForwardBlockImpl::forward(const at::Tensor& x,
                                                                const at::Tensor& ids,
                                                                const at::Tensor& seq,
                                                                const at::Tensor& valid,
                                                                const at::Tensor& gate_state) {
  if (!is_moe()) {
    at::Tensor h = at::relu(fc1(x));
    if (keep_hidden) hidden = h;
    return {fc2(h), at::zeros({}, x.options())};
  }
  const int64_t d = x.size(-1);
  at::Tensor x2d = x.reshape({-1, d});
  at::Tensor flat_ids = ids.reshape(-1), flat_seq = seq.reshape(-1);
  at::Tensor flat_state = gate_state.defined() ? gate_state.reshape(-1) : gate_state;
  at::Tensor rows;
  if (valid.defined()) {
    // Padding never reaches an expert: it would cost compute, take Switch capacity and
    // skew the balance losses.
    rows = valid.reshape(-1).nonzero().squeeze(1);
    x2d = x2d.index_select(0, rows);
    flat_ids = flat_ids.index_select(0, rows);
    flat_seq = flat_seq.index_select(0, rows);
    if (flat_state.defined()) flat_state = flat_state.index_select(0, rows);
  }
  moe::MoEOutput out = moe->forward(x2d, flat_ids, flat_seq, flat_state);
  at::Tensor y = out.y, aux = out.aux_loss;
  if (rows.defined()) y = at::zeros({x.numel() / d, d}, y.options()).index_copy(0, rows, y);
  return {y.reshape(x.sizes()), aux};
}

EncoderLayerImpl::EncoderLayerImpl(const TransformerOptions& options, bool moe)
    : pre_norm(options.pre_norm()) {
  const int64_t d = options.d_model();
  self_attn = register_module("self_attn",
                              MultiHeadAttention(MultiHeadAttentionOptions(d, options.heads())));
  self_attn_norm = register_module("self_attn_norm", layer_norm(d));
  ffn = register_module("ffn", FeedForwardBlock(options, moe));
  ffn_norm = register_module("ffn_norm", layer_norm(d));
  dropout = register_module("dropout", torch::nn::Dropout(options.dropout()));
}

std::pair<at::Tensor, at::Tensor> EncoderLayerImpl::forward(const at::Tensor& x,
                                                            const at::Tensor& pad_mask,
                                                            const at::Tensor& ids,
                                                            const at::Tensor& seq) {
  at::Tensor h = residual(pre_norm, x, self_attn_norm, dropout,
                          [&](const at::Tensor& in) { return self_attn(in, in, pad_mask); });
  at::Tensor aux;
  h = residual(pre_norm, h, ffn_norm, dropout, [&](const at::Tensor& in) {
    auto out = ffn(in, ids, seq, pad_mask.logical_not());
    aux = out.second;
    return out.first;
  });
  return {h, aux};
}

DecoderLayerImpl::DecoderLayerImpl(const TransformerOptions& options, bool moe)
    : pre_norm(options.pre_norm()) {
  const int64_t d = options.d_model();
  self_attn = register_module("self_attn",
                              MultiHeadAttention(MultiHeadAttentionOptions(d, options.heads())));
  self_attn_norm = register_module("self_attn_norm", layer_norm(d));
  cross_attn = register_module("cross_attn",
                               MultiHeadAttention(MultiHeadAttentionOptions(d, options.heads())));
  cross_attn_norm = register_module("cross_attn_norm", layer_norm(d));
  ffn = register_module("ffn", FeedForwardBlock(options, moe));
  ffn_norm = register_module("ffn_norm", layer_norm(d));
  dropout = register_module("dropout", torch::nn::Dropout(options.dropout()));
}

std::pair<at::Tensor, at::Tensor> DecoderLayerImpl::forward(
    const at::Tensor& x, const EncoderOutput& encoder, const at::Tensor& ids,
    const at::Tensor& seq, const at::Tensor& valid, DecoderLayerCache* cache) {
  at::Tensor h = residual(pre_norm, x, self_attn_norm, dropout, [&](const at::Tensor& in) {
    auto kv = self_attn->project_kv(in);
    if (cache != nullptr) {
      if (cache->self_k.defined()) {
        kv.first = at::cat({cache->self_k, kv.first}, 2);
        kv.second = at::cat({cache->self_v, kv.second}, 2);
      }
      cache->self_k = kv.first;
      cache->self_v = kv.second;
    }
    return self_attn->attend(in, kv.first, kv.second, {}, /*causal=*/true);
  });
  h = residual(pre_norm, h, cross_attn_norm, dropout, [&](const at::Tensor& in) {
    if (cache == nullptr) return cross_attn(in, encoder.memory, encoder.pad_mask);
    if (!cache->cross_k.defined()) {
      std::tie(cache->cross_k, cache->cross_v) = cross_attn->project_kv(encoder.memory);
    }
    return cross_attn->attend(in, cache->cross_k, cache->cross_v, encoder.pad_mask);
  });
  at::Tensor aux;
  h = residual(pre_norm, h, ffn_norm, dropout, [&](const at::Tensor& in) {
    at::Tensor gate_state;
    if (cache != nullptr && cache->gate_state.defined()) {
      gate_state = cache->gate_state.unsqueeze(1).expand({in.size(0), in.size(1)});
    }
    auto out = ffn(in, ids, seq, valid, gate_state);
    aux = out.second;
    return out.first;
  });
  return {h, aux};
}

}  // namespace moekit::models
