// The only translation unit that sees SentencePiece. Built as its own shared
// library with hidden visibility; only the moekit_spm_* functions are exported.
#include "data/spm_shim/spm_shim.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <unordered_map>
#include <vector>

#define MOEKIT_SPM_EXPORT extern "C" __attribute__((visibility("default")))

struct moekit_spm_processor {
  sentencepiece::SentencePieceProcessor sp;
};

namespace {

char* copy_string(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out != nullptr) std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

int fail(char** error, const std::string& message) {
  if (error != nullptr) *error = copy_string(message);
  return 1;
}

// sentencepiece::util::Status (0.1, bookworm) or absl::Status (0.2): both have
// ok() and ToString().
template <typename Status>
int check(const Status& status, char** error) {
  return status.ok() ? 0 : fail(error, status.ToString());
}

}  // namespace

MOEKIT_SPM_EXPORT int moekit_spm_abi_version(void) { return MOEKIT_SPM_ABI_VERSION; }

MOEKIT_SPM_EXPORT void moekit_spm_free(void* p) { std::free(p); }

MOEKIT_SPM_EXPORT int moekit_spm_train(size_t n, const char* const* keys, const char* const* values,
                                       char** error) {
  try {
    std::unordered_map<std::string, std::string> kwargs;
    for (size_t i = 0; i < n; ++i) kwargs[keys[i]] = values[i];
    return check(sentencepiece::SentencePieceTrainer::Train(kwargs), error);
  } catch (const std::exception& e) {
    return fail(error, e.what());
  }
}

MOEKIT_SPM_EXPORT int moekit_spm_load(const char* model_path, moekit_spm_processor** out,
                                      char** error) {
  try {
    auto* p = new moekit_spm_processor;
    if (check(p->sp.Load(model_path), error) != 0) {
      delete p;
      return 1;
    }
    *out = p;
    return 0;
  } catch (const std::exception& e) {
    return fail(error, e.what());
  }
}

MOEKIT_SPM_EXPORT void moekit_spm_unload(moekit_spm_processor* p) { delete p; }

MOEKIT_SPM_EXPORT int moekit_spm_encode_ids(const moekit_spm_processor* p, const char* text,
                                            size_t len, int** ids, size_t* n, char** error) {
  try {
    std::vector<int> out;
    if (check(p->sp.Encode(std::string(text, len), &out), error) != 0) return 1;
    *ids = static_cast<int*>(std::malloc(sizeof(int) * (out.empty() ? 1 : out.size())));
    if (*ids == nullptr) return fail(error, "out of memory");
    if (!out.empty()) std::memcpy(*ids, out.data(), sizeof(int) * out.size());
    *n = out.size();
    return 0;
  } catch (const std::exception& e) {
    return fail(error, e.what());
  }
}

MOEKIT_SPM_EXPORT int moekit_spm_encode_pieces(const moekit_spm_processor* p, const char* text,
                                               size_t len, char** pieces, size_t* n, char** error) {
  try {
    std::vector<std::string> out;
    if (check(p->sp.Encode(std::string(text, len), &out), error) != 0) return 1;
    std::string joined;
    for (const auto& piece : out) joined.append(piece).push_back('\0');
    *pieces = static_cast<char*>(std::malloc(joined.empty() ? 1 : joined.size()));
    if (*pieces == nullptr) return fail(error, "out of memory");
    if (!joined.empty()) std::memcpy(*pieces, joined.data(), joined.size());
    *n = out.size();
    return 0;
  } catch (const std::exception& e) {
    return fail(error, e.what());
  }
}

MOEKIT_SPM_EXPORT int moekit_spm_decode_ids(const moekit_spm_processor* p, const int* ids, size_t n,
                                            char** text, size_t* len, char** error) {
  try {
    std::string out;
    if (check(p->sp.Decode(std::vector<int>(ids, ids + n), &out), error) != 0) return 1;
    *text = copy_string(out);
    if (*text == nullptr) return fail(error, "out of memory");
    *len = out.size();
    return 0;
  } catch (const std::exception& e) {
    return fail(error, e.what());
  }
}

MOEKIT_SPM_EXPORT int moekit_spm_vocab_size(const moekit_spm_processor* p) {
  return p->sp.GetPieceSize();
}

MOEKIT_SPM_EXPORT int moekit_spm_piece_to_id(const moekit_spm_processor* p, const char* piece,
                                             size_t len) {
  const std::string s(piece, len);
  const int id = p->sp.PieceToId(s);
  // SentencePiece answers unk for an unknown piece; tell the two apart.
  if (id == p->sp.unk_id() && p->sp.IdToPiece(id) != s) return -1;
  return id;
}

MOEKIT_SPM_EXPORT const char* moekit_spm_id_to_piece(const moekit_spm_processor* p, int id) {
  if (id < 0 || id >= p->sp.GetPieceSize()) return nullptr;
  return p->sp.IdToPiece(id).c_str();
}

MOEKIT_SPM_EXPORT int moekit_spm_special_id(const moekit_spm_processor* p, int which) {
  switch (which) {
    case 0:
      return p->sp.unk_id();
    case 1:
      return p->sp.bos_id();
    case 2:
      return p->sp.eos_id();
    case 3:
      return p->sp.pad_id();
    default:
      return -1;
  }
}
