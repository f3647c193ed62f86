// A full disk or an unwritable run directory gives one clear error and never
// damages the last good checkpoint. Full disks are simulated with RLIMIT_FSIZE in
// the child (writes fail with EFBIG) and, where mounting is allowed, a tiny tmpfs.
#include <sys/mount.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <vector>

#include "moekit/core/error.h"
#include "reliability/run_moekit.h"
#include "testing/temp_dir.h"
#include "reliability/tiny_model.h"
#include "testing/errors.h"

namespace moekit::testing {
namespace {
namespace fs = std::filesystem;

std::vector<std::string> train_args(const fs::path& config, const fs::path& run, bool resume,
                                    int epochs) {
  std::vector<std::string> args{"--threads", "1",   "train",
                                config.string(), "--out", run.string(),
                                "--set", "train.epochs=" + std::to_string(epochs)};
  if (resume) args.push_back("--resume");
  return args;
}

bool has_tmp_files(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".tmp") return true;
  }
  return false;
}

// Resumes a one-epoch run for two more epochs under `limits`; expects a clean
// error and the epoch-1 checkpoint untouched, then finishes without limits.
void expect_write_failure_keeps_checkpoint(const fs::path& config, const fs::path& run,
                                           const fs::path& log, const ChildOptions& limits,
                                           const std::function<void()>& unblock) {
  const std::string checkpoint = read_file(run / "checkpoint.pt");
  const std::string results = read_file(run / "results.json");  // of the one-epoch run
  ASSERT_FALSE(checkpoint.empty());
  const int status = run_moekit(train_args(config, run, true, 3), limits);
  const std::string text = read_file(log);
  EXPECT_EQ(status, 1) << text;
  EXPECT_NE(text.find("moekit: error: " + run.string()), std::string::npos) << text;
  EXPECT_EQ(text.find("internal error"), std::string::npos) << text;
  EXPECT_TRUE(read_file(run / "checkpoint.pt") == checkpoint) << "checkpoint.pt changed";
  EXPECT_FALSE(has_tmp_files(run));
  EXPECT_EQ(read_file(run / "results.json"), results);
  unblock();
  ASSERT_EQ(run_moekit(train_args(config, run, true, 3), {log.string()}), 0) << read_file(log);
  EXPECT_NE(read_file(run / "results.json").find("\"epochs\": 3"), std::string::npos);
}

TEST(ReliabilityDiskFaults, FileSizeLimitFailsCleanlyAndKeepsLastGoodCheckpoint) {
  const fs::path dir = fresh_dir("moekit_reliability_fsize");
  const fs::path config = write_config(dir, tiny_config(1));
  const fs::path run = dir / "run", log = dir / "log.txt";
  ASSERT_EQ(run_moekit(train_args(config, run, false, 1), {log.string()}), 0) << read_file(log);
  // Below best.pt's size, so the first weights file written after epoch 2 fails.
  const long limit = static_cast<long>(fs::file_size(run / "best.pt")) / 2;
  expect_write_failure_keeps_checkpoint(config, run, log, {log.string(), limit}, [] {});
}

// Mounts a small tmpfs for the test's lifetime; skips where mounting is not allowed.
class SmallTmpfs {
 public:
  explicit SmallTmpfs(const fs::path& where) : path_(where) {
    fs::create_directories(where);
    mounted_ = ::mount("tmpfs", where.c_str(), "tmpfs", 0, "size=1m") == 0;
  }
  ~SmallTmpfs() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }

 private:
  fs::path path_;
  bool mounted_ = false;
};

TEST(ReliabilityDiskFaults, FullTmpfsFailsCleanlyAndKeepsLastGoodCheckpoint) {
  const fs::path dir = fresh_dir("moekit_reliability_tmpfs");
  const fs::path config = write_config(dir, tiny_config(1));
  const SmallTmpfs disk(dir / "disk");
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs CAP_SYS_ADMIN)";
  const fs::path run = dir / "disk" / "run", log = dir / "log.txt";
  ASSERT_EQ(run_moekit(train_args(config, run, false, 1), {log.string()}), 0) << read_file(log);
  {
    // Fill the disk, then free 16 KiB: room for config.yaml and a metrics line, not
    // for a checkpoint, so the failure comes where it matters.
    std::ofstream filler(dir / "disk" / "filler", std::ios::binary);
    const std::vector<char> block(4096, 'x');
    while (filler.write(block.data(), block.size())) filler.flush();
  }
  const auto filled = fs::file_size(dir / "disk" / "filler");
  ASSERT_GT(filled, 16384u);
  fs::resize_file(dir / "disk" / "filler", filled - 16384);
  expect_write_failure_keeps_checkpoint(config, run, log, {log.string()},
                                        [&] { fs::remove(dir / "disk" / "filler"); });
}

TEST(ReliabilityDiskFaults, RunDirectoryUnderARegularFileIsAClearError) {
  const fs::path dir = fresh_dir("moekit_reliability_notdir");
  const fs::path config = write_config(dir, tiny_config(1));
  std::ofstream(dir / "plain_file") << "x";
  const fs::path log = dir / "log.txt";
  const int status =
      run_moekit(train_args(config, dir / "plain_file" / "run", false, 1), {log.string()});
  const std::string text = read_file(log);
  EXPECT_EQ(status, 1) << text;
  EXPECT_NE(text.find("moekit: error: " + (dir / "plain_file").string()), std::string::npos)
      << text;
  EXPECT_NE(text.find("Not a directory"), std::string::npos) << text;
}

TEST(ReliabilityDiskFaults, RunDirectoryRemovedMidRunIsAClearError) {
  const auto train = mixture_rows(128, 1), valid = mixture_rows(32, 2);
  const std::string dir = fresh_run_dir("removed");
  auto model = tiny_model();
  train::MultiTaskTrainer trainer(model, tiny_options(dir, 3));
  trainer.on_epoch = [&dir](int64_t epoch, double, const train::Metrics&) {
    if (epoch == 1) fs::remove_all(dir);
  };
  expect_error([&] { trainer.fit(train, valid); }, {dir + "/"});
}

}  // namespace
}  // namespace moekit::testing
