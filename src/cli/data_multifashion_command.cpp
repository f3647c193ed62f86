// `moekit data multifashion`: builds the two-image MultiFashionMNIST from the
// installed Fashion-MNIST files and writes the checked cache to --out.
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "moekit/data/multi_fashion_mnist.h"

namespace moekit::cli {
namespace {

struct MultifashionArgs {
  std::string out = "data/multifashion";
  std::string source = "/usr/share/datasets/fashion-mnist";
  int64_t seed = 0;
  double valid_fraction = 0.1;
};

void run_multifashion(const MultifashionArgs& args) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const auto data = data::build_multi_fashion_mnist(data::MultiFashionMNISTOptions()
                                                        .source_dir(args.source)
                                                        .seed(args.seed)
                                                        .valid_fraction(args.valid_fraction));
  const auto built = clock::now();
  data::save_multi_fashion_mnist(data, args.out);
  const auto saved = clock::now();
  auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  std::cout << fmt::format("MultiFashionMNIST (seed {}) from {} -> {}\n", args.seed, args.source, args.out);
  const std::pair<const char*, const data::MultiFashionSplit*> splits[] = {
      {"train", &data.train}, {"valid", &data.valid}, {"test", &data.test}};
  for (const auto& [name, split] : splits) {
    const std::string path = args.out + "/" + name + ".mfmnist";
    std::cout << fmt::format("  {:<5} {:>6} pairs of 36x36  {:>6.1f} MB  {}\n", name, split->size(),
                             double(std::filesystem::file_size(path)) / 1e6, path);
  }
  std::cout << fmt::format("built in {:.2f} s, written in {:.2f} s\n", secs(start, built), secs(built, saved));
}

}  // namespace

void add_data_multifashion_command(CLI::App& app) {
  auto args = std::make_shared<MultifashionArgs>();
  auto* cmd = data_command(app)->add_subcommand(
      "multifashion", "Build two-image 36x36 MultiFashionMNIST from the Fashion-MNIST files");
  cmd->add_option("--out", args->out, "output folder")->capture_default_str();
  cmd->add_option("--source", args->source, "folder with the gzip'd Fashion-MNIST IDX files")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "seed of the validation hold-out and the pairing")
      ->capture_default_str();
  cmd->add_option("--valid-fraction", args->valid_fraction, "share of train images held out")
      ->capture_default_str();
  cmd->callback([args] { run_multifashion(*args); });
}

}  // namespace moekit::cli
