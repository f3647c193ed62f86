// Replays mutated run configs and `--set` overrides through the loader
// `moekit train` uses: each must load or throw moekit::Error naming the file.
#include <gtest/gtest.h>

#include "moekit/core/config.h"
#include "moekit/train/experiment.h"
#include "testing/errors.h"
#include "testing/mutate.h"

namespace moekit {
namespace {

const std::string kConfig =
    "data:\n  name: mixture\n  rows: 32\n  d_in: 4\n  clusters: 3\n  teacher_experts: 4\n"
    "  seed: 0\nmodel:\n  expert: mlp\n  n_experts: 4\n  expert_width: 8\n  tower_hidden: 8\n"
    "gate:\n  name: softmax\n  k: 2\ntrain:\n  lr: 0.01\n  batch_size: 64\n  epochs: 2\n"
    "  patience: 2\n  seed: 0\nsearch:\n  train.lr: {low: 0.001, high: 0.05, log: true}\n";

void load(const std::string& path) { train::load_experiment(Config::load(path)); }

TEST(ReliabilityConfigMutations, YamlMutantsLoadOrNameTheFile) {
  const std::string path = ::testing::TempDir() + "moekit_mutant.yaml";
  const moekit::testing::Bytes valid(kConfig.begin(), kConfig.end());
  moekit::testing::write_bytes(path, valid);
  ASSERT_NO_THROW(load(path));
  moekit::testing::MutateOptions o;
  o.seed = 71;
  o.numbers = 60;
  o.truncations = 30;  // each load builds a small data set: keep the replay ~2 s
  o.bit_flips = 50;
  o.inserts = o.deletes = 20;
  const auto mutants = moekit::testing::make_mutants(valid, o);
  ASSERT_GE(mutants.size(), 200u);
  const auto counts = moekit::testing::replay_mutants(mutants, path, [&] { load(path); });
  EXPECT_GT(counts.rejected, int(mutants.size()) / 3);
}

TEST(ReliabilityConfigMutations, SetOverridesLoadOrNameTheKey) {
  const std::string path = ::testing::TempDir() + "moekit_set.yaml";
  moekit::testing::write_bytes(path, {kConfig.begin(), kConfig.end()});
  const std::vector<std::string> overrides = {
      "data.rows=0", "data.rows=-5", "data.rows=99999999999999999999", "data.rows=9223372036854775807",
      "data.d_in=4611686018427387904", "data.clusters=0", "data.max_train=-1", "model.n_experts=[1, 2]",
      "model=3", "model.expert={a: 1}", "gate.k=1e308", "gate.gamma=nan", "train.lr=inf", "train.lr=",
      "=1", "train..lr=1", ".=.", "train.lr.x=1", "data.name=\xff\xfe", "gate.name=\xc3", "train.batch_size=0x10",
      "train.epochs=1.5", "search=1", "data=", "a.b.c.d.e.f=1", "train.seed=-9223372036854775808",
      "gate.k=[", "gate.k={", "gate.k=&a [*a]", "gate.k=!!binary AAAA", "train.lr=0.01 # x",
      "data.rows=[[[[[[[[[[1]]]]]]]]]]"};
  for (const auto& o : overrides) {
    try {
      Config config = Config::load(path);
      config.set(o);
      train::load_experiment(config);
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_TRUE(what.find(path) != std::string::npos || what.find("--set") != std::string::npos)
          << o << ": " << what;
    } catch (const std::exception& e) {
      ADD_FAILURE() << o << ": escaped as another exception type: " << e.what();
    }
  }
}

TEST(ReliabilityConfigMutations, ComplexKeyIsAnErrorNamingTheFile) {
  const std::string path = ::testing::TempDir() + "moekit_complex_key.yaml";
  const std::string text = kConfig + "? [a, b]\n: 1\n";
  moekit::testing::write_bytes(path, {text.begin(), text.end()});
  moekit::testing::expect_error([&] { load(path); }, {path});
}

TEST(ReliabilityConfigMutations, OversizedDataIsRejectedBeforeAllocating) {
  const std::string path = ::testing::TempDir() + "moekit_huge_rows.yaml";
  moekit::testing::write_bytes(path, {kConfig.begin(), kConfig.end()});
  Config config = Config::load(path);
  config.set("data.rows=4611686018427387904");
  moekit::testing::AllocationCap cap;
  moekit::testing::expect_error([&] { train::load_experiment(config); }, {path, "data.rows"});
}

}  // namespace
}  // namespace moekit
