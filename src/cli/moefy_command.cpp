// `moekit moefy RUN --experts N --expert-hidden H --shared S --out RUN2`: a
// trained dense translation run split into a MoE run (MoEBERT's
// importance-guided split, train/moefy.h) that translates before any training
// and is the starting point of distillation.
#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "moekit/core/checkpoint.h"
#include "moekit/core/config.h"
#include "moekit/core/error.h"
#include "moekit/data/parallel_corpus.h"
#include "moekit/train/moefy.h"
#include "moekit/train/run_dir.h"
#include "moekit/train/translation_experiment.h"

namespace moekit::cli {
namespace fs = std::filesystem;
namespace {

struct MoefyArgs {
  std::string run, out, weights = "best.pt", moe_layers = "all";
  int64_t experts = 4, expert_hidden = 0, shared = 0, samples = 2000;
};

// The record of how RUN2 was made: arguments, sample size and each split's plan.
std::string moefy_json(const MoefyArgs& args, const train::MoefyResult& r) {
  nlohmann::json splits = nlohmann::json::object();
  for (size_t i = 0; i < r.split.size(); ++i) {
    const at::Tensor plan = r.plans[i].contiguous();
    std::vector<std::vector<int64_t>> rows;
    for (int64_t e = 0; e < plan.size(0); ++e) {
      rows.emplace_back(plan[e].data_ptr<int64_t>(), plan[e].data_ptr<int64_t>() + plan.size(1));
    }
    splits[r.split[i]] = rows;
  }
  const nlohmann::json j = {{"teacher", fs::absolute(args.run).string()},
                            {"teacher_weights", args.weights},
                            {"experts", args.experts},
                            {"expert_hidden", args.expert_hidden},
                            {"shared", args.shared},
                            {"moe_layers", args.moe_layers},
                            {"importance_sentences", r.importance.sentences},
                            {"importance_target_tokens", r.importance.target_tokens},
                            {"expert_units", splits}};
  return j.dump(2) + "\n";
}

void run_moefy(const MoefyArgs& args) {
  const std::string config_path = (fs::path(args.run) / "config.yaml").string();
  MOEKIT_CHECK(fs::exists(config_path), args.run, "not a run directory (no config.yaml)");
  MOEKIT_CHECK(!fs::exists(fs::path(args.out) / "config.yaml"), "--out",
               "{} already holds a run; remove it or choose another directory", args.out);
  Config config = Config::load(config_path);
  const train::TranslationExperiment setup = train::load_translation_experiment(config);
  data::Tokenizer tokenizer(setup.tokenizer_path);
  models::Transformer teacher(setup.model_for(tokenizer));
  MOEKIT_CHECK(!teacher->options.has_moe(), args.run,
               "not a dense run: its model has MoE layers (moefy splits a dense model's FFNs)");
  load_module_weights(*teacher, (fs::path(args.run) / args.weights).string());
  const data::ParallelCorpus corpus =
      data::load_parallel_corpus(tokenizer, setup.data_dir, "train", setup.directions, setup.max_len);

  const auto options = train::MoefyOptions(args.experts, args.expert_hidden)
                           .shared(args.shared)
                           .moe_layers(args.moe_layers)
                           .samples(args.samples)
                           .max_tokens(setup.trainer.max_tokens());
  const train::MoefyResult r = train::moefy(teacher, corpus, options);

  for (const std::string& assignment :
       {"model.moe_layers=" + args.moe_layers, fmt::format("model.n_experts={}", args.experts),
        fmt::format("model.expert_hidden={}", args.expert_hidden), std::string("gate.name=random"),
        std::string("gate.eval_mode=mean")}) {
    config.set(assignment);
  }
  const train::RunDir out(args.out);
  out.create();
  torch::serialize::OutputArchive weights, scores;
  r.student->save(weights);
  for (size_t i = 0; i < r.importance.blocks.size(); ++i) {
    scores.write(r.importance.blocks[i] + ".importance", r.importance.importance[i]);
  }
  out.save(scores, "importance.pt");
  out.write_text("moefy.json", moefy_json(args, r));
  out.save(weights, "best.pt");
  out.write_text("config.yaml", config.dump());
  std::cout << fmt::format(
      "{} -> {}: {} FFNs split into {} experts of {} units ({} shared), importance on {} "
      "sentences; translate it with `moekit translate {}`\n",
      args.run, args.out, r.split.size(), args.experts, args.expert_hidden, args.shared,
      r.importance.sentences, args.out);
}

}  // namespace

void add_moefy_command(CLI::App& app) {
  auto args = std::make_shared<MoefyArgs>();
  auto* cmd = app.add_subcommand(
      "moefy", "Split a dense translation run's FFNs into experts by unit importance (MoEBERT)");
  cmd->add_option("RUN", args->run, "trained dense run directory")->required();
  cmd->add_option("--out", args->out, "new run directory")->required();
  cmd->add_option("--experts", args->experts, "experts per MoE layer")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->add_option("--expert-hidden", args->expert_hidden, "hidden units of each expert")->required()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  cmd->add_option("--shared", args->shared, "most important units every expert keeps")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  cmd->add_option("--samples", args->samples,
                  "training pairs the importance is measured on (0 = all)")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  cmd->add_option("--moe-layers", args->moe_layers, "layers split: all, even, odd or a list")
      ->capture_default_str();
  cmd->add_option("--weights", args->weights, "the teacher's weights file in RUN")->capture_default_str();
  cmd->callback([args] { run_moefy(*args); });
}

}  // namespace moekit::cli
