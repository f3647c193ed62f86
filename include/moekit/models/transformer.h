#pragma once
#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <string>
#include <vector>

#include "moekit/gates/gate_options.h"

namespace moekit::models {

/// Options of the encoder-decoder MoE Transformer (DESIGN.md "THOR training").
/// Defaults follow the reference IWSLT'14 recipe (6+6 layers, d 512, FFN 1024, 4 heads).
struct TransformerOptions {
  explicit TransformerOptions(int64_t vocab_size) : vocab_size_(vocab_size) {}

  // --- model ---
  /// Joint vocabulary: source embedding, target embedding and output projection share one matrix.
  TORCH_ARG(int64_t, vocab_size);
  TORCH_ARG(int64_t, d_model) = 512;
  TORCH_ARG(int64_t, ffn_hidden) = 1024;
  TORCH_ARG(int64_t, heads) = 4;
  TORCH_ARG(int64_t, encoder_layers) = 6;
  TORCH_ARG(int64_t, decoder_layers) = 6;
  /// On the embeddings and on every residual branch.
  TORCH_ARG(double, dropout) = 0.3;
  /// Layer norm before each sub-block (plus a final one) instead of after the residual add.
  TORCH_ARG(bool, pre_norm) = false;
  /// Learned position embeddings instead of sinusoidal ones.
  TORCH_ARG(bool, learned_positions) = false;
  /// Longest source or target sequence (BOS/EOS included) with learned positions.
  TORCH_ARG(int64_t, max_positions) = 1024;
  TORCH_ARG(int64_t, pad_id) = 0;
  TORCH_ARG(int64_t, bos_id) = 1;
  TORCH_ARG(int64_t, eos_id) = 2;

  // --- MoE ---
  /// Layer i (encoder and decoder) has a MoE FFN when i % moe_every == moe_every - 1,
  /// i.e. layers 1, 3, ... for 2; 0 gives a dense Transformer. Ignored when
  /// moe_layers is set.
  TORCH_ARG(int64_t, moe_every) = 2;
  /// Which layers (encoder and decoder alike, counted from 0) have a MoE FFN:
  /// `even` (0, 2, 4, …: THOR's reference placement), `odd`, `all`, `none`, or a
  /// list of layer indices ("0,2,4" or "[0, 2, 4]"); empty = the moe_every rule.
  TORCH_ARG(std::string, moe_layers) = "";
  TORCH_ARG(int64_t, n_experts) = 2;
  /// Hidden width of each expert; 0 = ffn_hidden. Set apart from ffn_hidden by
  /// a dense model split into experts (`moekit moefy`), whose dense layers keep
  /// the teacher's width.
  TORCH_ARG(int64_t, expert_hidden) = 0;
  /// Registry name of the gate (`moekit gates`); `hash` keys on the token id.
  TORCH_ARG(std::string, gate) = "random";
  /// Gate knobs; d_in and n_experts come from the model, n_ids from vocab_size.
  TORCH_ARG(gates::GateOptions, gate_options) = gates::GateOptions(0, 0);

 public:
  /// Throws moekit::Error naming the field at fault.
  void validate() const;
  /// Whether layer `layer` (encoder or decoder) has a MoE FFN.
  bool is_moe_layer(int64_t layer) const;
  /// Whether any encoder or decoder layer has one (false: a dense Transformer).
  bool has_moe() const;
  /// The experts' hidden width: expert_hidden, or ffn_hidden when it is 0.
  int64_t resolved_expert_hidden() const { return expert_hidden_ > 0 ? expert_hidden_ : ffn_hidden_; }
};

/// The indices of a `moe_layers` list ("0,2,4" or "[0, 2, 4]"); empty for the
/// words even, odd, all, none and for "". Throws moekit::Error naming
/// `moe_layers` on anything else, a negative index or a repeated one.
std::vector<int64_t> parse_moe_layers(const std::string& text);

class EncoderLayerImpl;
class DecoderLayerImpl;

/// The encoder's result, cached for decoding.
struct EncoderOutput {
  at::Tensor memory;    // [B, S, d]
  at::Tensor pad_mask;  // [B, S] bool, true = padding
  at::Tensor aux_loss;  // scalar
  /// With TransformerImpl::keep_hidden_states: the embedding output and the
  /// output of every encoder layer (before the final norm), [B, S, d] each.
  std::vector<at::Tensor> states;
};

/// What the model returns for a batch: the logits and the summed MoE aux losses.
struct TransformerOutput {
  at::Tensor logits;    // [B, T, V]
  at::Tensor aux_loss;  // scalar, sum over every MoE layer (0 for a dense model)
  /// With TransformerImpl::keep_hidden_states (forward and decode): the
  /// residual stream after the embeddings and after every layer, as BERT's
  /// hidden_states (what MoEBERT's layer-wise distillation matches);
  /// encoder_states [B, S, d] (forward only), decoder_states [B, T, d].
  std::vector<at::Tensor> encoder_states, decoder_states;
};

/// One decoder layer's incremental-decoding cache.
struct DecoderLayerCache {
  at::Tensor self_k, self_v;    // [B, heads, t, d_head]: the steps decoded so far
  at::Tensor cross_k, cross_v;  // [B, heads, S, d_head]: the encoder output, projected once
  at::Tensor gate_state;        // [B]: the MoE gate's per-sequence state (Gate::start_sequences)
};

/// Incremental decoding state: the cached encoder output plus per-layer caches.
struct DecoderState {
  EncoderOutput encoder;
  at::Tensor sentence;  // [B] int64 sentence index of each row (beams of one sentence share it)
  std::vector<DecoderLayerCache> layers;
  int64_t step = 0;     // tokens fed so far

