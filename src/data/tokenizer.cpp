#include "moekit/data/tokenizer.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <limits>
#include <mutex>

#include "data/spm_shim/spm_shim.h"
#include "moekit/core/error.h"

#if defined(__SANITIZE_ADDRESS__)
#define MOEKIT_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MOEKIT_UNDER_ASAN 1
#endif
#endif

namespace moekit::data {
namespace {

constexpr const char* kWhere = "tokenizer";
constexpr const char* kLibraryName = "libmoekit_spm.so";

// The shim's entry points, resolved once per process.
struct Api {
  int (*abi_version)();
  void (*free)(void*);
  int (*train)(size_t, const char* const*, const char* const*, char**);
  int (*load)(const char*, moekit_spm_processor**, char**);
  void (*unload)(moekit_spm_processor*);
  int (*encode_ids)(const moekit_spm_processor*, const char*, size_t, int**, size_t*, char**);
  int (*encode_pieces)(const moekit_spm_processor*, const char*, size_t, char**, size_t*, char**);
  int (*decode_ids)(const moekit_spm_processor*, const int*, size_t, char**, size_t*, char**);
  int (*vocab_size)(const moekit_spm_processor*);
  int (*piece_to_id)(const moekit_spm_processor*, const char*, size_t);
  const char* (*id_to_piece)(const moekit_spm_processor*, int);
  int (*special_id)(const moekit_spm_processor*, int);
};

std::string executable_dir() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  std::string path(buf, static_cast<size_t>(n));
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

std::vector<std::string> candidate_paths() {
  if (const char* env = std::getenv("MOEKIT_SPM_LIB"); env != nullptr && *env != '\0') {
    return {env};  // an explicit choice is never second-guessed
  }
  std::vector<std::string> paths;
  if (const std::string dir = executable_dir(); !dir.empty()) {
    paths.push_back(dir + "/" + kLibraryName);
    paths.push_back(dir + "/../lib/" + kLibraryName);
  }
#ifdef MOEKIT_SPM_BUILD_PATH
  paths.emplace_back(MOEKIT_SPM_BUILD_PATH);
#endif
#ifdef MOEKIT_SPM_INSTALL_PATH
  paths.emplace_back(MOEKIT_SPM_INSTALL_PATH);
#endif
  return paths;
}

std::string find_library() {
#ifdef MOEKIT_UNDER_ASAN
  return "";  // AddressSanitizer refuses RTLD_DEEPBIND
#else
  for (const auto& path : candidate_paths()) {
    if (access(path.c_str(), R_OK) == 0) return path;
  }
  return "";
#endif
}

template <typename F>
void resolve(void* lib, const char* name, F* fn, const std::string& path) {
  *fn = reinterpret_cast<F>(dlsym(lib, name));
  MOEKIT_CHECK(*fn != nullptr, path, "missing symbol {} (stale build of the shim?)", name);
}

const Api& api() {
  static Api api{};
  static std::once_flag once;
  static std::string failure;
  std::call_once(once, [] {
    const std::string path = find_library();
    if (path.empty()) {
      std::string looked;
      for (const auto& p : candidate_paths()) looked += (looked.empty() ? "" : ", ") + p;
      failure = fmt::format(
          "SentencePiece shim {} not found (looked at: {}); build target moekit_spm or set "
          "MOEKIT_SPM_LIB",
          kLibraryName, looked.empty() ? "nothing" : looked);
      return;
    }
    // NOTE: RTLD_DEEPBIND + RTLD_LOCAL keep SentencePiece's protobuf symbols
    // away from LibTorch's; a plain dlopen would crash as linking does.
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (lib == nullptr) {
      const char* why = dlerror();
      failure = fmt::format("cannot load {}: {}", path, why != nullptr ? why : "unknown error");
      return;
    }
    try {
      resolve(lib, "moekit_spm_abi_version", &api.abi_version, path);
      resolve(lib, "moekit_spm_free", &api.free, path);
      resolve(lib, "moekit_spm_train", &api.train, path);
      resolve(lib, "moekit_spm_load", &api.load, path);
      resolve(lib, "moekit_spm_unload", &api.unload, path);
      resolve(lib, "moekit_spm_encode_ids", &api.encode_ids, path);
      resolve(lib, "moekit_spm_encode_pieces", &api.encode_pieces, path);
      resolve(lib, "moekit_spm_decode_ids", &api.decode_ids, path);
      resolve(lib, "moekit_spm_vocab_size", &api.vocab_size, path);
      resolve(lib, "moekit_spm_piece_to_id", &api.piece_to_id, path);
      resolve(lib, "moekit_spm_id_to_piece", &api.id_to_piece, path);
      resolve(lib, "moekit_spm_special_id", &api.special_id, path);
      MOEKIT_CHECK(api.abi_version() == MOEKIT_SPM_ABI_VERSION, path,
                   "shim ABI version {}, expected {}", api.abi_version(), MOEKIT_SPM_ABI_VERSION);
    } catch (const Error& e) {
      failure = e.what();
      api.load = nullptr;
    }
  });
  if (!failure.empty()) throw Error(kWhere, failure);
  return api;
}

// Takes ownership of a message from the shim and throws it.
[[noreturn]] void throw_shim_error(const std::string& where, char* error) {
  std::string message = error != nullptr ? error : "unknown SentencePiece error";
  api().free(error);
  throw Error(where, message);
}

}  // namespace

struct Tokenizer::Handle {
  const Api* api = nullptr;
  moekit_spm_processor* processor = nullptr;
  ~Handle() {
    if (processor != nullptr) api->unload(processor);
  }
};

void TokenizerTrainOptions::validate() const {
  MOEKIT_CHECK(!inputs_.empty(), "inputs", "no training file given");
  for (const auto& path : inputs_) {
    MOEKIT_CHECK(path.find(',') == std::string::npos, "inputs",
                 "'{}' contains a comma, which SentencePiece takes as a file separator", path);
    MOEKIT_CHECK(access(path.c_str(), R_OK) == 0, "inputs", "cannot read '{}'", path);
  }
  MOEKIT_CHECK(!model_prefix_.empty(), "model_prefix", "must not be empty");
  MOEKIT_CHECK(vocab_size_ >= 8 && vocab_size_ <= std::numeric_limits<int32_t>::max(), "vocab_size",
               "must be at least 8, got {}", vocab_size_);
  MOEKIT_CHECK(model_type_ == "bpe" || model_type_ == "unigram" || model_type_ == "char" ||
                   model_type_ == "word",
               "model_type", "'{}' is not one of bpe, unigram, char, word", model_type_);
  for (const auto& s : user_defined_symbols_) {
    MOEKIT_CHECK(!s.empty() && s.find(',') == std::string::npos, "user_defined_symbols",
                 "'{}' must be non-empty and free of commas", s);
  }
  MOEKIT_CHECK(character_coverage_ > 0 && character_coverage_ <= 1, "character_coverage",
               "must be in (0, 1], got {}", character_coverage_);
  MOEKIT_CHECK(num_threads_ >= 1, "num_threads", "must be positive, got {}", num_threads_);
}

void Tokenizer::train(const TokenizerTrainOptions& options) {
  options.validate();
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
    return out;
  };
  // Fixed special ids so every model built here agrees on them.
  const std::vector<std::pair<std::string, std::string>> flags = {
      {"input", join(options.inputs())},
      {"model_prefix", options.model_prefix()},
      {"vocab_size", std::to_string(options.vocab_size())},
      {"model_type", options.model_type()},
      {"character_coverage", fmt::format("{}", options.character_coverage())},
      {"user_defined_symbols", join(options.user_defined_symbols())},
      {"num_threads", std::to_string(options.num_threads())},
      {"pad_id", "0"},
      {"unk_id", "1"},
      {"bos_id", "2"},
      {"eos_id", "3"},
      {"minloglevel", "1"},  // the library never writes progress to the terminal
  };
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : flags) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  char* error = nullptr;
  if (api().train(flags.size(), keys.data(), values.data(), &error) != 0) {
    throw_shim_error(options.model_prefix() + ".model", error);
  }
}

