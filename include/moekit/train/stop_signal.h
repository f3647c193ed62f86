#pragma once
#include <stdexcept>
#include <string>

namespace moekit::train {

/// While alive, SIGINT and SIGTERM only set a flag that the trainers read at the
/// next step boundary (where they save a checkpoint and throw Interrupted); a
/// second signal of either kind ends the process at once with the default action.
/// The previous handlers come back on destruction. Scopes nest: only the outermost
/// one installs handlers.
class StopSignalScope {
 public:
  StopSignalScope();
  ~StopSignalScope();
  StopSignalScope(const StopSignalScope&) = delete;
  StopSignalScope& operator=(const StopSignalScope&) = delete;
};

/// The signal that asked training to stop (SIGINT or SIGTERM), or 0.
int stop_requested();

/// Clears the flag (a new run in the same process starts unstopped).
void clear_stop_request();

/// Thrown by a trainer after it saved a checkpoint on request of a signal. Not a
/// moekit::Error: nothing may treat it as a failed trial and carry on.
class Interrupted : public std::runtime_error {
 public:
  Interrupted(int signal, std::string checkpoint, std::string position);

  int signal() const { return signal_; }
  /// Where the checkpoint went ("" when the trainer writes no files).
  const std::string& checkpoint() const { return checkpoint_; }
  /// The exit status a shell gives a process killed by `signal`: 128 + signal.
  int exit_code() const { return 128 + signal_; }

 private:
  int signal_;
  std::string checkpoint_;
};

}  // namespace moekit::train
