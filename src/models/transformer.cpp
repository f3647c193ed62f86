#include "moekit/models/transformer.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>
#include <tuple>

#include "moekit/core/error.h"
#include "moekit/core/parse.h"
#include "moekit/models/transformer_layers.h"

namespace moekit::models {

void TransformerOptions::validate() const {
  MOEKIT_CHECK(vocab_size_ > 0, "vocab_size", "must be > 0, got {}", vocab_size_);
  MOEKIT_CHECK(d_model_ > 0, "d_model", "must be > 0, got {}", d_model_);
  MOEKIT_CHECK(ffn_hidden_ > 0, "ffn_hidden", "must be > 0, got {}", ffn_hidden_);
  MOEKIT_CHECK(expert_hidden_ >= 0, "expert_hidden", "must be >= 0 (0 = ffn_hidden), got {}",
               expert_hidden_);
  MOEKIT_CHECK(heads_ > 0 && d_model_ % heads_ == 0, "heads",
               "must be > 0 and divide d_model = {}, got {}", d_model_, heads_);
  MOEKIT_CHECK(encoder_layers_ > 0, "encoder_layers", "must be > 0, got {}", encoder_layers_);
  MOEKIT_CHECK(decoder_layers_ > 0, "decoder_layers", "must be > 0, got {}", decoder_layers_);
  MOEKIT_CHECK(dropout_ >= 0.0 && dropout_ < 1.0, "dropout", "must lie in [0, 1), got {}",
               dropout_);
  MOEKIT_CHECK(max_positions_ > 0, "max_positions", "must be > 0, got {}", max_positions_);
  for (auto [name, id] : {std::pair<const char*, int64_t>{"pad_id", pad_id_},
                          {"bos_id", bos_id_}, {"eos_id", eos_id_}}) {
    MOEKIT_CHECK(id >= 0 && id < vocab_size_, name, "must lie in [0, vocab_size = {}), got {}",
                 vocab_size_, id);
  }
  MOEKIT_CHECK(moe_every_ >= 0, "moe_every", "must be >= 0 (0 = dense), got {}", moe_every_);
  const std::vector<int64_t> listed = parse_moe_layers(moe_layers_);  // checks the words
  for (int64_t layer : listed) {
    MOEKIT_CHECK(layer < std::max(encoder_layers_, decoder_layers_), "moe_layers",
                 "layer {} does not exist: the encoder has {} layers and the decoder {}", layer,
                 encoder_layers_, decoder_layers_);
  }
  MOEKIT_CHECK(n_experts_ > 0, "n_experts", "must be > 0, got {}", n_experts_);
}

std::vector<int64_t> parse_moe_layers(const std::string& text) {
  static const std::set<std::string> kWords = {"", "even", "odd", "all", "none"};
  if (kWords.count(text)) return {};
  std::string list = text;
  if (list.size() >= 2 && list.front() == '[' && list.back() == ']') {
    list = list.substr(1, list.size() - 2);  // a YAML list arrives in flow style
  }
  std::vector<int64_t> layers;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto first = item.find_first_not_of(' ');
    const auto last = item.find_last_not_of(' ');
    MOEKIT_CHECK(first != std::string::npos, "moe_layers",
                 "expected even, odd, all, none or a list of layer indices like 0,2,4; got '{}'",
                 text);
    const int64_t layer = parse_value<int64_t>(item.substr(first, last - first + 1), "moe_layers");
    MOEKIT_CHECK(layer >= 0, "moe_layers", "layer indices count from 0, got {}", layer);
    MOEKIT_CHECK(std::find(layers.begin(), layers.end(), layer) == layers.end(), "moe_layers",
                 "layer {} is listed twice", layer);
    layers.push_back(layer);
  }
  return layers;
}

bool TransformerOptions::is_moe_layer(int64_t layer) const {
  if (moe_layers_.empty()) return moe_every_ > 0 && layer % moe_every_ == moe_every_ - 1;
  if (moe_layers_ == "even") return layer % 2 == 0;
  if (moe_layers_ == "odd") return layer % 2 == 1;
  if (moe_layers_ == "all") return true;
  if (moe_layers_ == "none") return false;
  const auto listed = parse_moe_layers(moe_layers_);
  return std::find(listed.begin(), listed.end(), layer) != listed.end();
}

bool TransformerOptions::has_moe() const {
  for (int64_t i = 0; i < std::max(encoder_layers_, decoder_layers_); ++i) {
    if (is_moe_layer(i)) return true;
  }
  return false;
}

at::Tensor sinusoidal_positions(int64_t offset, int64_t length, int64_t d_model,
                                const at::TensorOptions& options) {
  const int64_t half = d_model / 2;
  at::Tensor pos = at::arange(offset, offset + length, options.dtype(at::kFloat)).unsqueeze(1);
  // fairseq's frequencies: 10000^(-i / (half - 1)), i = 0..half-1.
  const double step = std::log(10000.0) / static_cast<double>(std::max<int64_t>(half - 1, 1));
  at::Tensor freq = at::exp(at::arange(half, options.dtype(at::kFloat)) * -step);
  at::Tensor angles = pos * freq.unsqueeze(0);  // [T, half]
  at::Tensor table = at::cat({at::sin(angles), at::cos(angles)}, 1);
  if (d_model % 2 == 1) table = at::cat({table, at::zeros({length, 1}, table.options())}, 1);
  return table.to(options.dtype());
}

