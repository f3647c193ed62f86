// libFuzzer harness: checkpoint files through load_archive (header + torch
// archive), then the reads a trainer makes.
#include <torch/torch.h>

#include "fuzz_common.h"
#include "moekit/core/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace moekit;
  const std::string path = fuzz::scratch_dir() + "/input.pt";
  fuzz::write_file(path, data, size);
  fuzz::expect_clean([&] {
    torch::serialize::InputArchive archive;
    load_archive(archive, path);
  }, path);
  return 0;
}
