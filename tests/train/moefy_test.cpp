#include "moekit/train/moefy.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "moekit/core/error.h"
#include "moekit/data/token_batches.h"
#include "moekit/models/transformer_layers.h"
#include "testing/temp_dir.h"
#include "testing/tiny_parallel_corpus.h"
#include "testing/token_corpus.h"

namespace moekit::train {
namespace {
using moekit::testing::cycling_token_corpus;
using moekit::testing::text_of;

constexpr int64_t kVocab = 24, kHidden = 12;

models::TransformerOptions teacher_options() {
  return models::TransformerOptions(kVocab).d_model(8).ffn_hidden(kHidden).heads(2).encoder_layers(2)
      .decoder_layers(2).dropout(0.1).moe_layers("none");
}

at::Tensor logits_of(models::Transformer& model, const data::ParallelCorpus& corpus) {
  torch::NoGradGuard no_grad;
  model->eval();
  std::vector<int64_t> all(corpus.pairs.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  const auto batch = data::collate(corpus.pairs, all, 0, 1, 2);
  // Real target positions only: a MoE layer skips padding, a dense FFN does not.
  return model->forward(batch.src, batch.tgt_in).logits.index({batch.tgt_out != 0});
}

models::Transformer trained_looking_teacher() {
  torch::manual_seed(3);
  models::Transformer teacher(teacher_options());
  teacher->to(torch::kDouble);
  return teacher;
}

TEST(TrainMoefy, EveryUnitInEveryExpertTranslatesAsTheTeacher) {
  auto teacher = trained_looking_teacher();
  const auto corpus = cycling_token_corpus(6, kVocab);
  const MoefyResult r = moefy(teacher, corpus, MoefyOptions(3, kHidden).shared(kHidden));
  EXPECT_EQ(r.split, (std::vector<std::string>{"encoder.0", "encoder.1", "decoder.0", "decoder.1"}));
  EXPECT_EQ(r.student->options.gate(), "random");
  EXPECT_EQ(r.student->options.gate_options().eval_mode(), "mean");
  auto student = r.student;
  EXPECT_TRUE(torch::allclose(logits_of(student, corpus), logits_of(teacher, corpus), 0, 1e-10));
}

TEST(TrainMoefy, LayersLeftDenseKeepTheTeachersFfnAndEveryOtherWeightIsCopied) {
  auto teacher = trained_looking_teacher();
  MoefyResult r = moefy(teacher, cycling_token_corpus(6, kVocab), MoefyOptions(2, kHidden / 2).moe_layers("1"));
  EXPECT_EQ(r.split, (std::vector<std::string>{"encoder.1", "decoder.1"}));
  ASSERT_EQ(r.plans.size(), 2u);
  EXPECT_EQ(r.plans[0].sizes(), (std::vector<int64_t>{2, kHidden / 2}));
  EXPECT_EQ(r.importance.blocks.size(), 4u);  // scores of every teacher FFN
  auto& dense = *r.student->encoder_layer(0).ffn;
  ASSERT_FALSE(dense.is_moe());
  EXPECT_TRUE(torch::equal(dense.fc1->weight, teacher->encoder_layer(0).ffn->fc1->weight));
  EXPECT_TRUE(r.student->decoder_layer(1).ffn->is_moe());
  const auto teacher_params = teacher->named_parameters();
  int64_t copied = 0;
  for (const auto& p : r.student->named_parameters()) {
    if (p.key().find(".ffn.") != std::string::npos) continue;
    ASSERT_NE(teacher_params.find(p.key()), nullptr) << p.key();
    EXPECT_TRUE(torch::equal(p.value(), teacher_params[p.key()])) << p.key();
    ++copied;
  }
  EXPECT_GT(copied, 10);
  // A partition of the units: the two experts' outputs less one output bias
  // are the dense FFN's (models/expert_split.h); here, through the layer.
  auto& moe_block = *r.student->encoder_layer(1).ffn;
  auto& teacher_block = *teacher->encoder_layer(1).ffn;
  torch::NoGradGuard no_grad;
  const at::Tensor x = torch::randn({4, 8}, torch::kDouble);
  auto& experts = dynamic_cast<moe::FFNExpertsImpl&>(moe_block.moe->experts());
  const at::Tensor sum = experts.forward_expert(0, x) + experts.forward_expert(1, x) - teacher_block.fc2->bias;
  EXPECT_TRUE(torch::allclose(sum, teacher_block.fc2(torch::relu(teacher_block.fc1(x))), 0, 1e-10));
}

TEST(TrainMoefy, ATeacherWithExpertsOrSplitSizesThatLoseUnitsAreErrors) {
  models::Transformer moe_teacher(teacher_options().moe_layers("even").n_experts(2).gate("softmax"));
  try {
    moefy(moe_teacher, cycling_token_corpus(2, kVocab), MoefyOptions(2, kHidden));
    ADD_FAILURE() << "a MoE teacher was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "model");
  }
  auto teacher = trained_looking_teacher();
  try {
    moefy(teacher, cycling_token_corpus(2, kVocab), MoefyOptions(2, kHidden / 4));  // 2 x 3 < 12 units
    ADD_FAILURE() << "units left out were accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "expert_hidden");
  }
}

TEST(TrainMoefy, CliSplitsATrainedRunThatTranslatesAsTheTeacher) {
  MOEKIT_REQUIRE_TOKENIZER();
  namespace fs = std::filesystem;
  using moekit::testing::run_cli;
  const fs::path root = moekit::testing::fresh_dir("moekit_moefy_cli");
  const fs::path config = root / "dense.yaml";
  std::ofstream(config) << "data:\n  dir: " << moekit::testing::corpus_dir().string()
                        << "\n  max_len: 32\nmodel:\n  d_model: 32\n  ffn_hidden: 64\n  heads: 2\n"
                           "  encoder_layers: 2\n  decoder_layers: 2\n  moe_layers: none\n"
                           "train:\n  lr: 0.003\n  warmup_steps: 5\n  max_tokens: 256\n"
                           "  max_steps: 6\n  eval_every: 6\n  bleu_sentences: 0\n";
  const fs::path teacher = root / "teacher", student = root / "student";
  const std::string log = " >>" + (root / "log.txt").string() + " 2>&1";
  ASSERT_EQ(run_cli("train-mt " + config.string() + " --out " + teacher.string() + log), 0);
  ASSERT_EQ(run_cli("moefy " + teacher.string() + " --experts 2 --expert-hidden 64 --shared 64 "
                    "--samples 8 --out " + student.string() + log), 0) << text_of(root / "log.txt");
  for (const char* f : {"config.yaml", "best.pt", "importance.pt", "moefy.json"}) {
    EXPECT_TRUE(fs::exists(student / f)) << f;
  }
  EXPECT_NE(text_of(student / "moefy.json").find("\"importance_sentences\": 8"), std::string::npos);
  const fs::path src = root / "src.es";
  std::ofstream(src) << "el perro es grande.\nla casa era roja.\n";
  for (const fs::path& run : {teacher, student}) {
    ASSERT_EQ(run_cli("translate " + run.string() + " --beam 1 --max-len 12 < " + src.string() +
                      " > " + (run / "out.en").string() + " 2>>" + (root / "log.txt").string()),
              0);
  }
  // Every unit in every expert, every expert averaged: the teacher's function.
  EXPECT_EQ(text_of(student / "out.en"), text_of(teacher / "out.en"));

  const auto fails_with = [&](const std::string& args, const std::string& message) {
    const fs::path err = root / "err.txt";
    EXPECT_NE(run_cli(args + " 2>" + err.string() + " >/dev/null"), 0) << args;
    EXPECT_NE(text_of(err).find(message), std::string::npos) << args << ": " << text_of(err);
  };
  fails_with("moefy " + teacher.string() + " --expert-hidden 16 --experts 2 --out " + (root / "x").string(),
             "some would be in no expert");
  fails_with("moefy " + teacher.string() + " --expert-hidden 8 --shared 9 --out " + (root / "x").string(),
             "shared");
  fails_with("moefy " + student.string() + " --expert-hidden 32 --out " + (root / "x").string(),
             "not a dense run");
  fails_with("moefy " + teacher.string() + " --expert-hidden 32 --out " + student.string(),
             "already holds a run");
  fails_with("moefy " + root.string() + " --expert-hidden 32 --out " + (root / "x").string(),
             "not a run directory");
}

}  // namespace
}  // namespace moekit::train