  /// Keeps rows `rows` ([B'] int64) in that order (beam reordering).
  void select_rows(const at::Tensor& rows);
};

/// Encoder-decoder Transformer whose FFN is a moe::MoELayer in every moe_every-th layer.
/// Each token's sentence index goes to the gate as GateInput::seq, its token id as
/// GateInput::ids. Padding never reaches an expert.
class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(TransformerOptions options);

  void reset();
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  /// src [B, S], tgt_in [B, T] int64 (tgt_in starts with BOS) -> logits [B, T, V].
  TransformerOutput forward(const at::Tensor& src, const at::Tensor& tgt_in);

  /// Runs the encoder. `sentence` [B] int64: sentence index per row (default 0..B-1).
  EncoderOutput encode(const at::Tensor& src, const at::Tensor& sentence = {});

  /// Runs the decoder over a whole target prefix (teacher forcing).
  TransformerOutput decode(const at::Tensor& tgt_in, const EncoderOutput& encoder,
                           const at::Tensor& sentence = {});

  /// Starts incremental decoding over `encoder` (rows may repeat a sentence, e.g. beams).
  /// Each decoder MoE layer's gate may keep per-sentence routing state from here on
  /// (Gate::start_sequences): the random gate in eval_mode=sample draws one expert per
  /// sentence, which the sentence keeps for every step.
  DecoderState start_decoding(EncoderOutput encoder, const at::Tensor& sentence = {});

  /// Feeds the next token of every row ([B] int64) and returns the logits [B, V] of the
  /// token after it. Self-attention keys/values are cached: each step costs one position.
  at::Tensor decode_step(const at::Tensor& tokens, DecoderState& state);

  /// Layer i of the encoder/decoder.
  EncoderLayerImpl& encoder_layer(int64_t i);
  DecoderLayerImpl& decoder_layer(int64_t i);

  TransformerOptions options;
  /// When set, forward/encode/decode return every layer's output (still in the
  /// autograd graph) in their `states` (distillation, train/distillation.h).
  bool keep_hidden_states = false;
  at::Tensor embed;      // [V, d] shared: source, target and output projection
  at::Tensor positions;  // [max_positions, d] when learned_positions
  torch::nn::ModuleList encoder{nullptr}, decoder{nullptr};
  torch::nn::LayerNorm encoder_norm{nullptr}, decoder_norm{nullptr};  // pre_norm only
  torch::nn::Dropout dropout{nullptr};

 private:
  /// Scaled token embedding plus the positions [offset, offset + T): [B, T, d].
  at::Tensor embed_tokens(const at::Tensor& tokens, int64_t offset, const std::string& where);
  at::Tensor default_sentence(const at::Tensor& tokens) const;
};
TORCH_MODULE(Transformer);

/// The sinusoidal position table of "Attention Is All You Need": [T, d] for positions
/// [offset, offset + T), sin in the first half of the channels, cos in the second (fairseq).
at::Tensor sinusoidal_positions(int64_t offset, int64_t length, int64_t d_model,
                                const at::TensorOptions& options);

}  // namespace moekit::models
