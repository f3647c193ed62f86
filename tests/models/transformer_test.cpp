#include "moekit/models/transformer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>
#include <string>

#include "moekit/core/error.h"
#include "moekit/gates/permutation_search.h"
#include "moekit/models/beam_search.h"
#include "moekit/models/transformer_layers.h"

namespace moekit::models {
namespace {

constexpr int64_t kVocab = 13;

TransformerOptions tiny(const std::string& gate = "hash") {
  return TransformerOptions(kVocab)
      .d_model(16)
      .ffn_hidden(24)
      .heads(2)
      .encoder_layers(2)
      .decoder_layers(2)
      .dropout(0.1)
      .gate(gate);
}

// Random ids in [3, V): no PAD (0), BOS (1) or EOS (2).
torch::Tensor random_tokens(int64_t batch, int64_t length) {
  return torch::randint(3, kVocab, {batch, length}, torch::kLong);
}

TEST(ModelTransformer, LogitsAreBatchByTimeByVocab) {
  torch::manual_seed(0);
  Transformer model(tiny("random"));
  auto out = model->forward(random_tokens(3, 5), random_tokens(3, 4));
  EXPECT_EQ(out.logits.sizes(), torch::IntArrayRef({3, 4, kVocab}));
  EXPECT_EQ(out.aux_loss.dim(), 0);
  out.logits.sum().backward();
  EXPECT_TRUE(model->embed.grad().defined());
}

TEST(ModelTransformer, FeedForwardOfOddLayersIsMoEWithMoeEveryTwo) {
  Transformer model(tiny().encoder_layers(4).decoder_layers(3));
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(model->encoder_layer(i).ffn->is_moe(), i % 2 == 1);
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(model->decoder_layer(i).ffn->is_moe(), i % 2 == 1);
  std::set<std::string> names;
  for (const auto& item : model->named_parameters()) names.insert(item.key());
  EXPECT_EQ(names.count("encoder.1.ffn.moe.experts.w1"), 1u);
  EXPECT_EQ(names.count("decoder.1.ffn.moe.experts.w1"), 1u);
  EXPECT_EQ(names.count("encoder.0.ffn.fc1.weight"), 1u);
  EXPECT_EQ(names.count("encoder.1.ffn.fc1.weight"), 0u);
}

// Which FFNs are MoE, encoder then decoder, as "e0 e1 .. | d0 d1 ..".
std::string moe_placement(const TransformerOptions& options) {
  Transformer model(options);
  std::string out;
  for (int64_t i = 0; i < options.encoder_layers(); ++i)
    out += model->encoder_layer(i).ffn->is_moe() ? "M" : "-";
  out += "|";
  for (int64_t i = 0; i < options.decoder_layers(); ++i)
    out += model->decoder_layer(i).ffn->is_moe() ? "M" : "-";
  return out;
}

TEST(ModelTransformer, MoeLayersPlacesTheMoEFeedForwards) {
  auto six = [] { return tiny().encoder_layers(6).decoder_layers(6); };
  // THOR's reference: layers 0, 2, 4 of 6 in both stacks.
  EXPECT_EQ(moe_placement(six().moe_layers("even")), "M-M-M-|M-M-M-");
  EXPECT_EQ(moe_placement(six().moe_layers("odd")), "-M-M-M|-M-M-M");
  EXPECT_EQ(moe_placement(six().moe_layers("all")), "MMMMMM|MMMMMM");
  EXPECT_EQ(moe_placement(six().moe_layers("none")), "------|------");
  EXPECT_EQ(moe_placement(six().moe_layers("0,5")), "M----M|M----M");
  EXPECT_EQ(moe_placement(six().moe_layers("[1, 2]")), "-MM---|-MM---");
  // A list index past the shorter stack applies to the longer one only.
  EXPECT_EQ(moe_placement(tiny().encoder_layers(3).decoder_layers(1).moe_layers("2")), "--M|-");
  // moe_layers overrides moe_every; "" keeps the moe_every rule.
  EXPECT_EQ(moe_placement(six().moe_every(3).moe_layers("even")), "M-M-M-|M-M-M-");
  EXPECT_EQ(moe_placement(six().moe_every(3)), "--M--M|--M--M");
  EXPECT_TRUE(six().moe_layers("0").has_moe());
  EXPECT_FALSE(six().moe_layers("none").has_moe());
  EXPECT_FALSE(tiny().moe_every(0).has_moe());
}

TEST(ModelTransformer, MoeLayersRejectsBadListsNamingTheField) {
  for (const char* bad : {"evens", "0,,2", "-1", "1,1", "6", "x"}) {
    try {
      Transformer(tiny().encoder_layers(6).decoder_layers(6).moe_layers(bad));
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.where(), "moe_layers") << bad;
    }
  }
}

TEST(ModelTransformer, ExpertHiddenSetsTheExpertsWidthOnly) {
  Transformer model(tiny().encoder_layers(2).decoder_layers(2).moe_layers("0").expert_hidden(6));
  auto& experts = dynamic_cast<moe::FFNExpertsImpl&>(model->encoder_layer(0).ffn->moe->experts());
  EXPECT_EQ(experts.w1.size(2), 6);
  EXPECT_EQ(model->encoder_layer(1).ffn->fc1->weight.size(0), tiny().ffn_hidden());
  EXPECT_EQ(tiny().resolved_expert_hidden(), tiny().ffn_hidden());
  EXPECT_THROW(Transformer(tiny().expert_hidden(-1)), Error);
}

TEST(ModelTransformer, MoeEveryZeroIsDense) {
  torch::manual_seed(0);
  Transformer model(tiny("switch").moe_every(0));
  for (const auto& item : model->named_parameters()) {
    EXPECT_EQ(item.key().find("moe"), std::string::npos) << item.key();
  }
  auto out = model->forward(random_tokens(2, 5), random_tokens(2, 4));
  EXPECT_EQ(out.aux_loss.item<float>(), 0.0f);
}

TEST(ModelTransformer, SwitchAuxLossesAreReturned) {
  torch::manual_seed(0);
  Transformer model(tiny("switch"));
  auto out = model->forward(random_tokens(2, 5), random_tokens(2, 4));
  EXPECT_GT(out.aux_loss.item<float>(), 0.0f);  // one balance loss per MoE layer
}

class ModelTransformerVariant : public ::testing::TestWithParam<std::tuple<bool, bool>> {
 protected:
  TransformerOptions options(const std::string& gate) const {
    return tiny(gate).pre_norm(std::get<0>(GetParam())).learned_positions(std::get<1>(GetParam()));
  }
};

TEST_P(ModelTransformerVariant, LaterTargetTokensDoNotChangeEarlierLogits) {
  torch::manual_seed(0);
  Transformer model(options("hash"));
  model->eval();
  auto src = random_tokens(2, 6), tgt = random_tokens(2, 5);
  auto before = model->forward(src, tgt).logits;
  tgt.select(1, 3).fill_(3);
  tgt.select(1, 4).fill_(4);
  auto after = model->forward(src, tgt).logits;
  EXPECT_TRUE(torch::allclose(before.narrow(1, 0, 3), after.narrow(1, 0, 3), 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(before.narrow(1, 3, 2), after.narrow(1, 3, 2), 1e-3, 1e-3));
}

TEST_P(ModelTransformerVariant, SourcePaddingDoesNotChangeTheOutput) {
  torch::manual_seed(0);
  // Switch with a tight capacity: padding that reached the experts would take slots.
  TransformerOptions opts = options("switch");
  opts.gate_options(gates::GateOptions(0, 0).capacity_factor(1.0));
  Transformer model(opts);
  model->eval();
  auto src = random_tokens(1, 5), tgt = random_tokens(1, 4);
  auto padded = torch::cat({src, torch::zeros({1, 3}, torch::kLong)}, 1);
  auto plain_enc = model->encode(src), padded_enc = model->encode(padded);
  EXPECT_TRUE(torch::allclose(plain_enc.memory, padded_enc.memory.narrow(1, 0, 5), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(model->forward(src, tgt).logits,
                              model->forward(padded, tgt).logits, 1e-5, 1e-6));
}

TEST_P(ModelTransformerVariant, IncrementalDecodingMatchesFullDecoding) {
  torch::manual_seed(0);
  Transformer model(options("hash"));
  model->eval();
  torch::NoGradGuard no_grad;
  auto src = random_tokens(3, 6), tgt = random_tokens(3, 5);
  auto full = model->forward(src, tgt).logits;
  DecoderState state = model->start_decoding(model->encode(src));
  for (int64_t t = 0; t < 5; ++t) {
    auto step = model->decode_step(tgt.select(1, t).contiguous(), state);
    EXPECT_TRUE(torch::allclose(step, full.select(1, t), 1e-4, 1e-5)) << "step " << t;
  }
}

INSTANTIATE_TEST_SUITE_P(NormAndPositions, ModelTransformerVariant,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()));

TEST(ModelTransformer, DropoutMakesTrainingPassesDifferAndEvalDeterministic) {
  torch::manual_seed(0);
  Transformer model(tiny("hash"));
  auto src = random_tokens(2, 5), tgt = random_tokens(2, 4);
  EXPECT_FALSE(torch::equal(model->forward(src, tgt).logits, model->forward(src, tgt).logits));
  model->eval();
  EXPECT_TRUE(torch::equal(model->forward(src, tgt).logits, model->forward(src, tgt).logits));
}

// Same weights, the random gate's inference mode differing (the gate has no parameters).
Transformer random_gate_model(TransformerOptions opts, const std::string& mode, int64_t expert) {
  torch::manual_seed(7);
  opts.gate("random").n_experts(2).gate_options(
      gates::GateOptions(0, 0).eval_mode(mode).fixed_expert(expert));
  Transformer model(opts);
  model->eval();
  return model;
}

TEST(ModelTransformer, SampleModeDrawsOneEncoderExpertPerSentence) {
  // Only encoder layer 1 is MoE, so each sentence's output is that of expert 0 or 1.
  TransformerOptions opts = tiny().encoder_layers(2).decoder_layers(1);
  auto sample = random_gate_model(opts, "sample", 0);
  auto fixed0 = random_gate_model(opts, "fixed", 0), fixed1 = random_gate_model(opts, "fixed", 1);
  torch::manual_seed(1);
  auto src = random_tokens(8, 6), tgt = random_tokens(8, 5);
  auto y = sample->forward(src, tgt).logits, y0 = fixed0->forward(src, tgt).logits,
       y1 = fixed1->forward(src, tgt).logits;
  std::set<int> used;
  for (int64_t b = 0; b < 8; ++b) {
    const bool is0 = torch::allclose(y[b], y0[b], 1e-5, 1e-6);
    const bool is1 = torch::allclose(y[b], y1[b], 1e-5, 1e-6);
    EXPECT_TRUE(is0 || is1) << "sentence " << b << " mixes experts";
    used.insert(is0 ? 0 : 1);
  }
  EXPECT_EQ(used.size(), 2u);  // 8 sentences all on one expert: p = 2^-7
}

TEST(ModelTransformer, SampleModeKeepsTheDecoderExpertForAllSteps) {
  // Only decoder layer 1 is MoE: a greedy translation that switched experts between steps
  // would match neither fixed-expert translation.
  TransformerOptions opts = tiny().encoder_layers(1).decoder_layers(2);
  auto sample = random_gate_model(opts, "sample", 0);
  auto fixed0 = random_gate_model(opts, "fixed", 0), fixed1 = random_gate_model(opts, "fixed", 1);
  torch::manual_seed(2);
  auto src = random_tokens(8, 6);
  auto h = greedy_search(sample, src, 8), h0 = greedy_search(fixed0, src, 8),
       h1 = greedy_search(fixed1, src, 8);
  for (int64_t b = 0; b < 8; ++b) {
    const bool is0 = h[b].tokens == h0[b].tokens && std::abs(h[b].score - h0[b].score) < 1e-4;
    const bool is1 = h[b].tokens == h1[b].tokens && std::abs(h[b].score - h1[b].score) < 1e-4;
    EXPECT_TRUE(is0 || is1) << "sentence " << b;
  }
}

TEST(ModelTransformer, DecodingRoutesThroughTheGateIncludingLocalSearch) {
  // The random gate wrapped in local search, Π hardened to swap the two experts:
  // the sentence's expert (kept across steps by the gate's own state) goes through
  // the permutation too, so fixed:0 decodes like the bare model's fixed:1.
  TransformerOptions opts = tiny().encoder_layers(1).decoder_layers(2);
  auto bare1 = random_gate_model(opts, "fixed", 1);
  for (const std::string mode : {"fixed", "sample"}) {
    SCOPED_TRACE(mode);
    TransformerOptions ls = opts;
    ls.gate("random").n_experts(2).gate_options(
        gates::GateOptions(0, 0).eval_mode(mode).fixed_expert(0).local_search(true));
    Transformer model(ls);
    {
      torch::NoGradGuard no_grad;
      auto target = model->named_parameters();
      for (const auto& p : bare1->named_parameters()) target[p.key()].copy_(p.value());
    }
    int64_t wrapped = 0;
    for (const auto& m : model->modules()) {
      auto search = std::dynamic_pointer_cast<gates::PermutationSearchGate>(m);
      if (!search) continue;
      search->set_permutation_logits(torch::tensor({{0.0, 1.0}, {1.0, 0.0}}));
      search->harden();
      ++wrapped;
    }
    ASSERT_EQ(wrapped, 1);
    model->eval();
    torch::manual_seed(2);
    auto src = random_tokens(8, 6);
    auto bare0 = random_gate_model(opts, "fixed", 0);
    auto h0 = greedy_search(bare0, src, 8), h1 = greedy_search(bare1, src, 8);
    auto same = [](const Hypothesis& a, const Hypothesis& b) {
      return a.tokens == b.tokens && std::abs(a.score - b.score) < 1e-4;
    };
    // The same draws (same seed) in the bare sample-mode model and the wrapped one.
    auto bare_sample = random_gate_model(opts, "sample", 0);
    torch::manual_seed(3);
    auto hs = greedy_search(bare_sample, src, 8);
    torch::manual_seed(3);
    auto h = greedy_search(model, src, 8);
    int64_t told_apart = 0;
    for (int64_t b = 0; b < 8; ++b) {
      if (same(h0[b], h1[b])) continue;  // both experts translate alike: no evidence
      ++told_apart;
      if (mode == "fixed") {
        EXPECT_TRUE(same(h[b], h1[b])) << "sentence " << b;
      } else {
        // The bare gate's expert e, permuted: the wrapped model used 1 - e.
        ASSERT_TRUE(same(hs[b], h0[b]) || same(hs[b], h1[b])) << "sentence " << b;
        EXPECT_TRUE(same(h[b], same(hs[b], h0[b]) ? h1[b] : h0[b])) << "sentence " << b;
      }
    }
    EXPECT_GT(told_apart, 2);
  }
}

TEST(ModelTransformer, RejectsBadOptionsAndTokens) {
  EXPECT_THROW(Transformer(tiny().heads(3)), Error);
  EXPECT_THROW(Transformer(tiny().pad_id(kVocab)), Error);
  EXPECT_THROW(Transformer(tiny().moe_every(-1)), Error);
  EXPECT_THROW(Transformer(tiny().gate("nope")), Error);
  Transformer model(tiny().learned_positions(true).max_positions(6));
  EXPECT_THROW(model->forward(torch::full({1, 3}, kVocab, torch::kLong), random_tokens(1, 2)),
               Error);
  EXPECT_THROW(model->forward(random_tokens(1, 7), random_tokens(1, 2)), Error);
  EXPECT_THROW(model->forward(random_tokens(1, 3).to(torch::kFloat), random_tokens(1, 2)), Error);
}

}  // namespace
}  // namespace moekit::models
