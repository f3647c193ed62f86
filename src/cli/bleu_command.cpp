// `moekit bleu REF HYP [--compare HYP_B] [--chrf]`: corpus BLEU as sacreBLEU's
// default computes it; with --compare, a paired bootstrap test of HYP_B
// against HYP (sacreBLEU's --paired-bs).
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "moekit/core/error.h"
#include "moekit/core/lines.h"
#include "moekit/train/bleu.h"
#include "moekit/train/chrf.h"
#include "moekit/train/paired_bootstrap.h"

namespace moekit::cli {
namespace {

struct BleuArgs {
  std::string ref, hyp, compare, smooth = "exp";
  bool score_only = false, chrf = false;
  int64_t resamples = 1000;
  uint64_t seed = 12345;
};

train::BleuSmooth smooth_of(const BleuArgs& args) {
  return args.smooth == "exp" ? train::BleuSmooth::kExp : train::BleuSmooth::kNone;
}

// One row of sentence statistics per line, for the bootstrap.
template <typename Stats>
train::SentenceStats rows_of(const std::vector<std::string>& hyps,
                             const std::vector<std::string>& refs,
                             Stats (*line_stats)(std::string_view, std::string_view),
                             std::vector<double> (*flatten)(const Stats&)) {
  train::SentenceStats rows;
  rows.reserve(hyps.size());
  for (size_t i = 0; i < hyps.size(); ++i) rows.push_back(flatten(line_stats(hyps[i], refs[i])));
  return rows;
}

std::vector<double> flatten_bleu(const train::BleuStats& s) {
  std::vector<double> v{static_cast<double>(s.sys_len), static_cast<double>(s.ref_len)};
  for (int n = 0; n < train::kBleuMaxOrder; ++n) {
    v.push_back(static_cast<double>(s.correct[n]));
    v.push_back(static_cast<double>(s.total[n]));
  }
  return v;
}

train::BleuStats unflatten_bleu(const std::vector<double>& v) {
  train::BleuStats s;
  s.sys_len = static_cast<int64_t>(v[0]);
  s.ref_len = static_cast<int64_t>(v[1]);
  for (int n = 0; n < train::kBleuMaxOrder; ++n) {
    s.correct[n] = static_cast<int64_t>(v[2 + 2 * n]);
    s.total[n] = static_cast<int64_t>(v[3 + 2 * n]);
  }
  return s;
}

std::vector<double> flatten_chrf(const train::ChrfStats& s) {
  std::vector<double> v;
  for (int n = 0; n < train::kChrfMaxOrder; ++n) {
    v.insert(v.end(), {static_cast<double>(s.hyp[n]), static_cast<double>(s.ref[n]),
                       static_cast<double>(s.match[n])});
  }
  return v;
}

train::ChrfStats unflatten_chrf(const std::vector<double>& v) {
  train::ChrfStats s;
  for (int n = 0; n < train::kChrfMaxOrder; ++n) {
    s.hyp[n] = static_cast<int64_t>(v[3 * n]);
    s.ref[n] = static_cast<int64_t>(v[3 * n + 1]);
    s.match[n] = static_cast<int64_t>(v[3 * n + 2]);
  }
  return s;
}

void print_comparison(const std::string& metric, const train::PairedBootstrapResult& r,
                      const BleuArgs& args) {
  std::cout << fmt::format(
      "{}: A = {:.2f}, B = {:.2f}, B - A = {:+.2f}, 95% interval [{:+.2f}, {:+.2f}], p = {:.4f} "
      "(paired bootstrap, {} resamples, seed {})\n",
      metric, r.baseline, r.system, r.difference, r.low, r.high, r.p_value, r.resamples, args.seed);
}

void run_comparison(const BleuArgs& args, const std::vector<std::string>& refs,
                    const std::vector<std::string>& hyps_a) {
  const auto hyps_b = read_lines_like(args.compare, args.ref, refs.size());
  const train::PairedBootstrapOptions options{args.resamples, args.seed};
  const auto smooth = smooth_of(args);
  std::cout << "A = " << args.hyp << ", B = " << args.compare << "\n";
  print_comparison("BLEU",
                   train::paired_bootstrap(
                       rows_of(hyps_a, refs, &train::line_stats, &flatten_bleu),
                       rows_of(hyps_b, refs, &train::line_stats, &flatten_bleu),
                       [smooth](const std::vector<double>& v) {
                         return train::compute_bleu(unflatten_bleu(v), smooth).score;
                       },
                       options),
                   args);
  if (!args.chrf) return;
  print_comparison("chrF2",
                   train::paired_bootstrap(
                       rows_of(hyps_a, refs, &train::chrf_sentence_stats, &flatten_chrf),
                       rows_of(hyps_b, refs, &train::chrf_sentence_stats, &flatten_chrf),
                       [](const std::vector<double>& v) {
                         return train::compute_chrf(unflatten_chrf(v));
                       },
                       options),
                   args);
}

void run_bleu(const BleuArgs& args) {
  const auto smooth = smooth_of(args);
  const auto refs = read_lines(args.ref);
  const auto hyps = read_lines_like(args.hyp, args.ref, refs.size());
  if (!args.compare.empty()) return run_comparison(args, refs, hyps);
  const train::BleuScore score = train::corpus_bleu(hyps, refs, smooth);
  if (args.score_only) {
    std::cout << fmt::format("{:.2f}\n", score.score);
    if (args.chrf) std::cout << fmt::format("{:.2f}\n", train::corpus_chrf(hyps, refs));
    return;
  }
  std::cout << score.format() << "\n" << score.signature() << "\n";
  if (args.chrf) {
    std::cout << fmt::format("chrF2 = {:.2f}\n{}\n", train::corpus_chrf(hyps, refs),
                             train::chrf_signature());
  }
}

}  // namespace

void add_bleu_command(CLI::App& app) {
  auto args = std::make_shared<BleuArgs>();
  auto* cmd = app.add_subcommand(
      "bleu", "Corpus BLEU of HYP against REF (sacreBLEU default: 13a tokens, exp smoothing); "
              "--compare: paired bootstrap test of a second system");
  cmd->add_option("REF", args->ref, "reference, one sentence per line")->required();
  cmd->add_option("HYP", args->hyp, "hypothesis, line i translating line i of REF")->required();
  cmd->add_option("--compare", args->compare,
                  "a second hypothesis file B: paired bootstrap of B against HYP (A)");
  cmd->add_flag("--chrf", args->chrf, "chrF2 too (sacreBLEU's default chrF)");
  cmd->add_option("--resamples", args->resamples, "bootstrap resamples")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "bootstrap seed (sacreBLEU's default)")->capture_default_str();
  cmd->add_option("--smooth", args->smooth, "smoothing of zero n-gram precisions")
      ->check(CLI::IsMember({"exp", "none"}))
      ->capture_default_str();
  cmd->add_flag("--score-only,-b", args->score_only, "print the score only");
  cmd->callback([args] { run_bleu(*args); });
}

}  // namespace moekit::cli
