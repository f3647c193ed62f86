// A tokenised parallel corpus: DIR/SPLIT.LANG or DIR/SPLIT.PAIR.LANG files, one
// sentence per line.
#include "moekit/data/parallel_corpus.h"

#include <filesystem>
#include <sstream>

#include "moekit/core/error.h"
#include "moekit/core/lines.h"

namespace moekit::data {
namespace fs = std::filesystem;

std::vector<std::pair<std::string, std::string>> parse_directions(const std::string& text,
                                                                  const std::string& where) {
  std::vector<std::pair<std::string, std::string>> out;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    const auto dash = item.find('-');
    MOEKIT_CHECK(dash != std::string::npos && dash > 0 && dash + 1 < item.size(), where,
                 "expected SRC-TGT (e.g. es-en), got '{}'", item);
    out.emplace_back(item.substr(0, dash), item.substr(dash + 1));
  }
  MOEKIT_CHECK(!out.empty(), where, "no direction given");
  return out;
}

namespace {

// The files of one direction: a pair's own files (SPLIT.uk-en.uk and
// SPLIT.uk-en.en, named in either order, as `data bible --ces` writes them),
// else the shared SPLIT.src and SPLIT.tgt (the Spanish-English pair).
std::pair<std::string, std::string> direction_files(const std::string& dir,
                                                    const std::string& split,
                                                    const std::string& src,
                                                    const std::string& tgt) {
  for (const std::string& pair : {src + "-" + tgt, tgt + "-" + src}) {
    const fs::path stem = fs::path(dir) / (split + "." + pair);
    if (fs::exists(stem.string() + "." + src) && fs::exists(stem.string() + "." + tgt)) {
      return {stem.string() + "." + src, stem.string() + "." + tgt};
    }
  }
  return {(fs::path(dir) / (split + "." + src)).string(),
          (fs::path(dir) / (split + "." + tgt)).string()};
}

}  // namespace

bool has_parallel_split(const std::string& dir, const std::string& split,
                        const std::vector<std::pair<std::string, std::string>>& directions) {
  for (const auto& [src, tgt] : directions) {
    const auto [src_path, tgt_path] = direction_files(dir, split, src, tgt);
    if (!fs::exists(src_path) || !fs::exists(tgt_path)) return false;
  }
  return true;
}

ParallelCorpus load_parallel_corpus(
    const Tokenizer& tokenizer, const std::string& dir, const std::string& split,
    const std::vector<std::pair<std::string, std::string>>& directions, int64_t max_len) {
  ParallelCorpus corpus;
  for (const auto& [src_lang, tgt_lang] : directions) {
    const auto [src_path, tgt_path] = direction_files(dir, split, src_lang, tgt_lang);
    const auto src = read_lines(src_path);
    const auto tgt = read_lines(tgt_path);
    MOEKIT_CHECK(src.size() == tgt.size(), tgt_path, "has {} lines but {} has {}", tgt.size(),
                 src_path, src.size());
    const int64_t tag = tokenizer.language_tag_id(tgt_lang);
    for (size_t i = 0; i < src.size(); ++i) {
      TokenPair pair;
      pair.src.push_back(tag);
      for (int64_t id : tokenizer.encode(src[i])) pair.src.push_back(id);
      pair.tgt = tokenizer.encode(tgt[i]);
      if (static_cast<int64_t>(pair.src.size()) > max_len) pair.src.resize(max_len);
      if (static_cast<int64_t>(pair.tgt.size()) > max_len) pair.tgt.resize(max_len);
      corpus.pairs.push_back(std::move(pair));
      corpus.references.push_back(tgt[i]);
    }
  }
  return corpus;
}

}  // namespace moekit::data
