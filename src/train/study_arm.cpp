#include "moekit/train/study_arm.h"

#include <fmt/format.h>

#include "moekit/core/error.h"

namespace moekit::train {

std::string StudyArm::label() const {
  return gate + (local_search ? " + LS" : "") + (consistency ? " + consistency" : "");
}

std::string StudyArm::dir_name() const {
  return gate + (local_search ? "-ls" : "") + (consistency ? "-consistency" : "");
}

std::vector<std::string> StudyArm::overrides() const {
  std::vector<std::string> out{"gate.name=" + gate, fmt::format("gate.local_search={}", local_search)};
  if (consistency) out.push_back("train.consistency=true");
  return out;
}

StudyArm parse_study_arm(const std::string& text, const std::string& where) {
  StudyArm arm;
  size_t plus = text.find('+');
  arm.gate = text.substr(0, plus);
  MOEKIT_CHECK(!arm.gate.empty(), where, "'{}' names no gate", text);
  while (plus != std::string::npos) {
    const size_t next = text.find('+', plus + 1);
    const std::string suffix =
        text.substr(plus + 1, next == std::string::npos ? std::string::npos : next - plus - 1);
    if (suffix == "ls") {
      arm.local_search = true;
    } else if (suffix == "consistency") {
      arm.consistency = true;
    } else {
      throw Error(where, fmt::format("'{}': unknown arm suffix '+{}'; expected +ls or +consistency",
                                     text, suffix));
    }
    plus = next;
  }
  return arm;
}

std::vector<StudyArm> study_arms(const std::vector<std::string>& gates,
                                 const std::vector<bool>& local_search) {
  std::vector<StudyArm> arms;
  for (const auto& entry : gates) {
    StudyArm arm = parse_study_arm(entry, "gates");
    if (entry.find('+') != std::string::npos) {
      arms.push_back(arm);
      continue;
    }
    for (const bool ls : local_search) {
      arm.local_search = ls;
      arms.push_back(arm);
    }
  }
  return arms;
}

}  // namespace moekit::train
