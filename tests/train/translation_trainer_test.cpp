#include "moekit/train/translation_trainer.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include "moekit/core/error.h"
#include "moekit/core/lines.h"
#include "moekit/data/parallel_corpus.h"
#include "moekit/gates/permutation_search.h"
#include "moekit/train/bleu.h"
#include "moekit/train/stop_signal.h"
#include "testing/temp_dir.h"
#include "testing/tiny_parallel_corpus.h"

namespace moekit::train {
namespace {
namespace fs = std::filesystem;
using moekit::testing::corpus_dir;
using moekit::testing::run_cli;
using moekit::testing::fresh_dir;

models::Transformer tiny_model(const data::Tokenizer& tok) {
  models::TransformerOptions o(tok.vocab_size());
  o.d_model(32).ffn_hidden(64).heads(2).encoder_layers(2).decoder_layers(2).dropout(0.1)
      .pre_norm(true).moe_every(2).n_experts(2).gate("random")
      .pad_id(tok.pad_id()).bos_id(tok.bos_id()).eos_id(tok.eos_id());
  return models::Transformer(o);
}

TranslationTrainerOptions tiny_options(const std::string& run, int64_t max_steps) {
  return TranslationTrainerOptions()
      .run_dir(run)
      .lr(3e-3)
      .warmup_steps(5)
      .clip_norm(1.0)
      .max_tokens(256)
      .max_steps(max_steps)
      .eval_every(8)
      .log_every(1)
      .bleu_sentences(8)
      .max_decode_len(16)
      .consistency(true)
      .consistency_alpha(1.0);
}

std::map<int64_t, double> step_losses(const fs::path& metrics) {
  std::map<int64_t, double> out;
  std::ifstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("last_loss")) out[j["step"].get<int64_t>()] = j["last_loss"].get<double>();
  }
  return out;
}

// An empty scratch directory under the test temp dir.

// The synthetic corpus tokenised, both directions: what the in-process trainer tests fit on.
struct TinyCorpus {
  data::Tokenizer tok{(corpus_dir() / "spm.model").string()};
  std::vector<std::pair<std::string, std::string>> dirs = data::parse_directions("es-en,en-es", "test");
  data::ParallelCorpus train = data::load_parallel_corpus(tok, corpus_dir().string(), "train", dirs, 64);
  data::ParallelCorpus valid = data::load_parallel_corpus(tok, corpus_dir().string(), "valid", dirs, 64);
};

// A `train-mt` config for a tiny Transformer on the synthetic corpus; the
// caller adds the model keys, gate and train section its test varies.
fs::path write_tiny_config(const fs::path& root, const std::string& model_keys,
                           const std::string& gate, const std::string& train_keys) {
  const fs::path config = root / "mt.yaml";
  std::ofstream(config) << "data:\n  dir: " << corpus_dir().string()
                        << "\n  max_len: 32\nmodel:\n  d_model: 32\n  ffn_hidden: 64\n"
                           "  heads: 2\n  encoder_layers: 2\n  decoder_layers: 2\n"
                        << model_keys << "gate:\n  name: " << gate
                        << "\ntrain:\n  lr: 0.003\n  warmup_steps: 5\n  max_tokens: 256\n"
                        << train_keys;
  return config;
}

TEST(TrainTranslationTrainer, LoadsBothDirectionsWithTargetTags) {
  MOEKIT_REQUIRE_TOKENIZER();
  data::Tokenizer tok((corpus_dir() / "spm.model").string());
  const auto corpus = data::load_parallel_corpus(tok, corpus_dir().string(), "valid",
                                           data::parse_directions("es-en,en-es", "test"), 64);
  ASSERT_EQ(corpus.pairs.size(), 40u);
  EXPECT_EQ(corpus.pairs[0].src[0], tok.language_tag_id("en"));
  EXPECT_EQ(corpus.pairs[20].src[0], tok.language_tag_id("es"));
  EXPECT_EQ(tok.decode(corpus.pairs[0].tgt), corpus.references[0]);
  EXPECT_THROW(data::parse_directions("es-en,xx", "test"), Error);
  EXPECT_THROW(data::load_parallel_corpus(tok, corpus_dir().string(), "nosuch",
                                    data::parse_directions("es-en", "t"), 64),
               Error);
}