TransformerImpl::TransformerImpl(TransformerOptions options_) : options(std::move(options_)) {
  options.validate();
  reset();
}

void TransformerImpl::reset() {
  const int64_t d = options.d_model();
  embed = register_parameter("embed", torch::empty({options.vocab_size(), d}));
  if (options.learned_positions()) {
    positions = register_parameter("positions", torch::empty({options.max_positions(), d}));
  }
  encoder = register_module("encoder", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.encoder_layers(); ++i) {
    encoder->push_back(EncoderLayer(options, options.is_moe_layer(i)));
  }
  decoder = register_module("decoder", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.decoder_layers(); ++i) {
    decoder->push_back(DecoderLayer(options, options.is_moe_layer(i)));
  }
  if (options.pre_norm()) {
    encoder_norm = register_module("encoder_norm", torch::nn::LayerNorm(
                                                       torch::nn::LayerNormOptions({d})));
    decoder_norm = register_module("decoder_norm", torch::nn::LayerNorm(
                                                       torch::nn::LayerNormOptions({d})));
  }
  dropout = register_module("dropout", torch::nn::Dropout(options.dropout()));
  reset_parameters();
}

void TransformerImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  // fairseq: N(0, d^-1/2) so that the sqrt(d)-scaled embeddings have unit scale; the
  // padding row is zero.
  const double std = 1.0 / std::sqrt(static_cast<double>(options.d_model()));
  embed.normal_(0.0, std);
  embed[options.pad_id()].zero_();
  if (positions.defined()) positions.normal_(0.0, std);
}

namespace {

// "1,3" or "none": the layers that have a MoE FFN, for printing.
std::string moe_layer_list(const TransformerOptions& options) {
  std::string list;
  for (int64_t i = 0; i < std::max(options.encoder_layers(), options.decoder_layers()); ++i) {
    if (options.is_moe_layer(i)) list += (list.empty() ? "" : ",") + std::to_string(i);
  }
  return list.empty() ? "none" : list;
}

}  // namespace

void TransformerImpl::pretty_print(std::ostream& stream) const {
  stream << "moekit::Transformer(vocab_size=" << options.vocab_size()
         << ", d_model=" << options.d_model() << ", ffn_hidden=" << options.ffn_hidden()
         << ", heads=" << options.heads() << ", layers=" << options.encoder_layers() << "+"
         << options.decoder_layers() << ", pre_norm=" << options.pre_norm()
         << ", positions=" << (options.learned_positions() ? "learned" : "sinusoidal")
         << ", moe_layers=" << moe_layer_list(options)
         << ", n_experts=" << options.n_experts()
         << (options.expert_hidden() > 0 ? ", expert_hidden=" + std::to_string(options.expert_hidden()) : "")
         << ", gate=" << options.gate() << ")";
}

EncoderLayerImpl& TransformerImpl::encoder_layer(int64_t i) {
  return *encoder->ptr<EncoderLayerImpl>(i);
}

DecoderLayerImpl& TransformerImpl::decoder_layer(int64_t i) {
  return *decoder->ptr<DecoderLayerImpl>(i);
}

at::Tensor TransformerImpl::embed_tokens(const at::Tensor& tokens, int64_t offset,
                                         const std::string& where) {
  MOEKIT_CHECK(tokens.dim() == 2 && tokens.scalar_type() == at::kLong, where,
               "expected [B, T] int64 token ids, got {} {}", c10::str(tokens.sizes()),
               c10::toString(tokens.scalar_type()));
  if (tokens.numel() > 0) {
    const int64_t lo = tokens.min().item<int64_t>(), hi = tokens.max().item<int64_t>();
    MOEKIT_CHECK(lo >= 0 && hi < options.vocab_size(), where,
                 "token ids must lie in [0, vocab_size = {}), got [{}, {}]", options.vocab_size(),
                 lo, hi);
  }
  const int64_t length = tokens.size(1);
  at::Tensor x = at::embedding(embed, tokens) * std::sqrt(static_cast<double>(options.d_model()));
  // NOTE: positions count from the first column, so batches are padded on the right.
  if (positions.defined()) {
    MOEKIT_CHECK(offset + length <= options.max_positions(), where,
                 "length {} exceeds max_positions = {}", offset + length,
                 options.max_positions());
    x = x + positions.narrow(0, offset, length).unsqueeze(0);
  } else {
    x = x + sinusoidal_positions(offset, length, options.d_model(), x.options()).unsqueeze(0);
  }
  return dropout(x);
}

at::Tensor TransformerImpl::default_sentence(const at::Tensor& tokens) const {
  return at::arange(tokens.size(0), tokens.options().dtype(at::kLong));
}

