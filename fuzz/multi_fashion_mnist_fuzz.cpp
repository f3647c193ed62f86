// libFuzzer harness: the .mfmnist cache of one MultiFashionMNIST split.
#include "fuzz_common.h"
#include "moekit/data/multi_fashion_mnist.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace moekit;
  const std::string path = fuzz::scratch_dir() + "/input.mfmnist";
  fuzz::write_file(path, data, size);
  fuzz::expect_clean([&] { data::load_multi_fashion_split(path); }, path);
  return 0;
}
