#include "moekit/train/run_dir.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "moekit/core/checkpoint.h"
#include "moekit/core/error.h"

namespace moekit::train {
namespace {
namespace fs = std::filesystem;

fs::path fresh(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("moekit_run_dir_" + name);
  fs::remove_all(dir);
  return dir;
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(TrainRunDir, ResumeKeepsTheLinesTheCheckpointSawAndDropsATornOne) {
  const fs::path dir = fresh("truncate");
  RunDir run(dir.string());
  run.create();
  run.start_metrics();
  for (int step = 1; step <= 4; ++step) {
    run.append_metrics("{\"step\": " + std::to_string(step) + ", \"loss\": 0.5}");
  }
  // A kill in the middle of appending line 5.
  std::ofstream(run.metrics_path(), std::ios::app) << "{\"step\": 5, \"lo";
  run.truncate_metrics("step", 3);
  EXPECT_EQ(read(run.metrics_path()),
            "{\"step\": 1, \"loss\": 0.5}\n{\"step\": 2, \"loss\": 0.5}\n{\"step\": 3, \"loss\": 0.5}\n");
  // The rewrite was atomic: no temporary file stays behind.
  EXPECT_FALSE(fs::exists(run.metrics_path() + ".tmp"));
  // Resuming past the torn line keeps every whole line.
  std::ofstream(run.metrics_path(), std::ios::app) << "{\"step\": 4}\n{\"step\": 5, \"lo";
  run.truncate_metrics("step", 10);
  EXPECT_EQ(read(run.metrics_path()).find("\"lo\n"), std::string::npos);
  EXPECT_NE(read(run.metrics_path()).find("{\"step\": 4}\n"), std::string::npos);
}

TEST(TrainRunDir, FilesAreWrittenAtomicallyByTheWriterOnly) {
  const fs::path dir = fresh("writer");
  RunDir run(dir.string());
  run.create();
  torch::serialize::OutputArchive archive;
  archive.write("x", torch::arange(3));
  run.save(archive, "checkpoint.pt");
  run.write_text("results.json", "{}\n");
  torch::serialize::InputArchive in;
  load_archive(in, run.checkpoint_path());
  at::Tensor x;
  in.read("x", x);
  EXPECT_TRUE(torch::equal(x, torch::arange(3)));
  EXPECT_EQ(read(dir / "results.json"), "{}\n");
  EXPECT_EQ(run.best_path(), (dir / "best.pt").string());

  // Another rank of a distributed run reads the directory but never writes it.
  const fs::path other = fresh("reader");
  RunDir reader(other.string(), /*writer=*/false);
  EXPECT_TRUE(reader.enabled());
  EXPECT_FALSE(reader.writer());
  reader.create();
  reader.start_metrics();
  reader.append_metrics("{\"step\": 1}");
  reader.write_text("results.json", "{}");
  EXPECT_FALSE(fs::exists(other));
  // No directory at all: nothing is written anywhere.
  RunDir none;
  EXPECT_FALSE(none.enabled());
  EXPECT_NO_THROW(none.start_metrics());
}

TEST(TrainRunDir, AnUnwritableDirectoryIsNamedInTheError) {
  const fs::path file = fresh("blocked");
  std::ofstream(file) << "a file, not a directory";
  RunDir run((file / "run").string());
  try {
    run.create();
    ADD_FAILURE() << "created a directory under a file";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), (file / "run").string());
  }
}

}  // namespace
}  // namespace moekit::train
