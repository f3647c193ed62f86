// `moekit chrf REF HYP`: corpus chrF2 as sacreBLEU's default computes it.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "moekit/core/lines.h"
#include "moekit/train/chrf.h"

namespace moekit::cli {

void add_chrf_command(CLI::App& app) {
  struct Args {
    std::string ref, hyp;
    bool score_only = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "chrf", "Corpus chrF2 of HYP against REF (sacreBLEU default: character 6-grams, beta 2)");
  cmd->add_option("REF", args->ref, "reference, one sentence per line")->required();
  cmd->add_option("HYP", args->hyp, "hypothesis, line i translating line i of REF")->required();
  cmd->add_flag("--score-only,-b", args->score_only, "print the score only");
  cmd->callback([args] {
    const auto refs = read_lines(args->ref);
    const auto hyps = read_lines_like(args->hyp, args->ref, refs.size());
    const double score = train::corpus_chrf(hyps, refs);
    if (args->score_only) {
      std::cout << fmt::format("{:.2f}\n", score);
    } else {
      std::cout << fmt::format("chrF2 = {:.2f}\n{}\n", score, train::chrf_signature());
    }
  });
}

}  // namespace moekit::cli
