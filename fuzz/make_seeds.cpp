// Writes valid seed inputs for every harness: moekit_fuzz_seeds CORPUS_ROOT SOURCE_DIR
// puts them in CORPUS_ROOT/<harness>/ (SOURCE_DIR/configs/*.yaml seed the config harness).
#include <torch/torch.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "moekit/core/checkpoint.h"
#include "moekit/data/multi_fashion_mnist.h"

namespace fs = std::filesystem;

namespace {

void write(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string idx(const std::vector<uint32_t>& dims, uint8_t fill) {
  std::string out{0, 0, 0x08, char(dims.size())};
  size_t n = 1;
  for (uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(char((d >> s) & 0xff));
    n *= d;
  }
  for (size_t i = 0; i < n; ++i) out.push_back(char((fill + i) % 10));
  return out;
}

std::string gzip(const std::string& raw) {
  const std::string tmp = fs::temp_directory_path() / "moekit_seed.gz";
  gzFile f = gzopen(tmp.c_str(), "wb");
  gzwrite(f, raw.data(), unsigned(raw.size()));
  gzclose(f);
  std::ifstream in(tmp, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: moekit_fuzz_seeds CORPUS_ROOT SOURCE_DIR\n";
    return 2;
  }
  const fs::path root = argv[1], source = argv[2];

  write(root / "idx_reader" / "labels", idx({5}, 3));
  write(root / "idx_reader" / "images", idx({2, 3, 4}, 0));
  write(root / "idx_reader" / "images.gz", gzip(idx({2, 3, 4}, 1)));

  moekit::data::MultiFashionSplit split;
  split.images = torch::randint(0, 256, {2, 36, 36}, torch::kByte);
  split.labels = torch::tensor({3, 7, 0, 9}, torch::kLong).view({2, 2});
  split.seed = 5;
  fs::create_directories(root / "multi_fashion_mnist");
  moekit::data::save_multi_fashion_split(split, (root / "multi_fashion_mnist" / "two.mfmnist").string());

  write(root / "movielens" / "ml1m",
        "1::F::1::10::48067\n2::M::56::16::70072\n%%\n"
        "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Jumanji (1995)::(no genres listed)\n%%\n"
        "1::1::5::978300760\n2::2::3::978302109\n1::2::4::978301968\n");
  write(root / "movielens" / "latest",
        "movieId,title,genres\n1,\"Toy Story, \"\"the\"\" (1995)\",Adventure|Animation\n"
        "2,Jumanji (1995),(no genres listed)\n%%\n"
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,3.5,964981247\n");

  write(root / "bible_corpus" / "web",
        "<title type=\"x-gen\">Genesis 1</title>Genesis 1:1: <w savlm=\"strong:H0430\">In</w> "
        "<w>the</w> <w>beginning</w>, <w>God</w><w>created</w> the heavens.\n"
        "Genesis 1:2: <w>The</w> earth was <note>a note</note>formless &amp; empty. "
        "<div eID=\"gen25\" type=\"x-p\"/>\ncontinued line\n(engWEB2015eb)\n");
  write(root / "bible_corpus" / "rv",
        "John 3:16: <w>Porque</w> <w>de tal manera</w> <w>amó</w> \xc2\xbf<w>Qué</w>? "
        "sáca</w><transChange>lo</transChange> fuera.\nJohn 3:17: \xe2\x80\x9c<w>no</w>\xe2\x80\x9d\n"
        "(spaRV1909eb)\n");

  for (const auto& entry : fs::directory_iterator(source / "configs")) {
    if (entry.path().extension() != ".yaml") continue;
    std::ifstream in(entry.path());
    const std::string text(std::istreambuf_iterator<char>(in), {});
    write(root / "config" / entry.path().filename(), text);
    write(root / "config" / (entry.path().stem().string() + "-set.yaml"),
          text + "%%\ntrain.lr=0.5\ngate.k=3\nmodel.n_experts=[1, 2]\n");
  }

  torch::serialize::OutputArchive archive;
  archive.write("step", torch::tensor(7));
  archive.write("weight", torch::randn({3, 2}));
  fs::create_directories(root / "checkpoint");
  moekit::save_archive_atomically(archive, (root / "checkpoint" / "small.pt").string());
  std::cout << "seeds written under " << root.string() << "\n";
  return 0;
}
