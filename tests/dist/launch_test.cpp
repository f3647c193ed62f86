// `moekit launch`, run as a user would: the installed-style binary, its output
// and exit status.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace moekit::cli {
namespace {

struct Result {
  int status = -1;
  std::string output;
  double seconds = 0;
};

Result run(const std::string& args) {
  const std::string command = std::string(MOEKIT_BINARY_DIR) + "/moekit " + args + " 2>&1";
  const auto start = std::chrono::steady_clock::now();
  Result result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  result.status = ::pclose(pipe);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

TEST(DistLaunch, StartsRanksWithTorchrunEnvironment) {
  const Result r = run("launch --nproc 2 -- dist-check");
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.output;
  EXPECT_NE(r.output.find("rank 0 of 2: local_rank 0, master 127.0.0.1:"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("rank 1 of 2: local_rank 1, master 127.0.0.1:"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("all_reduce ok"), std::string::npos) << r.output;
}

TEST(DistLaunch, OneProcessWorks) {
  const Result r = run("launch --nproc 1 -- dist-check");
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.output;
  EXPECT_NE(r.output.find("rank 0 of 1"), std::string::npos) << r.output;
}

TEST(DistLaunch, FailingRankStopsTheOthersAndIsNamed) {
  // Rank 0 would wait 600 s for rank 1 at the rendezvous; launch must stop it,
  // so the run ends long before that whatever the load on the machine.
  ::setenv("MOEKIT_DIST_TIMEOUT", "600", 1);
  const Result r = run("launch --nproc 2 --grace 1 -- dist-check --exit-rank 1");
  ::unsetenv("MOEKIT_DIST_TIMEOUT");
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0) << r.output;
  EXPECT_NE(r.output.find("launch: rank 1 exited with status 3; stopping the other ranks"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("moekit: error: launch: rank 1 exited with status 3"),
            std::string::npos)
      << r.output;
  EXPECT_LT(r.seconds, 120.0);
}

TEST(DistLaunch, RejectsMissingSubcommandAndMultiNodeWithoutPort) {
  Result r = run("launch --nproc 2 --nnodes 2 --node-rank 0 -- dist-check");
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0) << r.output;
  EXPECT_NE(r.output.find("--master-port"), std::string::npos) << r.output;
  r = run("launch --nproc 2 --nnodes 2 --node-rank 2 --master-port 29511 -- dist-check");
  EXPECT_NE(r.output.find("--node-rank"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace moekit::cli
