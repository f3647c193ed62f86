#include "moekit/train/arm_setting.h"

#include <gtest/gtest.h>

#include "moekit/core/config.h"
#include "moekit/core/error.h"

namespace moekit::train {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

TEST(TrainArmSetting, ParsesArmKeyAndValue) {
  const ArmSetting s = parse_arm_setting("comet+ls:gate.gamma=10", "--arm-set");
  EXPECT_EQ(s.arm.gate, "comet");
  EXPECT_TRUE(s.arm.local_search);
  EXPECT_FALSE(s.arm.consistency);
  EXPECT_EQ(s.key, "gate.gamma");
  EXPECT_EQ(s.value, "10");
  EXPECT_EQ(s.assignment(), "gate.gamma=10");
  // Everything after the first '=' is the value, as with --set.
  EXPECT_EQ(parse_arm_setting("topk:data.dir=/a=b", "x").value, "/a=b");
  EXPECT_EQ(parse_arm_settings({"topk:gate.k=1", "hash+ls:train.lr=0.1"}, "x").size(), 2u);
}

TEST(TrainArmSetting, RejectsMalformedTextNamingIt) {
  for (const char* bad : {"gate.gamma=10", "comet+ls:gamma=10", ":gate.gamma=1", "comet:=1",
                          "comet:gate.gamma", "comet+fast:gate.gamma=1"}) {
    try {
      parse_arm_setting(bad, "--arm-set");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--arm-set"), std::string::npos) << e.what();
    }
  }
  try {
    check_arm_settings({parse_arm_setting("cmoet+ls:gate.gamma=10", "x")});
    ADD_FAILURE() << "accepted an unknown gate";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown gate 'cmoet'"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(check_arm_settings({parse_arm_setting("comet+ls:gate.gamma=10", "x")}));
}

TEST(TrainArmSetting, AppliesOnlyToTheArmItNames) {
  const auto settings = parse_arm_settings(
      {"comet+ls:gate.gamma=10", "comet:train.lr=0.1", "comet+ls:train.lr=0.2"}, "x");
  const auto ls = settings_for(settings, parse_study_arm("comet+ls", "x"));
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_EQ(ls[0].key, "gate.gamma");
  EXPECT_EQ(ls[1].value, "0.2");
  EXPECT_EQ(settings_for(settings, parse_study_arm("comet", "x")).size(), 1u);
  EXPECT_TRUE(settings_for(settings, parse_study_arm("comet+ls+consistency", "x")).empty());
  EXPECT_TRUE(settings_for(settings, parse_study_arm("topk+ls", "x")).empty());
}

TEST(TrainArmSetting, FixedValuesReplaceTunedOnesInPlaceOrAreAppended) {
  const auto fixed = parse_arm_settings({"c:gate.gamma=10", "c:gate.search_epochs=0.5"}, "x");
  const Params tuned{{"train.lr", "0.001"}, {"gate.gamma", "0.1"}};
  EXPECT_EQ(with_settings(tuned, fixed),
            (Params{{"train.lr", "0.001"}, {"gate.gamma", "10"}, {"gate.search_epochs", "0.5"}}));
  EXPECT_EQ(with_settings(tuned, {}), tuned);
  EXPECT_EQ(with_settings({}, fixed), (Params{{"gate.gamma", "10"}, {"gate.search_epochs", "0.5"}}));
}

TEST(TrainArmSetting, ARunRanWithASettingWhenApplyingItChangesNothing) {
  const auto request = [](const std::string& gamma) {
    return Config::parse("gate: {name: comet, gamma: " + gamma + "}\ntrain: {lr: 0.001}\n", "r").dump();
  };
  const auto fixed = parse_arm_settings({"comet+ls:gate.gamma=10"}, "x");
  EXPECT_TRUE(ran_with(request("10"), fixed));
  EXPECT_FALSE(ran_with(request("0.1"), fixed));
  EXPECT_TRUE(ran_with(request("0.1"), {}));
  // A key the run's config lacks is one it did not run with.
  EXPECT_FALSE(ran_with(Config::parse("gate: {name: comet}\n", "r").dump(), fixed));
}

}  // namespace
}  // namespace moekit::train
