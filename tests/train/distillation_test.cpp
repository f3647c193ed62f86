#include "moekit/train/distillation.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "moekit/core/checkpoint.h"
#include "moekit/core/error.h"
#include "moekit/data/token_batches.h"
#include "moekit/models/transformer_layers.h"
#include "moekit/moe/losses.h"
#include "moekit/train/moefy.h"
#include "moekit/train/translation_experiment.h"
#include "moekit/train/translation_trainer.h"
#include "testing/temp_dir.h"
#include "testing/tiny_parallel_corpus.h"
#include "testing/token_corpus.h"

namespace moekit::train {
namespace {
using moekit::testing::cycling_token_corpus;
using moekit::testing::text_of;
namespace fs = std::filesystem;

TEST(TrainDistillation, KlMatchesAHandComputedCase) {
  // Token 0: p_t = (1/4, 3/4), p_s = (1/2, 1/2); token 1 masked out; token 2: equal.
  const at::Tensor teacher = torch::tensor({{0.0, std::log(3.0)}, {5.0, -5.0}, {1.0, 2.0}},
                                           torch::kDouble);
  const at::Tensor student = torch::tensor({{0.0, 0.0}, {-5.0, 5.0}, {3.0, 4.0}}, torch::kDouble);
  const at::Tensor mask = torch::tensor({true, false, true});
  const double kl0 = 0.25 * std::log(0.25 / 0.5) + 0.75 * std::log(0.75 / 0.5);
  EXPECT_NEAR(teacher_student_kl(teacher, student, mask).item<double>(), kl0 / 2, 1e-12);
  // KL(t‖s), not KL(s‖t): the two differ here.
  const double reverse = 0.5 * std::log(0.5 / 0.25) + 0.5 * std::log(0.5 / 0.75);
  EXPECT_GT(std::abs(kl0 - reverse), 1e-3);
  EXPECT_EQ(teacher_student_kl(teacher, student, torch::zeros({3}, torch::kBool)).item<double>(), 0.0);
}

TEST(TrainDistillation, KlGradientIsStudentMinusTeacherProbabilities) {
  torch::manual_seed(0);
  const at::Tensor teacher = torch::randn({2, 3, 5}, torch::kDouble);
  const at::Tensor student = torch::randn({2, 3, 5}, torch::kDouble).requires_grad_();
  const at::Tensor mask = torch::tensor({{true, true, false}, {true, false, false}});
  teacher_student_kl(teacher, student, mask).backward();
  const at::Tensor expected = (torch::softmax(student.detach(), -1) - torch::softmax(teacher, -1)) *
                              mask.unsqueeze(-1).to(torch::kDouble) / 3.0;
  EXPECT_TRUE(torch::allclose(student.grad(), expected, 0, 1e-12));
}

TEST(TrainDistillation, MaskedMseAveragesRealPositionsAndChannels) {
  const at::Tensor a = torch::tensor({{{1.0, 2.0}, {3.0, 4.0}}}, torch::kDouble);  // [1, 2, 2]
  const at::Tensor b = torch::tensor({{{1.0, 0.0}, {0.0, 0.0}}}, torch::kDouble);
  EXPECT_DOUBLE_EQ(masked_mse(a, b, torch::tensor({{true, false}})).item<double>(), 2.0);
  EXPECT_DOUBLE_EQ(masked_mse(a, b, torch::tensor({{true, true}})).item<double>(), (4.0 + 9 + 16) / 4);
  EXPECT_THROW(masked_mse(a, b.narrow(2, 0, 1), torch::tensor({{true, true}})), Error);
  EXPECT_THROW(masked_mse(a, b, torch::tensor({true, true})), Error);
}

constexpr int64_t kVocab = 20;

models::TransformerOptions tiny_dense() {
  return models::TransformerOptions(kVocab).d_model(8).ffn_hidden(12).heads(2).encoder_layers(2)
      .decoder_layers(1).dropout(0.0).moe_layers("none");
}

data::PaddedBatch tiny_batch() {
  return data::collate(cycling_token_corpus(5, kVocab).pairs, {0, 1, 2, 3, 4}, 0, 1, 2);
}

models::TransformerOutput forward_with_states(models::Transformer& model, const data::PaddedBatch& b) {
  model->keep_hidden_states = true;
  auto out = model->forward(b.src, b.tgt_in);
  model->keep_hidden_states = false;
  return out;
}

TEST(TrainDistillation, TermsSumEveryLayersStatesAndWeighTheTwoParts) {
  torch::manual_seed(1);
  models::Transformer teacher(tiny_dense()), student(tiny_dense());
  teacher->to(torch::kDouble);
  student->to(torch::kDouble);
  const auto batch = tiny_batch();
  const auto s = forward_with_states(student, batch), t = forward_with_states(teacher, batch);
  ASSERT_EQ(s.encoder_states.size(), 3u);  // embeddings + 2 layers
  ASSERT_EQ(s.decoder_states.size(), 2u);  // embeddings + 1 layer
  EXPECT_TRUE(student->forward(batch.src, batch.tgt_in).encoder_states.empty());  // off by default
  const at::Tensor src_valid = batch.src.ne(0), tgt_valid = batch.tgt_out.ne(0);
  // The reference, written out: per-position squared errors averaged over d.
  double hidden = 0;
  auto add = [&](const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b,
                 const at::Tensor& valid) {
    for (size_t l = 0; l < a.size(); ++l) {
      hidden += (a[l] - b[l]).pow(2).mean(-1).index({valid}).mean().item<double>();
    }
  };
  add(s.encoder_states, t.encoder_states, src_valid);
  add(s.decoder_states, t.decoder_states, tgt_valid);
  const at::Tensor lt = t.logits.index({tgt_valid}), ls = s.logits.index({tgt_valid});
  const double kl =
      (torch::softmax(lt, -1) * (torch::log_softmax(lt, -1) - torch::log_softmax(ls, -1)))
          .sum(-1).mean().item<double>();
  const auto opts = DistillOptions().teacher("t").beta(0.7).gamma(0.3);
  const DistillationTerms terms = distillation_terms(s, t, src_valid, tgt_valid, opts);
  EXPECT_NEAR(terms.hidden.item<double>(), hidden, 1e-10);
  EXPECT_NEAR(terms.output.item<double>(), kl, 1e-10);
  EXPECT_NEAR(terms.total.item<double>(), 0.7 * kl + 0.3 * hidden, 1e-10);
  EXPECT_GT(hidden, 1e-3);
  const auto sym = distillation_terms(s, t, src_valid, tgt_valid, DistillOptions(opts).symmetric(true));
  EXPECT_NEAR(sym.output.item<double>(),
              moe::symmetric_kl(ls, lt, at::Tensor()).item<double>(), 1e-10);
  // A student that is its teacher: both terms vanish.
  const auto same = distillation_terms(t, t, src_valid, tgt_valid, opts);
  EXPECT_NEAR(same.total.item<double>(), 0.0, 1e-12);
}

TEST(TrainDistillation, MismatchedModelsAndBadWeightsAreErrorsNamingTheField) {
  try {
    check_teacher(tiny_dense().d_model(16), tiny_dense(), "distill.teacher");
    ADD_FAILURE() << "a wider teacher was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "distill.teacher");
    EXPECT_NE(e.message().find("d_model"), std::string::npos) << e.message();
  }
  EXPECT_THROW(check_teacher(tiny_dense().decoder_layers(2), tiny_dense(), "t"), Error);
  EXPECT_NO_THROW(check_teacher(tiny_dense().ffn_hidden(40), tiny_dense().moe_layers("all"), "t"));
  try {
    DistillOptions().beta(-1).validate();
    ADD_FAILURE() << "a negative beta was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "distill.beta");
  }
}

void save_weights(models::Transformer& model, const fs::path& path) {
  torch::serialize::OutputArchive archive;
  model->save(archive);
  save_archive_atomically(archive, path.string());
}

TEST(TrainDistillation, InitialWeightsLoadIntoAnotherGateKeepingOnlyItsOwnTensorsFresh) {
  const fs::path root = moekit::testing::fresh_dir("moekit_distill_init");
  torch::manual_seed(2);
  models::Transformer teacher(tiny_dense());
  models::Transformer split = moefy(teacher, cycling_token_corpus(5, kVocab), MoefyOptions(2, 6)).student;
  save_weights(split, root / "best.pt");
  // The saved student routes with the random gate (no tensors); this one with
  // softmax, whose projection the weights file cannot hold.
  models::Transformer student(split->options.gate("softmax"));
  const at::Tensor gate_before = student->encoder_layer(0).ffn->moe->gate().parameters()[0].clone();
  const auto fresh = load_initial_weights(student, root.string());  // a run dir means its best.pt
  ASSERT_FALSE(fresh.empty());
  for (const auto& name : fresh) EXPECT_NE(name.find(".gate."), std::string::npos) << name;
  EXPECT_TRUE(torch::equal(student->encoder_layer(0).ffn->moe->gate().parameters()[0], gate_before));
  const auto saved = split->named_parameters();
  for (const auto& p : student->named_parameters()) {
    if (p.key().find(".gate.") != std::string::npos) continue;
    EXPECT_TRUE(torch::equal(p.value(), saved[p.key()])) << p.key();
  }
  // Weights of another shape, or lacking a tensor that is not a gate's: errors naming the file.
  models::Transformer wider(split->options.d_model(16).gate("softmax"));
  try {
    load_initial_weights(wider, (root / "best.pt").string());
    ADD_FAILURE() << "weights of another shape were accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), (root / "best.pt").string());
  }
  save_weights(teacher, root / "dense.pt");
  try {
    load_initial_weights(student, (root / "dense.pt").string());
    ADD_FAILURE() << "a dense model's weights started a MoE student";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("only a gate's"), std::string::npos) << e.message();
  }
  EXPECT_THROW(load_initial_weights(student, (root / "absent.pt").string()), Error);
}

// The synthetic corpus's training pairs, a slice small enough for one batch.
struct TinyTokens {
  data::Tokenizer tok{(moekit::testing::corpus_dir() / "spm.model").string()};
  data::ParallelCorpus corpus;
  TinyTokens() {
    const auto all = data::load_parallel_corpus(tok, moekit::testing::corpus_dir().string(), "train",
                                                data::parse_directions("es-en", "test"), 32);
    for (size_t i = 0; i < 24; ++i) {
      corpus.pairs.push_back(all.pairs[i * 7]);
      corpus.references.push_back(all.references[i * 7]);
    }
  }
  models::TransformerOptions dense() const {
    return models::TransformerOptions(tok.vocab_size()).d_model(16).ffn_hidden(32).heads(2)
        .encoder_layers(2).decoder_layers(2).dropout(0.0).moe_layers("none")
        .pad_id(tok.pad_id()).bos_id(tok.bos_id()).eos_id(tok.eos_id());
  }
};

// One step on the one batch of `data.corpus`: the loss before the step and the weights after it.
std::pair<double, at::Tensor> one_step(models::Transformer model, const TinyTokens& data,
                                       models::Transformer teacher, const DistillOptions& distill) {
  TranslationTrainer trainer(model, data.tok,
                             TranslationTrainerOptions().lr(1e-2).warmup_steps(1).max_steps(1)
                                 .max_tokens(100000).eval_every(100).bleu_sentences(0)
                                 .best_metric("loss"));
  if (!teacher.is_empty()) trainer.set_teacher(teacher, distill);
  const TranslationFitResult r = trainer.fit(data.corpus, data.corpus);
  return {r.last_train_loss, torch::nn::utils::parameters_to_vector(model->parameters()).detach()};
}

TEST(TrainDistillation, TrainerAddsTheTermsToTheLossOfEachBatch) {
  MOEKIT_REQUIRE_TOKENIZER();
  const TinyTokens data;
  torch::manual_seed(4);
  models::Transformer teacher(data.dense());
  const auto distill = DistillOptions().teacher("t").beta(0.7).gamma(0.3);
  auto fresh_student = [&] {
    torch::manual_seed(5);
    return models::Transformer(data.dense());
  };
  const auto plain = one_step(fresh_student(), data, nullptr, distill);
  const auto taught = one_step(fresh_student(), data, teacher, distill);
  // The difference is the distillation terms of the batch, computed here apart.
  models::Transformer student = fresh_student();
  std::vector<int64_t> all(data.corpus.pairs.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  const auto& o = student->options;
  const auto batch = data::collate(data.corpus.pairs, all, o.pad_id(), o.bos_id(), o.eos_id());
  torch::NoGradGuard no_grad;
  teacher->eval();
  const auto terms = distillation_terms(forward_with_states(student, batch),
                                        forward_with_states(teacher, batch),
                                        batch.src.ne(o.pad_id()), batch.tgt_out.ne(o.pad_id()), distill);
  EXPECT_GT(terms.total.item<double>(), 1e-3);
  EXPECT_NEAR(taught.first - plain.first, terms.total.item<double>(), 1e-4);
  EXPECT_GT((taught.second - plain.second).abs().max().item<double>(), 1e-4);  // and the step
  for (const auto& p : teacher->parameters()) EXPECT_FALSE(p.requires_grad());  // frozen
}

TEST(TrainDistillation, AStudentSplitWithEveryUnitTrainsAsIfUntaught) {
  MOEKIT_REQUIRE_TOKENIZER();
  const TinyTokens data;
  torch::manual_seed(6);
  models::Transformer teacher(data.dense());
  // Every expert holds every unit: the student computes the teacher's function,
  // so the terms and their gradients vanish whichever expert the gate picks.
  auto split = [&] {
    torch::manual_seed(7);
    return moefy(teacher, data.corpus, MoefyOptions(2, 32).shared(32).samples(4)).student;
  };
  const auto distill = DistillOptions().teacher("t").beta(1.0).gamma(1.0);
  const auto plain = one_step(split(), data, nullptr, distill);
  const auto taught = one_step(split(), data, teacher, distill);
  EXPECT_NEAR(taught.first, plain.first, 1e-5);
  EXPECT_LT((taught.second - plain.second).abs().max().item<double>(), 1e-5);
}

TEST(TrainDistillation, CliDistilsASplitRunWithAnyGate) {
  MOEKIT_REQUIRE_TOKENIZER();
  using moekit::testing::run_cli;
  const fs::path root = moekit::testing::fresh_dir("moekit_distill_cli");
  const fs::path config = root / "dense.yaml";
  std::ofstream(config) << "data:\n  dir: " << moekit::testing::corpus_dir().string()
                        << "\n  max_len: 32\nmodel:\n  d_model: 32\n  ffn_hidden: 64\n  heads: 2\n"
                           "  encoder_layers: 2\n  decoder_layers: 2\n  moe_layers: none\n"
                           "train:\n  lr: 0.003\n  warmup_steps: 5\n  max_tokens: 256\n"
                           "  max_steps: 4\n  eval_every: 4\n  bleu_sentences: 0\n";
  const fs::path teacher = root / "teacher", split = root / "split", student = root / "student";
  const std::string log = " >>" + (root / "log.txt").string() + " 2>&1";
  ASSERT_EQ(run_cli("train-mt " + config.string() + " --out " + teacher.string() + log), 0);
  ASSERT_EQ(run_cli("moefy " + teacher.string() + " --experts 4 --expert-hidden 16 --samples 8 --out " +
                    split.string() + log), 0) << text_of(root / "log.txt");
  ASSERT_EQ(run_cli("train-mt " + (split / "config.yaml").string() + " --init " + split.string() +
                    " --teacher " + teacher.string() + " --set gate.name=hash --set distill.beta=2" +
                    " --set train.max_steps=3 --set train.eval_every=3 --out " + student.string() + log),
            0) << text_of(root / "log.txt");
  const auto results = nlohmann::json::parse(text_of(student / "results.json"));
  EXPECT_EQ(results["gate"], "hash");
  EXPECT_EQ(results["init"], split.string());
  EXPECT_EQ(results["distill"]["teacher"], teacher.string());
  EXPECT_EQ(results["distill"]["beta"], 2.0);
  const std::string saved = text_of(student / "config.yaml");
  EXPECT_NE(saved.find("teacher: " + teacher.string()), std::string::npos) << saved;
  // A resumed run continues under its saved config, teacher included.
  ASSERT_EQ(run_cli("train-mt " + (split / "config.yaml").string() + " --resume --set train.max_steps=4"
                    " --out " + student.string() + log), 0) << text_of(root / "log.txt");
  EXPECT_EQ(nlohmann::json::parse(text_of(student / "results.json"))["steps"], 4);
  const auto fails_with = [&](const std::string& args, const std::string& message) {
    const fs::path err = root / "err.txt";
    EXPECT_NE(run_cli(args + " 2>" + err.string() + " >/dev/null"), 0) << args;
    EXPECT_NE(text_of(err).find(message), std::string::npos) << args << ": " << text_of(err);
  };
  const std::string base = "train-mt " + (split / "config.yaml").string() + " --out " +
                           (root / "x").string() + " --set train.max_steps=1";
  fails_with(base + " --teacher " + root.string(), "distill.teacher");
  fails_with(base + " --teacher " + teacher.string() + " --set model.d_model=16 --set model.heads=2",
             "d_model");
  fails_with(base + " --init " + teacher.string(), "only a gate's");
  fails_with(base + " --set distill.gamma=-1", "distill.gamma");
}

}  // namespace
}  // namespace moekit::train
