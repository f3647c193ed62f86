// Test helper for the Dist* suites: runs a worker test of this binary in N
// processes that form one process group on loopback. A worker test reads its
// rank from the torchrun variables and skips itself when MOEKIT_DIST_TEST is
// not set, so plain test runs skip workers and run only their drivers.
#pragma once
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "moekit/dist/process_group.h"

namespace moekit::testing {

/// A TCP port that is free now.
inline int free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// True inside a worker process started by run_workers.
inline bool is_dist_worker() { return std::getenv("MOEKIT_DIST_TEST") != nullptr; }

/// The worker's group options (loopback, timeout from MOEKIT_DIST_TIMEOUT).
inline dist::GroupOptions worker_options() { return dist::GroupOptions::from_env(); }

/// How one worker ended, and what it printed.
struct WorkerExit {
  int status = 0;
  std::string log;
  double seconds = 0;
  bool exited_ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

/// Runs `--gtest_filter=<test>` of this binary as ranks 0..world-1 with the
/// torchrun variables plus `env`, and waits for all of them (SIGKILLs what is
/// left after `limit_s`).
inline std::vector<WorkerExit> run_workers(const std::string& test, int world,
                                           const std::map<std::string, std::string>& env = {},
                                           double limit_s = 30) {
  const int port = free_tcp_port();
  const auto start = std::chrono::steady_clock::now();
  std::vector<pid_t> pids;
  std::vector<std::string> logs;
  for (int rank = 0; rank < world; ++rank) {
    logs.push_back(::testing::TempDir() + "worker_" + std::to_string(::getpid()) + "_" +
                   std::to_string(port) + "_" + std::to_string(rank) + ".log");
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::setenv("MOEKIT_DIST_TEST", "1", 1);
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      const std::string filter = "--gtest_filter=" + test;
      FILE* out = std::freopen(logs.back().c_str(), "w", stdout);
      if (out != nullptr) ::dup2(::fileno(stdout), ::fileno(stderr));
      ::execl("/proc/self/exe", "moekit_tests", filter.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  std::vector<WorkerExit> exits(world);
  std::vector<bool> done(world, false);
  int running = world;
  while (running > 0) {
    for (int r = 0; r < world; ++r) {
      if (done[r]) continue;
      if (::waitpid(pids[r], &exits[r].status, WNOHANG) == pids[r]) {
        done[r] = true;
        --running;
        exits[r].seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
    }
    if (std::chrono::steady_clock::now() - start > std::chrono::duration<double>(limit_s)) {
      for (int r = 0; r < world; ++r) {
        if (!done[r]) ::kill(pids[r], SIGKILL);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (int r = 0; r < world; ++r) {
    std::ifstream in(logs[r]);
    std::stringstream text;
    text << in.rdbuf();
    exits[r].log = text.str();
  }
  return exits;
}

/// Expects every worker to exit 0 and to have run (not skipped) its test.
inline void expect_workers_pass(const std::vector<WorkerExit>& exits) {
  for (size_t r = 0; r < exits.size(); ++r) {
    EXPECT_TRUE(exits[r].exited_ok()) << "rank " << r << " failed; its log:\n" << exits[r].log;
    EXPECT_NE(exits[r].log.find("[  PASSED  ] 1 test"), std::string::npos)
        << "rank " << r << " ran no test; its log:\n" << exits[r].log;
    EXPECT_EQ(exits[r].log.find("SKIPPED"), std::string::npos)
        << "rank " << r << " skipped; its log:\n" << exits[r].log;
  }
}

}  // namespace moekit::testing