EncoderOutput TransformerImpl::encode(const at::Tensor& src, const at::Tensor& sentence) {
  at::Tensor x = embed_tokens(src, 0, "src");
  const at::Tensor sent = sentence.defined() ? sentence : default_sentence(src);
  const at::Tensor seq = sent.unsqueeze(1).expand(src.sizes());
  const at::Tensor pad_mask = src.eq(options.pad_id());
  at::Tensor aux = at::zeros({}, x.options());
  std::vector<at::Tensor> states;
  if (keep_hidden_states) states.push_back(x);
  for (int64_t i = 0; i < options.encoder_layers(); ++i) {
    auto out = encoder_layer(i).forward(x, pad_mask, src, seq);
    x = out.first;
    aux = aux + out.second;
    if (keep_hidden_states) states.push_back(x);
  }
  if (options.pre_norm()) x = encoder_norm(x);
  return EncoderOutput{x, pad_mask, aux, std::move(states)};
}

TransformerOutput TransformerImpl::decode(const at::Tensor& tgt_in, const EncoderOutput& encoder,
                                          const at::Tensor& sentence) {
  at::Tensor x = embed_tokens(tgt_in, 0, "tgt_in");
  MOEKIT_CHECK(tgt_in.size(0) == encoder.memory.size(0), "tgt_in",
               "batch {} does not match the source batch {}", tgt_in.size(0),
               encoder.memory.size(0));
  const at::Tensor sent = sentence.defined() ? sentence : default_sentence(tgt_in);
  const at::Tensor seq = sent.unsqueeze(1).expand(tgt_in.sizes());
  const at::Tensor valid = tgt_in.ne(options.pad_id());
  at::Tensor aux = at::zeros({}, x.options());
  TransformerOutput out;
  if (keep_hidden_states) out.decoder_states.push_back(x);
  for (int64_t i = 0; i < options.decoder_layers(); ++i) {
    auto layer_out = decoder_layer(i).forward(x, encoder, tgt_in, seq, valid);
    x = layer_out.first;
    aux = aux + layer_out.second;
    if (keep_hidden_states) out.decoder_states.push_back(x);
  }
  if (options.pre_norm()) x = decoder_norm(x);
  out.logits = at::linear(x, embed);
  out.aux_loss = aux;
  return out;
}

TransformerOutput TransformerImpl::forward(const at::Tensor& src, const at::Tensor& tgt_in) {
  EncoderOutput encoded = encode(src);
  TransformerOutput out = decode(tgt_in, encoded);
  out.aux_loss = out.aux_loss + encoded.aux_loss;
  out.encoder_states = std::move(encoded.states);
  return out;
}

DecoderState TransformerImpl::start_decoding(EncoderOutput encoder, const at::Tensor& sentence) {
  DecoderState state;
  const int64_t rows = encoder.memory.size(0);
  state.sentence = sentence.defined() ? sentence.to(at::kLong)
                                      : at::arange(rows, encoder.memory.options().dtype(at::kLong));
  MOEKIT_CHECK(state.sentence.dim() == 1 && state.sentence.size(0) == rows, "sentence",
               "expected [{}], got {}", rows, c10::str(state.sentence.sizes()));
  state.encoder = std::move(encoder);
  state.layers.resize(options.decoder_layers());
  for (int64_t i = 0; i < options.decoder_layers(); ++i) {
    DecoderLayerImpl& layer = decoder_layer(i);
    if (layer.ffn->is_moe()) {
      state.layers[i].gate_state = layer.ffn->moe->gate().start_sequences(state.sentence);
    }
  }
  return state;
}

at::Tensor TransformerImpl::decode_step(const at::Tensor& tokens, DecoderState& state) {
  MOEKIT_CHECK(tokens.dim() == 1 && tokens.size(0) == state.sentence.size(0), "tokens",
               "expected [{}] int64, got {}", state.sentence.size(0), c10::str(tokens.sizes()));
  const at::Tensor ids = tokens.unsqueeze(1);  // [B, 1]
  at::Tensor x = embed_tokens(ids, state.step, "tokens");
  const at::Tensor seq = state.sentence.unsqueeze(1);
  for (int64_t i = 0; i < options.decoder_layers(); ++i) {
    x = decoder_layer(i).forward(x, state.encoder, ids, seq, {}, &state.layers[i]).first;
  }
  if (options.pre_norm()) x = decoder_norm(x);
  ++state.step;
  return at::linear(x.squeeze(1), embed);
}

void DecoderState::select_rows(const at::Tensor& rows) {
  auto select = [&](at::Tensor& t) {
    if (t.defined()) t = t.index_select(0, rows);
  };
  select(encoder.memory);
  select(encoder.pad_mask);
  select(sentence);
  for (DecoderLayerCache& layer : layers) {
    select(layer.self_k);
    select(layer.self_v);
    select(layer.cross_k);
    select(layer.cross_v);
    select(layer.gate_state);
  }
}

}  // namespace moekit::models
