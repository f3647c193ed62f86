#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <utility>

#include "moekit/models/attention.h"
#include "moekit/models/transformer.h"
#include "moekit/moe/moe_layer.h"

namespace moekit::models {

/// The FFN sub-block of a layer: dense (fc1, fc2) or a moe::MoELayer (`moe`).
class FeedForwardBlockImpl : public torch::nn::Module {
 public:
  FeedForwardBlockImpl(const TransformerOptions& options, bool moe);

  /// x [B, T, d], ids/seq [B, T] int64 (token id, sentence index), `valid` [B, T] bool
  /// (rows that reach the experts; others get 0; undefined = all), `gate_state` [B, T]
  /// (the gate's per-sequence state while decoding, see Gate::start_sequences;
  /// undefined otherwise). Returns (y, aux_loss).
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& x, const at::Tensor& ids,
                                            const at::Tensor& seq, const at::Tensor& valid = {},
                                            const at::Tensor& gate_state = {});

  bool is_moe() const { return !moe.is_empty(); }

  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  /// Dense FFN only: when set, forward keeps its hidden activations
  /// relu(fc1(x)) [B, T, H] in `hidden` (still in the autograd graph), for
  /// gradient-based unit importance (train/ffn_importance.h).
  bool keep_hidden = false;
  at::Tensor hidden;
  moe::MoELayer moe{nullptr};
};
TORCH_MODULE(FeedForwardBlock);

/// Self-attention + FFN, pre- or post-norm.
class EncoderLayerImpl : public torch::nn::Module {
 public:
  EncoderLayerImpl(const TransformerOptions& options, bool moe);

  /// x [B, S, d], pad_mask [B, S] (true = pad), ids/seq [B, S]. Returns (x, aux_loss).
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& x, const at::Tensor& pad_mask,
                                            const at::Tensor& ids, const at::Tensor& seq);

  bool pre_norm;
  MultiHeadAttention self_attn{nullptr};
  torch::nn::LayerNorm self_attn_norm{nullptr}, ffn_norm{nullptr};
  FeedForwardBlock ffn{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(EncoderLayer);

/// Causal self-attention + encoder attention + FFN, pre- or post-norm.
class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const TransformerOptions& options, bool moe);

  /// x [B, T, d]: the last T target positions; with `cache` the earlier ones are in
  /// cache->self_k/self_v and the new keys/values are appended. `valid` [B, T] marks
  /// non-pad targets. Returns (x, aux_loss).
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& x, const EncoderOutput& encoder,
                                            const at::Tensor& ids, const at::Tensor& seq,
                                            const at::Tensor& valid,
                                            DecoderLayerCache* cache = nullptr);

  bool pre_norm;
  MultiHeadAttention self_attn{nullptr}, cross_attn{nullptr};
  torch::nn::LayerNorm self_attn_norm{nullptr}, cross_attn_norm{nullptr}, ffn_norm{nullptr};
  FeedForwardBlock ffn{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(DecoderLayer);

}  // namespace moekit::models