TEST(TrainTranslationTrainer, ResumeContinuesLikeAnUninterruptedRun) {
  MOEKIT_REQUIRE_TOKENIZER();
  const TinyCorpus c;
  const auto& [tok, dirs, train, valid] = c;
  const fs::path root = fresh_dir("moekit_mt_resume");
  const std::string full = (root / "full").string(), split = (root / "split").string();

  torch::manual_seed(1);
  TranslationTrainer a(tiny_model(tok), tok, tiny_options(full, 16));
  const auto fit = a.fit(train, valid);
  EXPECT_EQ(fit.steps, 16);
  EXPECT_TRUE(fs::exists(fs::path(full) / "checkpoint.pt"));
  EXPECT_TRUE(fs::exists(fs::path(full) / "best.pt"));
  // Both validation metrics of the best step are reported, whichever picked it.
  EXPECT_GT(fit.best_step, 0);
  EXPECT_TRUE(std::isfinite(fit.best_bleu) && fit.best_bleu >= 0) << fit.best_bleu;
  EXPECT_TRUE(std::isfinite(fit.best_loss) && fit.best_loss > 0) << fit.best_loss;

  torch::manual_seed(1);
  TranslationTrainer b1(tiny_model(tok), tok, tiny_options(split, 8));
  b1.fit(train, valid);
  torch::manual_seed(99);  // the checkpoint's RNG state must win over this
  TranslationTrainer b2(tiny_model(tok), tok, tiny_options(split, 16));
  b2.fit(train, valid, /*resume=*/true);
  EXPECT_EQ(b2.step(), 16);

  const auto la = step_losses(fs::path(full) / "metrics.jsonl");
  const auto lb = step_losses(fs::path(split) / "metrics.jsonl");
  ASSERT_EQ(la.size(), 16u);
  ASSERT_EQ(lb.size(), 16u);  // no duplicated or missing step after the resume
  for (int64_t s = 1; s <= 16; ++s) EXPECT_NEAR(la.at(s), lb.at(s), 1e-4) << "step " << s;
  // The model learns: the mean of the last 4 losses is below the first 4.
  double first = 0, last = 0;
  for (int64_t s = 1; s <= 4; ++s) first += la.at(s);
  for (int64_t s = 13; s <= 16; ++s) last += la.at(s);
  EXPECT_LT(last, first);
}

TEST(TrainTranslationTrainer, LocalSearchCountsOptimizerStepsUnderTwoPassTraining) {
  // THOR's consistency runs two forwards per step; the search must still end
  // after search_steps optimiser steps, in every MoE layer.
  MOEKIT_REQUIRE_TOKENIZER();
  const TinyCorpus c;
  const fs::path root = fresh_dir("moekit_mt_search");
  torch::manual_seed(1);
  models::TransformerOptions o(c.tok.vocab_size());
  o.d_model(32).ffn_hidden(64).heads(2).encoder_layers(2).decoder_layers(2).moe_every(2)
      .n_experts(2).gate("random").pad_id(c.tok.pad_id()).bos_id(c.tok.bos_id())
      .eos_id(c.tok.eos_id())
      .gate_options(gates::GateOptions(0, 0).local_search(true).search_steps(3));
  models::Transformer model(o);
  std::vector<std::shared_ptr<gates::PermutationSearchGate>> searches;
  for (const auto& m : model->modules()) {
    if (auto s = std::dynamic_pointer_cast<gates::PermutationSearchGate>(m)) searches.push_back(s);
  }
  ASSERT_EQ(searches.size(), 2u);  // one MoE layer in the encoder, one in the decoder
  auto options = tiny_options((root / "run").string(), 2);
  ASSERT_TRUE(options.consistency());
  TranslationTrainer first(model, c.tok, options);
  first.fit(c.train, c.valid);
  for (const auto& s : searches) {
    EXPECT_EQ(s->step(), 2);  // two steps of two forwards each
    EXPECT_FALSE(s->hardened());
  }
  TranslationTrainer more(model, c.tok, options.max_steps(5));
  more.fit(c.train, c.valid, /*resume=*/true);
  for (const auto& s : searches) {
    EXPECT_EQ(s->step(), 3);
    EXPECT_TRUE(s->hardened());
  }
}

// A real SIGTERM in the middle of a step (from a gradient hook): the step
// finishes, a checkpoint is saved, Interrupted says where; the resumed run logs
// the uninterrupted run's losses.
TEST(TrainTranslationTrainer, SigtermStopsAfterTheStepAndResumesExactly) {
  MOEKIT_REQUIRE_TOKENIZER();
  const TinyCorpus c;
  const auto& [tok, dirs, train, valid] = c;
  const fs::path root = fresh_dir("moekit_mt_signal");
  const std::string full = (root / "full").string(), stopped = (root / "stopped").string();
  torch::manual_seed(1);
  TranslationTrainer(tiny_model(tok), tok, tiny_options(full, 12)).fit(train, valid);

  torch::manual_seed(1);
  auto model = tiny_model(tok);
  int backward = 0;
  model->parameters().front().register_hook([&backward](const at::Tensor& g) {
    if (++backward == 5) std::raise(SIGTERM);
    return g;
  });
  try {
    TranslationTrainer(model, tok, tiny_options(stopped, 12)).fit(train, valid);
    FAIL() << "expected Interrupted";
  } catch (const Interrupted& e) {
    EXPECT_EQ(e.exit_code(), 143);
    EXPECT_NE(std::string(e.what()).find("step 5"), std::string::npos) << e.what();
    EXPECT_EQ(e.checkpoint(), (fs::path(stopped) / "checkpoint.pt").string());
  }
  torch::manual_seed(99);
  TranslationTrainer resumed(tiny_model(tok), tok, tiny_options(stopped, 12));
  resumed.fit(train, valid, /*resume=*/true);
  EXPECT_EQ(resumed.step(), 12);
  const auto a = step_losses(fs::path(full) / "metrics.jsonl");
  const auto b = step_losses(fs::path(stopped) / "metrics.jsonl");
  ASSERT_EQ(a.size(), 12u);
  ASSERT_EQ(b.size(), 12u);
  for (int64_t s = 1; s <= 12; ++s) EXPECT_NEAR(a.at(s), b.at(s), 1e-4) << "step " << s;
}

