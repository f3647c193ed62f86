// libFuzzer harness: IDX files (plain or gzip'd) through read_idx and the
// image/label helpers.
#include "fuzz_common.h"
#include "moekit/data/idx_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace moekit;
  const std::string path = fuzz::scratch_dir() + "/input-idx3-ubyte";
  fuzz::write_file(path, data, size);
  fuzz::expect_clean([&] { data::read_idx(path); }, path);
  fuzz::expect_clean([&] { data::read_idx_labels(path, 10, 3); }, path);
  fuzz::expect_clean([&] { data::read_idx_images(path, 2); }, path);
  return 0;
}
