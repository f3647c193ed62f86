// Every numeric option of `moekit train` configs is range-checked, and unknown keys
// and wrong types are errors naming `file: section.key`.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "moekit/core/config.h"
#include "moekit/core/error.h"
#include "moekit/train/experiment.h"
#include "testing/errors.h"

namespace moekit::testing {
namespace {

const char* const kBase =
    "data: {name: mixture, rows: 64, d_in: 4, clusters: 2, teacher_experts: 2}\n"
    "model: {expert: mlp, n_experts: 2, expert_width: 4, tower_hidden: 4}\n"
    "gate: {name: softmax}\n"
    "train: {epochs: 1}\n";

void expect_rejected(const std::string& assignment, const std::string& key_path) {
  SCOPED_TRACE(assignment);
  Config config = Config::parse(kBase, "run.yaml");
  config.set(assignment);
  expect_error([&] { train::load_experiment(config); }, {"run.yaml: " + key_path});
}

TEST(ReliabilityOptionsRange, OutOfRangeNumbersNameTheirKeyPath) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"train.lr=0", "train.lr"},
      {"train.lr=-1", "train.lr"},
      {"train.batch_size=0", "train.batch_size"},
      {"train.epochs=0", "train.epochs"},
      {"train.patience=0", "train.patience"},
      {"train.weight_decay=-0.1", "train.weight_decay"},
      {"data.rows=0", "data.rows"},
      {"data.d_in=0", "data.d_in"},
      {"data.clusters=-2", "data.clusters"},
      {"data.teacher_experts=0", "data.teacher_experts"},
      {"data.max_train=-1", "data.max_train"},
      {"data.max_valid=-1", "data.max_valid"},
      {"data.max_test=-5", "data.max_test"},
      {"model.n_experts=0", "model.n_experts"},
      {"model.expert_width=0", "model.expert_width"},
      {"model.embedding_dim=0", "model.embedding_dim"},
      {"gate.k=0", "gate.k"},
      {"gate.balance_weight=-1", "gate.balance_weight"},
      {"gate.n_ids=0", "gate.n_ids"},
      {"gate.gamma=0", "gate.gamma"},
      {"gate.entropy_weight=-1e-3", "gate.entropy_weight"},
      {"gate.invalid_weight=-1", "gate.invalid_weight"},
      {"gate.fixed_expert=-1", "gate.fixed_expert"},
      {"gate.search_steps=-1", "gate.search_steps"},
      {"gate.tau_start=0", "gate.tau_start"},
      {"gate.tau_end=-1e-7", "gate.tau_end"},
      {"gate.sinkhorn_iters_start=0", "gate.sinkhorn_iters_start"},
      {"gate.sinkhorn_iters_end=0", "gate.sinkhorn_iters_end"},
      {"gate.permutation_entropy_weight=-1", "gate.permutation_entropy_weight"},
      {"gate.granularity=word", "gate.granularity"},
      {"gate.eval_mode=best", "gate.eval_mode"},
      {"gate.search_epochs=-1", "gate.search_epochs"},
      {"gate.permutation_init=0", "gate.permutation_init"},
      {"gate.permutation_noise=-0.1", "gate.permutation_noise"},
      {"gate.permutation_per_task=2", "gate.permutation_per_task"},
      // A section named after a gate holds options for that gate only, checked
      // whichever gate runs.
      {"gate.topk.balance_weight=-1", "gate.topk.balance_weight"},
      {"gate.comet.gamma=0", "gate.comet.gamma"},
      {"gate.topk.nosiy=false", "gate.topk.nosiy"},
      {"gate.topk.n_experts=3", "gate.topk.n_experts"},
  };
  for (const auto& [assignment, key] : cases) expect_rejected(assignment, key);
}

TEST(ReliabilityOptionsRange, NonFiniteAndWrongTypesNameTheirKeyPath) {
  expect_rejected("train.lr=nan", "train.lr");
  expect_rejected("train.lr=.inf", "train.lr");
  expect_rejected("gate.gamma=inf", "gate.gamma");
  expect_rejected("train.batch_size=3.5", "train.batch_size");
  expect_rejected("train.epochs=ten", "train.epochs");
  expect_rejected("gate.noisy=maybe", "gate.noisy");
  expect_rejected("train.epochs=99999999999999999999", "train.epochs");
  expect_rejected("data.rows=[1, 2]", "data.rows");
}

TEST(ReliabilityOptionsRange, UnknownKeysNameTheirKeyPath) {
  expect_rejected("train.learning_rate=0.1", "train.learning_rate");
  expect_rejected("gate.kk=2", "gate.kk");
  expect_rejected("model.experts=2", "model.experts");
  expect_rejected("trian.lr=0.1", "trian");
}

TEST(ReliabilityOptionsRange, PerGateSectionsApplyToTheirGateOnly) {
  Config config = Config::parse(kBase, "run.yaml");
  config.set("gate.balance_weight=0.5");
  config.set("gate.topk.balance_weight=0");
  config.set("gate.topk.noisy=false");
  config.set("gate.name=topk");
  const auto topk = train::load_experiment(config).model_options.gate_options();
  EXPECT_EQ(topk.balance_weight(), 0.0);
  EXPECT_FALSE(topk.noisy());
  config.set("gate.name=switch");
  const auto other = train::load_experiment(config).model_options.gate_options();
  EXPECT_EQ(other.balance_weight(), 0.5);
  EXPECT_TRUE(other.noisy());
}

TEST(ReliabilityOptionsRange, InRangeBoundariesAreAccepted) {
  // The edges themselves are legal: a check that is off by one fails here.
  Config config = Config::parse(kBase, "run.yaml");
  for (const char* s : {"train.weight_decay=0", "data.max_train=0", "gate.k=1",
                        "gate.entropy_weight=0", "gate.search_steps=0", "gate.fixed_expert=0",
                        "gate.sinkhorn_iters_start=1", "gate.sinkhorn_iters_end=1",
                        "gate.capacity_factor=-1", "train.patience=1", "gate.search_epochs=0",
                        "gate.permutation_noise=0", "gate.permutation_init=1e-9"}) {
    config.set(s);
  }
  EXPECT_NO_THROW(train::load_experiment(config));
}

}  // namespace
}  // namespace moekit::testing