// Two steps' worth of sentences of two lengths: with max_tokens 16 they form two
// batches (the short pair, the long pair) of 8 and 16 target tokens; with 32, one.
data::ParallelCorpus two_length_corpus(int64_t vocab) {
  data::ParallelCorpus corpus;
  for (int64_t i = 0; i < 4; ++i) {
    const int64_t length = i < 2 ? 3 : 7;
    data::TokenPair pair;
    for (int64_t t = 0; t < length; ++t) {
      pair.src.push_back(4 + (i * 5 + t * 3) % (vocab - 4));
      pair.tgt.push_back(4 + (i * 7 + t * 2 + 1) % (vocab - 4));
    }
    corpus.pairs.push_back(pair);
    corpus.references.emplace_back("x");
  }
  return corpus;
}

TEST(TrainTranslationTrainer, GradientAccumulationEqualsOneLargeBatch) {
  MOEKIT_REQUIRE_TOKENIZER();
  data::Tokenizer tok((corpus_dir() / "spm.model").string());
  const data::ParallelCorpus corpus = two_length_corpus(tok.vocab_size());
  ASSERT_EQ(data::make_token_batches(corpus.pairs, 16, 0).size(), 2u);
  ASSERT_EQ(data::make_token_batches(corpus.pairs, 32, 0).size(), 1u);
  // Deterministic routing and no dropout: the two runs may differ only by how
  // the batches' gradients are weighted (8 vs 16 target tokens).
  auto fit = [&](int64_t max_tokens, int64_t update_freq, bool consistency) {
    torch::manual_seed(0);
    models::TransformerOptions o(tok.vocab_size());
    o.d_model(32).ffn_hidden(64).heads(2).encoder_layers(2).decoder_layers(2).dropout(0.0)
        .moe_layers("even").n_experts(2).gate("softmax")
        .pad_id(tok.pad_id()).bos_id(tok.bos_id()).eos_id(tok.eos_id());
    models::Transformer model(o);
    TranslationTrainer trainer(model, tok,
                               TranslationTrainerOptions().lr(1e-2).warmup_steps(1).max_steps(3)
                                   .max_tokens(max_tokens).update_freq(update_freq)
                                   .eval_every(100).bleu_sentences(0).best_metric("loss")
                                   .consistency(consistency).consistency_alpha(5.0));
    const TranslationFitResult r = trainer.fit(corpus, corpus);
    EXPECT_EQ(r.steps, 3);
    return std::make_pair(r.last_train_loss, torch::nn::utils::parameters_to_vector(
                                                 model->parameters()).detach());
  };
  for (const bool consistency : {false, true}) {
    const auto [large_loss, large] = fit(32, 1, consistency);
    const auto [accumulated_loss, accumulated] = fit(16, 2, consistency);
    const auto [single_loss, single] = fit(16, 1, consistency);
    EXPECT_NEAR(accumulated_loss, large_loss, 1e-5) << consistency;
    // float32 sums in another order, then Adam (which divides by |g|) for 3 steps.
    EXPECT_LT((accumulated - large).abs().max().item<double>(), 1e-4) << consistency;
    // The comparison can see a difference: without accumulation the steps differ.
    EXPECT_GT((single - large).abs().max().item<double>(), 1e-3) << consistency;
  }
}

TEST(TrainTranslationTrainer, RejectsBadOptions) {
  EXPECT_THROW(TranslationTrainerOptions().best_metric("accuracy").validate(), Error);
  EXPECT_THROW(TranslationTrainerOptions().max_tokens(0).validate(), Error);
  EXPECT_THROW(TranslationTrainerOptions().update_freq(0).validate(), Error);
  EXPECT_THROW(TranslationTrainerOptions().label_smoothing(1.0).validate(), Error);
}


