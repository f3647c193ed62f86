#pragma once
#include <string>
#include <utility>
#include <vector>

#include "moekit/train/study_arm.h"

namespace moekit::train {

/// A config value fixed for one arm of a study, written
/// "comet+ls:gate.gamma=10" (`tune` and `compare --arm-set`): that arm runs
/// with it in every trial and seed instead of a drawn or default value, as the
/// COMET reference's COMET+ fixes γ that plain COMET tunes. It is a command
/// option rather than a config section so the other arms' requests, and so
/// their records, stay as they were.
struct ArmSetting {
  StudyArm arm;
  std::string key;    // section.key
  std::string value;  // config text

  /// "section.key=value", the `Config::set` syntax.
  std::string assignment() const { return key + "=" + value; }
};

/// Parses "ARM:section.key=value"; a malformed one is a moekit::Error naming
/// `where` and the text.
ArmSetting parse_arm_setting(const std::string& text, const std::string& where);

/// Parses each of `texts` (the repeated `--arm-set` option).
std::vector<ArmSetting> parse_arm_settings(const std::vector<std::string>& texts,
                                           const std::string& where);

/// Throws moekit::Error naming the setting when one names a gate that is not
/// registered (a typo would otherwise leave every arm unchanged).
void check_arm_settings(const std::vector<ArmSetting>& settings);

/// The settings of `settings` that `arm` runs with, in the order given.
std::vector<ArmSetting> settings_for(const std::vector<ArmSetting>& settings, const StudyArm& arm);

/// `params` (tuned `key`, `value` pairs) with `fixed` in force: a key both
/// hold takes the fixed value, a fixed key `params` lacks is appended.
std::vector<std::pair<std::string, std::string>> with_settings(
    std::vector<std::pair<std::string, std::string>> params, const std::vector<ArmSetting>& fixed);

/// Whether a run whose config text is `request` already ran with every one
/// of `fixed`: applying them leaves its config unchanged.
bool ran_with(const std::string& request, const std::vector<ArmSetting>& fixed);

}  // namespace moekit::train