std::string Tokenizer::library_path() { return find_library(); }

Tokenizer::Tokenizer(const std::string& model_path) : model_path_(model_path) {
  const Api& a = api();
  handle_ = std::make_shared<Handle>();
  handle_->api = &a;
  char* error = nullptr;
  if (a.load(model_path.c_str(), &handle_->processor, &error) != 0) {
    throw_shim_error(model_path, error);
  }
}

std::vector<int64_t> Tokenizer::encode(const std::string& text) const {
  int* ids = nullptr;
  size_t n = 0;
  char* error = nullptr;
  if (handle_->api->encode_ids(handle_->processor, text.data(), text.size(), &ids, &n, &error)) {
    throw_shim_error(model_path_, error);
  }
  std::vector<int64_t> out(ids, ids + n);
  handle_->api->free(ids);
  return out;
}

std::vector<std::string> Tokenizer::encode_pieces(const std::string& text) const {
  char* pieces = nullptr;
  size_t n = 0;
  char* error = nullptr;
  if (handle_->api->encode_pieces(handle_->processor, text.data(), text.size(), &pieces, &n,
                                  &error)) {
    throw_shim_error(model_path_, error);
  }
  std::vector<std::string> out;
  out.reserve(n);
  const char* p = pieces;
  for (size_t i = 0; i < n; ++i) {
    out.emplace_back(p);
    p += out.back().size() + 1;
  }
  handle_->api->free(pieces);
  return out;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids) const {
  const int64_t v = vocab_size();
  std::vector<int> narrow;
  narrow.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    MOEKIT_CHECK(ids[i] >= 0 && ids[i] < v, model_path_, "id {} at position {} is outside [0, {})",
                 ids[i], i, v);
    narrow.push_back(static_cast<int>(ids[i]));
  }
  char* text = nullptr;
  size_t len = 0;
  char* error = nullptr;
  if (handle_->api->decode_ids(handle_->processor, narrow.data(), narrow.size(), &text, &len,
                               &error)) {
    throw_shim_error(model_path_, error);
  }
  std::string out(text, len);
  handle_->api->free(text);
  return out;
}

