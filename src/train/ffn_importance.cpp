#include "moekit/train/ffn_importance.h"

#include <torch/torch.h>

#include <utility>

#include "moekit/core/error.h"
#include "moekit/data/token_batches.h"
#include "moekit/models/transformer_layers.h"
#include "moekit/train/thor_loss.h"

namespace moekit::train {
namespace {

using Block = std::pair<std::string, models::FeedForwardBlockImpl*>;

// The dense FFN blocks of the model with their names, in layer order.
std::vector<Block> dense_blocks(models::Transformer& model) {
  std::vector<Block> blocks;
  const auto& o = model->options;
  for (int64_t i = 0; i < o.encoder_layers(); ++i) {
    auto& ffn = *model->encoder_layer(i).ffn;
    if (!ffn.is_moe()) blocks.emplace_back("encoder." + std::to_string(i), &ffn);
  }
  for (int64_t i = 0; i < o.decoder_layers(); ++i) {
    auto& ffn = *model->decoder_layer(i).ffn;
    if (!ffn.is_moe()) blocks.emplace_back("decoder." + std::to_string(i), &ffn);
  }
  return blocks;
}

// `samples` sentence indices spread evenly over n (the directions of a
// corpus are stored one after the other).
std::vector<data::TokenPair> spread(const std::vector<data::TokenPair>& pairs, int64_t samples) {
  const auto n = static_cast<int64_t>(pairs.size());
  if (samples <= 0 || samples > n) samples = n;
  std::vector<data::TokenPair> picked;
  for (int64_t k = 0; k < samples; ++k) picked.push_back(pairs[static_cast<size_t>(k * n / samples)]);
  return picked;
}

// Keeps the blocks' hidden activations for the lifetime of the guard.
struct KeepHidden {
  explicit KeepHidden(const std::vector<Block>& blocks) : blocks(blocks) {
    for (const auto& b : blocks) b.second->keep_hidden = true;
  }
  ~KeepHidden() {
    for (const auto& b : blocks) {
      b.second->keep_hidden = false;
      b.second->hidden = at::Tensor();
    }
  }
  const std::vector<Block>& blocks;
};

}  // namespace

FfnImportance ffn_importance(models::Transformer& model, const data::ParallelCorpus& corpus,
                             int64_t samples, int64_t max_tokens) {
  const std::vector<Block> blocks = dense_blocks(model);
  MOEKIT_CHECK(!blocks.empty(), "model", "has no dense FFN to score (every FFN is a MoE layer)");
  MOEKIT_CHECK(!corpus.pairs.empty(), "corpus", "no sentence pairs to score the FFN units on");
  const auto& o = model->options;
  const bool was_training = model->is_training();
  model->eval();
  KeepHidden keep(blocks);

  FfnImportance result;
  for (const auto& b : blocks) {
    result.blocks.push_back(b.first);
    const int64_t h = b.second->fc1->weight.size(0);
    result.importance.push_back(torch::zeros({h}, torch::kDouble));
    result.first_order.push_back(torch::zeros({h}, torch::kDouble));
  }
  const std::vector<data::TokenPair> pairs = spread(corpus.pairs, samples);
  for (const auto& indices : data::make_token_batches(pairs, max_tokens, 0)) {
    const auto batch = data::collate(pairs, indices, o.pad_id(), o.bos_id(), o.eos_id());
    const auto out = model->forward(batch.src, batch.tgt_in);
    // L summed over target tokens, so a token's gradient does not depend on its batch.
    const at::Tensor loss = label_smoothed_cross_entropy(out.logits, batch.tgt_out, o.pad_id(), 0.0) *
                            static_cast<double>(batch.tgt_tokens);
    std::vector<at::Tensor> hidden;
    for (const auto& b : blocks) hidden.push_back(b.second->hidden);
    // Gradients of the activations only: the parameters' .grad stay as they were.
    const auto grads = torch::autograd::grad({loss}, hidden);
    for (size_t i = 0; i < blocks.size(); ++i) {
      const at::Tensor contribution = (hidden[i] * grads[i]).to(torch::kDouble).flatten(0, -2);
      result.importance[i] += contribution.abs().sum(0);
      result.first_order[i] += contribution.sum(0);
    }
    result.sentences += static_cast<int64_t>(indices.size());
    result.target_tokens += batch.tgt_tokens;
  }
  model->train(was_training);
  return result;
}

}  // namespace moekit::train
