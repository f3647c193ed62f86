#pragma once
// Runs the real `moekit` executable as a child process, for the tests that kill
// it, starve it of disk or interrupt it: none of that can happen in-process.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace moekit::testing {

inline std::string moekit_binary() { return std::string(MOEKIT_BINARY_DIR) + "/moekit"; }

struct ChildOptions {
  std::string stderr_path;  // "" = inherit
  long file_size_limit = -1;  // RLIMIT_FSIZE in bytes; -1 = unlimited
};

/// Starts `moekit args...`; returns its pid.
inline pid_t start_moekit(const std::vector<std::string>& args, const ChildOptions& o = {}) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  // Child: only async-signal-safe calls until exec.
  if (!o.stderr_path.empty()) {
    const int fd = ::open(o.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) ::dup2(fd, 2);
  }
  const int null_fd = ::open("/dev/null", O_WRONLY);
  if (null_fd >= 0) ::dup2(null_fd, 1);
  if (o.file_size_limit >= 0) {
    // A write past the limit fails with EFBIG, as on a full disk, once SIGXFSZ is ignored.
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim {
      static_cast<rlim_t>(o.file_size_limit), static_cast<rlim_t>(o.file_size_limit)
    };
    ::setrlimit(RLIMIT_FSIZE, &lim);
  }
  std::vector<char*> argv;
  const std::string bin = moekit_binary();
  argv.push_back(const_cast<char*>(bin.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execv(bin.c_str(), argv.data());
  ::_exit(127);
}

/// Waits for `pid`; returns the shell-style status (exit code, or 128 + signal).
inline int wait_status(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

inline int run_moekit(const std::vector<std::string>& args, const ChildOptions& o = {}) {
  return wait_status(start_moekit(args, o));
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// metrics.jsonl and results.json of a `moekit train` run without the wall-clock fields,
/// so two runs of the same seed compare equal bit for bit.
inline std::string run_fingerprint(const std::filesystem::path& run) {
  std::string out;
  std::ifstream metrics(run / "metrics.jsonl");
  std::string line;
  while (std::getline(metrics, line)) {
    auto j = nlohmann::ordered_json::parse(line);
    j.erase("seconds");
    out += j.dump() + "\n";
  }
  auto results = nlohmann::ordered_json::parse(read_file(run / "results.json"));
  results.erase("train_seconds");
  return out + results.dump() + "\n";
}

/// A seconds-long `moekit train` config: synthetic mixture, MLP experts, `epochs` epochs,
/// no early stop. `gate` picks the router (noisy top-k draws from the global RNG).
inline std::string tiny_config(int epochs, const std::string& gate = "topk") {
  return "data:\n  name: mixture\n  rows: 768\n  d_in: 8\n  clusters: 3\n  teacher_experts: 4\n"
         "model:\n  expert: mlp\n  n_experts: 4\n  expert_width: 16\n  tower_hidden: 8\n"
         "gate:\n  name: " + gate + "\n  k: 2\n"
         "train:\n  lr: 0.01\n  batch_size: 16\n  epochs: " + std::to_string(epochs) +
         "\n  patience: 100\n  seed: 3\n";
}

inline std::filesystem::path write_config(const std::filesystem::path& dir, const std::string& text) {
  std::filesystem::create_directories(dir);
  const auto path = dir / "config.yaml";
  std::ofstream(path) << text;
  return path;
}

}  // namespace moekit::testing
