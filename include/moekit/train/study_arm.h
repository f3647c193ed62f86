#pragma once
#include <string>
#include <vector>

namespace moekit::train {

/// One arm of a study (tune, compare): a gate, with or without local search,
/// with or without THOR's consistency training. Written on the command line
/// as "topk", "topk+ls", "random+consistency", "comet+ls+consistency".
struct StudyArm {
  std::string gate;
  bool local_search = false;
  bool consistency = false;

  /// The row label of tables and pairs: "topk + LS", "random + consistency".
  std::string label() const;
  /// Its run folders' prefix: "topk-ls", "random-consistency".
  std::string dir_name() const;
  /// The config overrides that make a run of this arm. train.consistency is
  /// set only when on, so plain arms keep the requests they always had.
  std::vector<std::string> overrides() const;
};

/// Parses one arm; an unknown suffix is a moekit::Error naming `where`.
StudyArm parse_study_arm(const std::string& text, const std::string& where);

/// The arms of `gates` x `local_search`: an entry without a suffix runs once
/// per local-search setting, one with a suffix ("topk+ls") as written.
std::vector<StudyArm> study_arms(const std::vector<std::string>& gates,
                                 const std::vector<bool>& local_search);

}  // namespace moekit::train
