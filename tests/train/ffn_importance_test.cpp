#include "moekit/train/ffn_importance.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "moekit/core/error.h"
#include "moekit/data/token_batches.h"
#include "moekit/models/transformer_layers.h"
#include "moekit/train/thor_loss.h"
#include "testing/token_corpus.h"

namespace moekit::train {
namespace {
using moekit::testing::cycling_token_corpus;

constexpr int64_t kVocab = 20;

models::TransformerOptions tiny_dense() {
  return models::TransformerOptions(kVocab).d_model(16).ffn_hidden(24).heads(2).encoder_layers(2)
      .decoder_layers(2).dropout(0.3).moe_layers("none");
}

// The loss ffn_importance differentiates, computed independently: target-token
// CE summed over every sentence, one batch, eval mode.
double summed_loss(models::Transformer& model, const data::ParallelCorpus& corpus) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> all(corpus.pairs.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  const auto& o = model->options;
  const auto batch = data::collate(corpus.pairs, all, o.pad_id(), o.bos_id(), o.eos_id());
  const auto out = model->forward(batch.src, batch.tgt_in);
  return (label_smoothed_cross_entropy(out.logits, batch.tgt_out, o.pad_id(), 0.0) *
          static_cast<double>(batch.tgt_tokens)).item<double>();
}

TEST(TrainFfnImportance, FirstOrderMatchesFiniteDifferencesOfRemovingAUnit) {
  torch::manual_seed(0);
  models::Transformer model(tiny_dense());
  model->to(torch::kDouble);
  model->train();
  const auto corpus = cycling_token_corpus(7, kVocab);
  // Small batches: the scores sum over batches.
  const FfnImportance r = ffn_importance(model, corpus, 0, 24);
  EXPECT_TRUE(model->is_training());  // restored
  ASSERT_EQ(r.blocks, (std::vector<std::string>{"encoder.0", "encoder.1", "decoder.0", "decoder.1"}));
  EXPECT_EQ(r.sentences, 7);
  model->eval();
  const double base = summed_loss(model, corpus);
  const double eps = 1e-6;
  for (const auto& [block, layer] : {std::pair{1, true}, std::pair{0, false}}) {
    auto& ffn = layer ? *model->encoder_layer(block).ffn : *model->decoder_layer(block).ffn;
    const size_t b = layer ? static_cast<size_t>(block) : 2 + static_cast<size_t>(block);
    for (const int64_t j : {0, 7, 23}) {
      // Scaling fc2's column j by (1 - eps) scales unit j's activation by it:
      // L(1) - L(1 - eps) = eps · Σ a_j ∂L/∂a_j + O(eps²).
      at::Tensor column = ffn.fc2->weight.select(1, j);
      const at::Tensor saved = column.detach().clone();
      {
        torch::NoGradGuard no_grad;
        column.mul_(1 - eps);
      }
      const double drop = (base - summed_loss(model, corpus)) / eps;
      {
        torch::NoGradGuard no_grad;
        column.copy_(saved);
      }
      const double first = r.first_order[b][j].item<double>();
      EXPECT_NEAR(first, drop, 1e-4 * std::max(1.0, std::abs(drop))) << r.blocks[b] << " unit " << j;
      EXPECT_GE(r.importance[b][j].item<double>(), std::abs(first) - 1e-12);
    }
  }
}

TEST(TrainFfnImportance, ADeadUnitScoresZeroAndNoParameterGradientIsTouched) {
  torch::manual_seed(1);
  models::Transformer model(tiny_dense());
  model->to(torch::kDouble);
  {
    torch::NoGradGuard no_grad;
    model->encoder_layer(0).ffn->fc1->bias[5].fill_(-1e6);  // never active
  }
  const FfnImportance r = ffn_importance(model, cycling_token_corpus(5, kVocab), 3, 1000);
  EXPECT_EQ(r.sentences, 3);
  EXPECT_EQ(r.importance[0][5].item<double>(), 0.0);
  EXPECT_GT(r.importance[0].sum().item<double>(), 0.0);
  for (const auto& p : model->parameters()) EXPECT_FALSE(p.grad().defined());
  EXPECT_FALSE(model->encoder_layer(0).ffn->hidden.defined());  // released
}

TEST(TrainFfnImportance, AModelWithoutDenseFfnsOrACorpusWithoutPairsIsAnError) {
  models::Transformer moe(tiny_dense().moe_layers("all").n_experts(2).gate("softmax"));
  EXPECT_THROW(ffn_importance(moe, cycling_token_corpus(2, kVocab), 0, 100), Error);
  models::Transformer dense(tiny_dense());
  EXPECT_THROW(ffn_importance(dense, data::ParallelCorpus{}, 0, 100), Error);
}

}  // namespace
}  // namespace moekit::train
