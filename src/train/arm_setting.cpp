#include "moekit/train/arm_setting.h"

#include <algorithm>

#include "moekit/core/config.h"
#include "moekit/core/error.h"
#include "moekit/gates/gate.h"

namespace moekit::train {

ArmSetting parse_arm_setting(const std::string& text, const std::string& where) {
  const auto colon = text.find(':');
  const auto eq = text.find('=', colon == std::string::npos ? 0 : colon);
  MOEKIT_CHECK(colon != std::string::npos && colon > 0 && eq != std::string::npos && eq > colon + 1,
               where, "expected ARM:section.key=value such as 'comet+ls:gate.gamma=10', got '{}'", text);
  ArmSetting setting;
  setting.arm = parse_study_arm(text.substr(0, colon), where);
  setting.key = text.substr(colon + 1, eq - colon - 1);
  setting.value = text.substr(eq + 1);
  MOEKIT_CHECK(setting.key.find('.') != std::string::npos, where,
               "'{}': expected a section.key path such as gate.gamma, got '{}'", text, setting.key);
  return setting;
}

std::vector<ArmSetting> parse_arm_settings(const std::vector<std::string>& texts,
                                           const std::string& where) {
  std::vector<ArmSetting> out;
  for (const auto& text : texts) out.push_back(parse_arm_setting(text, where));
  return out;
}

void check_arm_settings(const std::vector<ArmSetting>& settings) {
  const auto& gates = gates::registered_gates();
  for (const auto& s : settings) {
    const bool known = std::any_of(gates.begin(), gates.end(),
                                   [&](const auto& info) { return info.name == s.arm.gate; });
    MOEKIT_CHECK(known, "--arm-set", "{} for arm '{}': unknown gate '{}'", s.assignment(),
                 s.arm.label(), s.arm.gate);
  }
}

std::vector<ArmSetting> settings_for(const std::vector<ArmSetting>& settings, const StudyArm& arm) {
  std::vector<ArmSetting> out;
  for (const auto& s : settings) {
    if (s.arm.label() == arm.label()) out.push_back(s);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> with_settings(
    std::vector<std::pair<std::string, std::string>> params, const std::vector<ArmSetting>& fixed) {
  for (const auto& s : fixed) {
    const auto same = std::find_if(params.begin(), params.end(),
                                   [&](const auto& p) { return p.first == s.key; });
    if (same != params.end()) {
      same->second = s.value;
    } else {
      params.push_back({s.key, s.value});
    }
  }
  return params;
}

bool ran_with(const std::string& request, const std::vector<ArmSetting>& fixed) {
  if (fixed.empty()) return true;  // most arms: no need to parse the request
  Config config = Config::parse(request, "request");
  const std::string before = config.dump();
  for (const auto& s : fixed) config.set(s.assignment());
  return config.dump() == before;
}

}  // namespace moekit::train
