#include "moekit/train/stop_signal.h"

#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <cstring>

namespace moekit::train {
namespace {

// NOTE: lock-free atomics are the only shared state a signal handler may touch.
std::atomic<int> g_stop_signal{0};
std::atomic<int> g_scopes{0};
struct sigaction g_old_int, g_old_term;

extern "C" void on_stop_signal(int sig) {
  int expected = 0;
  if (!g_stop_signal.compare_exchange_strong(expected, sig)) {
    // Second signal: the user does not want to wait for the checkpoint.
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    default: return "a signal";
  }
}

}  // namespace

StopSignalScope::StopSignalScope() {
  if (g_scopes.fetch_add(1) != 0) return;
  g_stop_signal = 0;
  struct sigaction action;
  std::memset(&action, 0, sizeof(action));
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  // SA_RESTART: a signal during a blocking read must not fail the read with EINTR.
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, &g_old_int);
  sigaction(SIGTERM, &action, &g_old_term);
}

StopSignalScope::~StopSignalScope() {
  if (g_scopes.fetch_sub(1) != 1) return;
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

int stop_requested() { return g_stop_signal.load(); }

void clear_stop_request() { g_stop_signal = 0; }

Interrupted::Interrupted(int signal, std::string checkpoint, std::string position)
    : std::runtime_error(
          checkpoint.empty()
              ? fmt::format("interrupted by {} at {}; nothing saved (no run directory)",
                            signal_name(signal), position)
              : fmt::format("interrupted by {} at {}; checkpoint saved to {}, continue with "
                            "--resume",
                            signal_name(signal), position, checkpoint)),
      signal_(signal),
      checkpoint_(std::move(checkpoint)) {}

}  // namespace moekit::train
