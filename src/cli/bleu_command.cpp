// `moekit bleu REF HYP`: corpus BLEU as sacreBLEU's default computes it.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "moekit/core/error.h"
#include "moekit/core/lines.h"
#include "moekit/train/bleu.h"

namespace moekit::cli {
namespace {

struct BleuArgs {
  std::string ref, hyp, smooth = "exp";
  bool score_only = false;
};

void run_bleu(const BleuArgs& args) {
  const auto smooth = args.smooth == "exp" ? train::BleuSmooth::kExp : train::BleuSmooth::kNone;
  const auto refs = read_lines(args.ref);
  const auto hyps = read_lines(args.hyp);
  MOEKIT_CHECK(refs.size() == hyps.size(), args.hyp, "{} lines, but the reference {} has {}",
               hyps.size(), args.ref, refs.size());
  const train::BleuScore score = train::corpus_bleu(hyps, refs, smooth);
  if (args.score_only) {
    std::cout << fmt::format("{:.2f}\n", score.score);
  } else {
    std::cout << score.format() << "\n" << score.signature() << "\n";
  }
}

}  // namespace

void add_bleu_command(CLI::App& app) {
  auto args = std::make_shared<BleuArgs>();
  auto* cmd = app.add_subcommand(
      "bleu", "Corpus BLEU of HYP against REF (sacreBLEU default: 13a tokens, exp smoothing)");
  cmd->add_option("REF", args->ref, "reference, one sentence per line")->required();
  cmd->add_option("HYP", args->hyp, "hypothesis, line i translating line i of REF")->required();
  cmd->add_option("--smooth", args->smooth, "smoothing of zero n-gram precisions")
      ->check(CLI::IsMember({"exp", "none"}))
      ->capture_default_str();
  cmd->add_flag("--score-only,-b", args->score_only, "print the score only");
  cmd->callback([args] { run_bleu(*args); });
}

}  // namespace moekit::cli