int64_t Tokenizer::vocab_size() const { return handle_->api->vocab_size(handle_->processor); }

int64_t Tokenizer::piece_to_id(const std::string& piece) const {
  return handle_->api->piece_to_id(handle_->processor, piece.data(), piece.size());
}

std::string Tokenizer::id_to_piece(int64_t id) const {
  const char* piece = id >= 0 && id <= std::numeric_limits<int>::max()
                          ? handle_->api->id_to_piece(handle_->processor, static_cast<int>(id))
                          : nullptr;
  MOEKIT_CHECK(piece != nullptr, model_path_, "id {} is outside [0, {})", id, vocab_size());
  return piece;
}

int64_t Tokenizer::unk_id() const { return handle_->api->special_id(handle_->processor, 0); }
int64_t Tokenizer::bos_id() const { return handle_->api->special_id(handle_->processor, 1); }
int64_t Tokenizer::eos_id() const { return handle_->api->special_id(handle_->processor, 2); }
int64_t Tokenizer::pad_id() const { return handle_->api->special_id(handle_->processor, 3); }

std::string Tokenizer::language_tag(const std::string& language) { return "<2" + language + ">"; }

int64_t Tokenizer::language_tag_id(const std::string& language) const {
  const int64_t id = piece_to_id(language_tag(language));
  MOEKIT_CHECK(id >= 0, model_path_, "no language tag {} in the vocabulary",
               language_tag(language));
  return id;
}

}  // namespace moekit::data