TEST(TrainTranslationTrainer, TrainMtAndTranslateCliEndToEnd) {
  MOEKIT_REQUIRE_TOKENIZER();
  const fs::path root = fresh_dir("moekit_mt_cli");
  const fs::path config = write_tiny_config(
      root, "", "random",
      "  max_steps: 12\n  eval_every: 6\n  log_every: 6\n  bleu_sentences: 8\n"
      "  max_decode_len: 16\n");
  const fs::path run = root / "run";
  const std::string log = " 2>>" + (root / "log.txt").string();
  ASSERT_EQ(run_cli("train-mt " + config.string() + " --out " + run.string() + " >/dev/null" + log), 0);
  for (const char* f : {"config.yaml", "checkpoint.pt", "best.pt", "metrics.jsonl",
                        "results.json"}) {
    EXPECT_TRUE(fs::exists(run / f)) << f;
  }
  ASSERT_EQ(run_cli("train-mt " + config.string() + " --out " + run.string() +
                    " --resume --set train.max_steps=18 >" + (root / "r.json").string() + log),
            0);
  std::ifstream results(root / "r.json");
  EXPECT_EQ(nlohmann::json::parse(results)["steps"].get<int64_t>(), 18);

  const fs::path src = root / "src.es";
  std::ofstream(src) << "el perro es grande.\nla casa era roja.\nel gato vive.\n";
  for (const char* mode : {"sample", "mean", "fixed:1"}) {
    const fs::path hyp = root / (std::string("hyp.") + mode);
    ASSERT_EQ(run_cli("translate " + run.string() + " --beam 2 --to en --expert-mode " + mode +
                      " < " + src.string() + " > " + hyp.string() + log),
              0)
        << mode;
    EXPECT_EQ(read_lines(hyp.string()).size(), 3u) << mode;
  }
  // Bad input is an error exit, not a crash or silence.
  EXPECT_NE(run_cli("translate " + run.string() + " --expert-mode fixed:7 < " + src.string() +
                    " >/dev/null" + log),
            0);
  // A number too large for int64 is a usage error (exit 1), not an internal one (exit 2).
  for (const char* mode : {"fixed:99999999999999999999", "fixed:-1", "fixed:"}) {
    const int status = run_cli("translate " + run.string() + " --expert-mode " + mode + " < " +
                               src.string() + " >/dev/null" + log);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << mode << ": " << status;
  }
  EXPECT_NE(run_cli("train-mt " + config.string() + " --out " + (root / "bad").string() +
                    " --set train.nosuch=1" + log),
            0);
}

// `train-mt` under `moekit launch --nproc 2` (experts sharded, sentences split):
// the same per-step losses as one process, and a checkpoint that resumes at the
// other world size. Deterministic routing (hash) and no dropout, so the two
// layouts compute the same function.
TEST(TrainTranslationTrainer, TrainMtUnderLaunchMatchesOneProcessAcrossWorldSizes) {
  MOEKIT_REQUIRE_TOKENIZER();
  const fs::path root = fresh_dir("moekit_mt_dist");
  const fs::path config = write_tiny_config(
      root, "  dropout: 0\n  n_experts: 4\n", "hash",
      "  max_steps: 10\n  eval_every: 5\n  log_every: 1\n  bleu_sentences: 4\n"
      "  max_decode_len: 8\n");
  const std::string log = " >/dev/null 2>>" + (root / "log.txt").string();
  auto train = [&](int nproc, const std::string& run, const std::string& extra) {
    const std::string launch =
        nproc > 1 ? "launch --nproc " + std::to_string(nproc) + " -- " : std::string();
    return run_cli(launch + "--threads 1 train-mt " + config.string() + " --out " +
                   (root / run).string() + extra + log);
  };
  ASSERT_EQ(train(1, "one", ""), 0);
  ASSERT_EQ(train(2, "two", ""), 0);
  ASSERT_EQ(train(2, "moved", " --set train.max_steps=5"), 0);
  ASSERT_EQ(train(1, "moved", " --resume --set train.max_steps=10"), 0);
  const auto one = step_losses(root / "one" / "metrics.jsonl");
  ASSERT_EQ(one.size(), 10u);
  for (const char* run : {"two", "moved"}) {
    const auto other = step_losses(root / run / "metrics.jsonl");
    ASSERT_EQ(other.size(), 10u) << run;
    for (int64_t s = 1; s <= 10; ++s) EXPECT_NEAR(one.at(s), other.at(s), 1e-4) << run << " step " << s;
  }
  // The best weights of the 2-process run translate in one process.
  const fs::path src = root / "src.es";
  std::ofstream(src) << "el perro es grande.\n";
  EXPECT_EQ(run_cli("translate " + (root / "two").string() + " --beam 1 --to en < " +
                    src.string() + log),
            0);
}

}  // namespace
}  // namespace moekit::train
