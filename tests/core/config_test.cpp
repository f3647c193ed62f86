#include "moekit/core/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <vector>

#include "moekit/core/error.h"
#include "moekit/core/parse.h"

namespace moekit {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CoreConfig, ReadsTypedValuesAndRecordsDefaults) {
  Config c = Config::parse("train:\n  lr: 0.001\n  epochs: 3\ngate:\n  name: topk\n", "a.yaml");
  EXPECT_DOUBLE_EQ(c.section("train").get<double>("lr", 1.0), 0.001);
  EXPECT_EQ(c.section("train").get<int64_t>("epochs", 1), 3);
  EXPECT_EQ(c.section("train").get<int64_t>("patience", 5), 5);  // default, recorded
  EXPECT_EQ(c.section("gate").require<std::string>("name"), "topk");
  EXPECT_EQ(c.section("model").get<bool>("pre_norm", true), true);  // absent section
  const std::string dumped = c.dump();
  EXPECT_NE(dumped.find("patience: 5"), std::string::npos) << dumped;
  EXPECT_NE(dumped.find("pre_norm: true"), std::string::npos) << dumped;
  EXPECT_NO_THROW(c.check_all_used());
}

TEST(CoreConfig, AnEmptyStringDefaultSurvivesDumpAndReload) {
  Config c = Config::parse("model:\n  d_model: 8\n", "a.yaml");
  EXPECT_EQ(c.section("model").get<std::string>("moe_layers", ""), "");
  // The dump is what a run saves as its config.yaml and reads on --resume.
  Config reloaded = Config::parse(c.dump(), "config.yaml");
  EXPECT_EQ(reloaded.section("model").get<std::string>("moe_layers", "x"), "");
}

TEST(CoreConfig, UnknownKeysAreErrorsNamingThePath) {
  Config c = Config::parse("train:\n  lr: 0.001\n  lrr: 3\n", "cfg.yaml");
  c.section("train").get<double>("lr", 1.0);
  EXPECT_EQ(error_of([&] { c.check_all_used(); }), "cfg.yaml: train.lrr: unknown key");
}

TEST(CoreConfig, WrongTypesAndMissingKeysNameTheKey) {
  Config c = Config::parse("train:\n  epochs: three\n  lr: [1, 2]\n", "cfg.yaml");
  EXPECT_NE(error_of([&] { c.section("train").get<int64_t>("epochs", 1); })
                .find("cfg.yaml: train.epochs: expected an integer, got 'three'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { c.section("train").get<double>("lr", 1.0); }).find("train.lr"),
            std::string::npos);
  EXPECT_NE(error_of([&] { c.section("gate").require<std::string>("name"); })
                .find("gate.name: required key is missing"),
            std::string::npos);
}

TEST(CoreConfig, ListsOfNumbersReadInFlowOrCommaForm) {
  Config c = Config::parse("train:\n  a: [0.1, 0.9]\n  b: 1,2.5\n  c: [[1]]\n", "cfg.yaml");
  auto train = c.section("train");
  EXPECT_EQ(train.get<std::vector<double>>("a", {}), (std::vector<double>{0.1, 0.9}));
  EXPECT_EQ(train.get<std::vector<double>>("b", {}), (std::vector<double>{1.0, 2.5}));
  EXPECT_EQ(train.get<std::vector<double>>("absent", {}), std::vector<double>{});
  // The recorded default reads back (a resumed study re-parses the dump).
  Config again = Config::parse(c.dump(), "dump.yaml");
  EXPECT_EQ(again.section("train").get<std::vector<double>>("absent", {0.5}), std::vector<double>{});
  EXPECT_EQ(format_value<std::vector<double>>({0.1, 2}), "[0.1, 2]");
  EXPECT_NE(error_of([&] { train.get<std::vector<double>>("c", {}); }).find("cfg.yaml: train.c"),
            std::string::npos);
  c.set("train.a=[2, x]");
  EXPECT_NE(error_of([&] { train.get<std::vector<double>>("a", {}); })
                .find("train.a: expected a number, got 'x'"),
            std::string::npos);
}

TEST(CoreConfig, SetOverridesAndCreatesKeys) {
  Config c = Config::parse("train:\n  lr: 0.001\n", "cfg.yaml");
  c.set("train.lr=0.5");
  c.set("gate.k=3");
  EXPECT_DOUBLE_EQ(c.section("train").get<double>("lr", 1.0), 0.5);
  EXPECT_EQ(c.section("gate").get<int64_t>("k", 2), 3);
  EXPECT_THROW(c.set("novalue"), Error);
  EXPECT_THROW(c.set("train=1"), Error);  // a section is not a value
}

TEST(CoreConfig, BadYamlAndMissingFileNameTheFile) {
  EXPECT_NE(error_of([] { Config::parse("a: [1, 2\n", "bad.yaml"); }).find("bad.yaml: invalid YAML"),
            std::string::npos);
  EXPECT_NE(error_of([] { Config::load("/nonexistent/x.yaml"); }).find("/nonexistent/x.yaml"),
            std::string::npos);
  EXPECT_THROW(Config::parse("- 1\n- 2\n", "list.yaml"), Error);
}

}  // namespace
}  // namespace moekit
