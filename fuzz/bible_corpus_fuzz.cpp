// libFuzzer harness: diatheke's verse listing (what `moekit data bible`
// parses) and the OSIS stripper it runs on every verse.
#include <string>

#include "fuzz_common.h"
#include "moekit/data/bible_corpus.h"
#include "moekit/data/osis_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace moekit;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string where = "spaRV1909eb";
  std::vector<data::Verse> verses;
  fuzz::expect_clean([&] { verses = data::parse_diatheke_output(text, where); }, where);
  // A duplicated reference is the only fault align_verses reports; it names the side.
  fuzz::expect_clean([&] { data::align_verses(verses, verses); }, "appears twice");
  data::strip_osis(text);
  data::normalize_whitespace(text);
  return 0;
}
