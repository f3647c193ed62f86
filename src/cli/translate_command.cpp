// `moekit translate RUN` decodes stdin with a trained translation run (training
// is `moekit train`, see train_command.cpp).
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "moekit/core/checkpoint.h"
#include "moekit/core/config.h"
#include "moekit/core/error.h"
#include "moekit/core/parse.h"
#include "moekit/gates/gate.h"
#include "moekit/models/translation.h"
#include "moekit/train/translation_experiment.h"

namespace moekit::cli {
namespace fs = std::filesystem;
namespace {

struct TranslateArgs {
  std::string run;
  int64_t beam = 5;
  std::string expert_mode;
  std::string to = "en";
  std::string weights = "best.pt";
  int64_t max_len = 200;
};

void run_translate(const TranslateArgs& args) {
  const std::string resolved = (fs::path(args.run) / "config.yaml").string();
  MOEKIT_CHECK(fs::exists(resolved), args.run, "not a run directory (no config.yaml)");
  const train::TranslationExperiment setup = train::load_translation_experiment(Config::load(resolved));
  data::Tokenizer tokenizer(setup.tokenizer_path);
  models::TransformerOptions model_options = setup.model_for(tokenizer);
  if (!args.expert_mode.empty()) {
    // A stochastic gate's inference mode decides which experts run at all; the
    // gates that have modes read eval_mode (the registry lists what each reads).
    bool has_modes = false;
    for (const auto& info : gates::registered_gates()) {
      if (info.name != model_options.gate()) continue;
      has_modes = std::find(info.options.begin(), info.options.end(), "eval_mode") !=
                  info.options.end();
    }
    MOEKIT_CHECK(has_modes || !model_options.has_moe(), "--expert-mode",
                 "the '{}' gate has no expert modes (it does not read eval_mode)",
                 model_options.gate());
    gates::GateOptions g = model_options.gate_options();
    if (args.expert_mode == "sample" || args.expert_mode == "mean") {
      g.eval_mode(args.expert_mode);
    } else if (args.expert_mode.rfind("fixed:", 0) == 0) {
      const int64_t i = parse_value<int64_t>(args.expert_mode.substr(6), "--expert-mode");
      MOEKIT_CHECK(i >= 0 && i < model_options.n_experts(), "--expert-mode",
                   "expert {} outside [0, {})", i, model_options.n_experts());
      g.eval_mode("fixed").fixed_expert(i);
    } else {
      throw Error("--expert-mode",
                  fmt::format("expected sample, mean or fixed:I, got '{}'", args.expert_mode));
    }
    model_options.gate_options(g);
  }
  models::Transformer model(model_options);
  load_module_weights(*model, (fs::path(args.run) / args.weights).string());
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(std::cin, line)) lines.push_back(line);
  torch::manual_seed(setup.trainer.seed());
  for (const auto& out :
       models::translate_lines(model, tokenizer, lines, args.to, args.beam, args.max_len)) {
    std::cout << out << "\n";
  }
}

}  // namespace

void add_translate_commands(CLI::App& app) {
  auto targs = std::make_shared<TranslateArgs>();
  auto* tr = app.add_subcommand("translate", "Translate stdin lines with a trained run");
  tr->add_option("run", targs->run, "run directory")->required();
  tr->add_option("--beam", targs->beam, "beam size (1 = greedy)")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  tr->add_option("--expert-mode", targs->expert_mode, "random gate: sample | fixed:I | mean");
  tr->add_option("--to", targs->to, "target language code (en, es, or any language of the run's directions)")->capture_default_str();
  tr->add_option("--weights", targs->weights, "weights file in RUN")->capture_default_str();
  tr->add_option("--max-len", targs->max_len, "most tokens per output")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  tr->callback([targs] { run_translate(*targs); });
}

}  // namespace moekit::cli
