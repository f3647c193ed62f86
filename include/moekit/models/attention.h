#pragma once
#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <utility>

namespace moekit::models {

/// Options of multi-head scaled dot-product attention.
struct MultiHeadAttentionOptions {
  MultiHeadAttentionOptions(int64_t d_model, int64_t heads) : d_model_(d_model), heads_(heads) {}
  TORCH_ARG(int64_t, d_model);
  TORCH_ARG(int64_t, heads);
  /// Dropout on the attention weights.
  TORCH_ARG(double, dropout) = 0.0;

 public:
  /// Throws moekit::Error naming the field at fault (heads must divide d_model).
  void validate() const;
};

/// Multi-head attention, batch first. Written out rather than torch::nn::MultiheadAttention
/// so that decoding can cache projected keys/values ([B, heads, S, d_head]) and
/// append one step at a time.
class MultiHeadAttentionImpl : public torch::nn::Module {
 public:
  explicit MultiHeadAttentionImpl(MultiHeadAttentionOptions options);

  void reset();
  void pretty_print(std::ostream& stream) const override;

  /// query [B, T, d], key_value [B, S, d] -> [B, T, d]. `key_padding_mask` [B, S] bool,
  /// true = padding (never attended). `causal`: query i sees key j only if
  /// j <= i + (S - T), so queries that are the last T of S positions see their past.
  at::Tensor forward(const at::Tensor& query, const at::Tensor& key_value,
                     const at::Tensor& key_padding_mask = {}, bool causal = false);

  /// Projected keys and values of key_value [B, S, d]: two [B, heads, S, d_head].
  std::pair<at::Tensor, at::Tensor> project_kv(const at::Tensor& key_value);

  /// Attention of query [B, T, d] over already projected keys/values (see project_kv).
  at::Tensor attend(const at::Tensor& query, const at::Tensor& k, const at::Tensor& v,
                    const at::Tensor& key_padding_mask = {}, bool causal = false);

  MultiHeadAttentionOptions options;
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
  torch::nn::Dropout dropout{nullptr};

 private:
  at::Tensor split_heads(const at::Tensor& x) const;  // [B, L, d] -> [B, h, L, d_head]
};
TORCH_MODULE(MultiHeadAttention);

}  // namespace moekit::models
