// `moekit launch --nproc N -- <subcommand ...>`: starts N local copies of moekit
// with torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT, ...), so the subcommand joins one process group; run it on every
// node with --nnodes/--node-rank for multi-machine runs. When a rank fails, the
// others are stopped (SIGTERM, then SIGKILL after --grace) and launch exits
// non-zero naming it. `moekit dist-check` is the smoke test to launch: it joins
// the group and runs one all-reduce.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "moekit/core/error.h"
#include "moekit/dist/process_group.h"

namespace moekit::cli {
namespace {

struct LaunchArgs {
  int64_t nproc = 1;
  int64_t nnodes = 1;
  int64_t node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 0;
  double grace_s = 5.0;
  std::vector<std::string> command;
};

// A port the kernel considers free right now (bind to 0, read it back).
int64_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  MOEKIT_CHECK(fd >= 0, "launch", "cannot open a socket to find a free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  MOEKIT_CHECK(ok, "launch", "cannot find a free port; pass --master-port");
  return ntohs(addr.sin_port);
}

volatile sig_atomic_t g_stop_signal = 0;
void remember_signal(int sig) { g_stop_signal = sig; }

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {}", WTERMSIG(status));
  return "stopped";
}

void run_launch(const LaunchArgs& a) {
  MOEKIT_CHECK(!a.command.empty(), "launch", "give the subcommand after --, e.g. "
                                             "`moekit launch --nproc 2 -- train run.yaml`");
  MOEKIT_CHECK(a.command.front() != "launch", "launch", "cannot launch `launch` itself");
  MOEKIT_CHECK(a.node_rank >= 0 && a.node_rank < a.nnodes, "--node-rank",
               "must lie in [0, --nnodes = {}), got {}", a.nnodes, a.node_rank);
  MOEKIT_CHECK(a.nnodes == 1 || a.master_port > 0, "--master-port",
               "multi-node runs need the same explicit port on every node");
  const int64_t port = a.master_port > 0 ? a.master_port : free_port();
  const int64_t world = a.nproc * a.nnodes;

  std::vector<std::string> args{"moekit"};
  // Like torchrun's OMP_NUM_THREADS: N ranks that each take every core would
  // oversubscribe the machine, so each gets its share unless told otherwise.
  if (std::find(a.command.begin(), a.command.end(), "--threads") == a.command.end()) {
    const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
    args.push_back("--threads");
    args.push_back(std::to_string(std::max<int64_t>(1, cores / a.nproc)));
  }
  args.insert(args.end(), a.command.begin(), a.command.end());
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  struct sigaction action {};
  action.sa_handler = remember_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  std::cout.flush();
  std::cerr.flush();
  const pid_t parent = ::getpid();
  std::vector<pid_t> pids;
  for (int64_t local = 0; local < a.nproc; ++local) {
    const pid_t pid = ::fork();
    MOEKIT_CHECK(pid >= 0, "launch", "fork failed for local rank {}", local);
    if (pid == 0) {
      // Ranks never outlive the launcher, whatever kills it.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      const int64_t rank = a.node_rank * a.nproc + local;
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(local).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(a.nproc).c_str(), 1);
      ::setenv("GROUP_RANK", std::to_string(a.node_rank).c_str(), 1);
      ::setenv("NODE_RANK", std::to_string(a.node_rank).c_str(), 1);
      ::setenv("MASTER_ADDR", a.master_addr.c_str(), 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      ::execv("/proc/self/exe", argv.data());
      std::cerr << "moekit launch: cannot execute /proc/self/exe\n";
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  spdlog::info("launch: {} ranks on this node ({} in all), master {}:{}", a.nproc, world,
               a.master_addr, port);

  // Wait for every rank; the first failure (or a signal to us) stops the rest.
  std::vector<bool> done(pids.size(), false);
  size_t running = pids.size();
  std::string failure;
  auto stop_deadline = std::chrono::steady_clock::time_point::max();
  bool killed = false;
  while (running > 0) {
    for (size_t i = 0; i < pids.size(); ++i) {
      if (done[i]) continue;
      int status = 0;
      const pid_t r = ::waitpid(pids[i], &status, WNOHANG);
      if (r != pids[i]) continue;
      done[i] = true;
      --running;
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (!ok && failure.empty() && stop_deadline == std::chrono::steady_clock::time_point::max()) {
        failure = fmt::format("rank {} {}", a.node_rank * a.nproc + static_cast<int64_t>(i),
                              describe_status(status));
      }
    }
    if (running == 0) break;
    const bool stopping = !failure.empty() || g_stop_signal != 0;
    if (stopping && stop_deadline == std::chrono::steady_clock::time_point::max()) {
      if (failure.empty()) failure = fmt::format("launch got signal {}", int(g_stop_signal));
      spdlog::error("launch: {}; stopping the other ranks", failure);
      for (size_t i = 0; i < pids.size(); ++i) {
        if (!done[i]) ::kill(pids[i], SIGTERM);
      }
      stop_deadline = std::chrono::steady_clock::now() +
                      std::chrono::milliseconds(static_cast<int64_t>(a.grace_s * 1000));
    }
    if (!killed && std::chrono::steady_clock::now() > stop_deadline) {
      for (size_t i = 0; i < pids.size(); ++i) {
        if (!done[i]) ::kill(pids[i], SIGKILL);
      }
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  MOEKIT_CHECK(failure.empty(), "launch", "{}", failure);
}

struct DistCheckArgs {
  int64_t exit_rank = -1;
};

void run_dist_check(const DistCheckArgs& a) {
  const auto options = dist::GroupOptions::from_env();
  if (options.rank() == a.exit_rank) {
    std::cerr << fmt::format("rank {}: exiting with status 3 as asked (--exit-rank)\n",
                             options.rank());
    std::exit(3);
  }
  dist::Group group(options);
  at::Tensor value = at::full({1}, static_cast<double>(group.rank() + 1), at::kDouble);
  group.all_reduce_sum({value});
  const double expected = group.world_size() * (group.world_size() + 1) / 2.0;
  MOEKIT_CHECK(value.item<double>() == expected, fmt::format("rank {}", group.rank()),
               "all_reduce gave {}, expected {}", value.item<double>(), expected);
  group.barrier();
  std::cout << fmt::format("rank {} of {}: local_rank {}, master {}:{}, all_reduce ok\n",
                           group.rank(), group.world_size(), group.local_rank(),
                           options.master_addr(), options.master_port())
            << std::flush;
}

}  // namespace

void add_launch_command(CLI::App& app) {
  auto args = std::make_shared<LaunchArgs>();
  auto* cmd = app.add_subcommand(
      "launch", "Run a subcommand in N local processes that form one process group (torchrun env)");
  cmd->add_option("--nproc", args->nproc, "processes on this node")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--nnodes", args->nnodes, "nodes in the run")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--node-rank", args->node_rank, "this node's index in [0, nnodes)")->capture_default_str();
  cmd->add_option("--master-addr", args->master_addr, "address of node 0 (hosts the rendezvous)")->capture_default_str();
  cmd->add_option("--master-port", args->master_port, "rendezvous port (0 = a free one; multi-node: required)")->capture_default_str()->check(CLI::Range(0, 65535));
  cmd->add_option("--grace", args->grace_s, "seconds between SIGTERM and SIGKILL when stopping ranks")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("command", args->command, "the moekit subcommand to run, after --")->required();
  cmd->callback([args] { run_launch(*args); });

  auto check_args = std::make_shared<DistCheckArgs>();
  auto* check = app.add_subcommand(
      "dist-check", "Join the process group of the environment and run one all-reduce (smoke test)");
  check->add_option("--exit-rank", check_args->exit_rank, "this rank exits with status 3 first (tests launch's failure handling)");
  check->callback([check_args] { run_dist_check(*check_args); });
}

}  // namespace moekit::cli
