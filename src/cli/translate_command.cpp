// `moekit train-mt CONFIG.yaml [--set k=v] [--out RUN] [--resume]` trains a bidirectional
// MoE Transformer (THOR when the gate is random); `moekit translate RUN` decodes stdin.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "moekit/core/checkpoint.h"
#include "moekit/core/config.h"
#include "moekit/core/error.h"
#include "moekit/core/parse.h"
#include "moekit/dist/expert_parallel.h"
#include "moekit/dist/process_group.h"
#include "moekit/gates/gate.h"
#include "moekit/models/translation.h"
#include "moekit/train/experiment.h"
#include "moekit/train/translation_trainer.h"

namespace moekit::cli {
namespace fs = std::filesystem;
namespace {

// Everything a translation run needs, read from its config.
struct MtSetup {
  std::string data_dir, tokenizer_path;
  std::vector<std::pair<std::string, std::string>> directions;
  int64_t max_len = 128;
  models::TransformerOptions model{1};
  train::TranslationTrainerOptions trainer;
};

MtSetup load_mt_setup(const Config& config) {
  MtSetup s;
  const Config data = config.section("data");
  s.data_dir = data.require<std::string>("dir");
  s.tokenizer_path =
      data.get<std::string>("tokenizer", (fs::path(s.data_dir) / "spm.model").string());
  s.directions = data::parse_directions(data.get<std::string>("directions", "es-en,en-es"),
                                         data.where("directions"));
  s.max_len = data.get<int64_t>("max_len", s.max_len);
  MOEKIT_CHECK(s.max_len >= 2, data.where("max_len"), "must be >= 2, got {}", s.max_len);

  const Config model = config.section("model");
  auto& m = s.model;
  m.d_model(model.get<int64_t>("d_model", 256))
      .ffn_hidden(model.get<int64_t>("ffn_hidden", 512))
      .heads(model.get<int64_t>("heads", 4))
      .encoder_layers(model.get<int64_t>("encoder_layers", 3))
      .decoder_layers(model.get<int64_t>("decoder_layers", 3))
      .dropout(model.get<double>("dropout", 0.1))
      .pre_norm(model.get<bool>("pre_norm", true))
      .learned_positions(model.get<bool>("learned_positions", false))
      .moe_every(model.get<int64_t>("moe_every", 2))
      .n_experts(model.get<int64_t>("n_experts", 2));
  auto [gate_name, gate_options] = train::gate_from_config(config.section("gate"));
  m.gate(gate_name).gate_options(gate_options);

  const Config tr = config.section("train");
  auto& t = s.trainer;
  t.lr(tr.get<double>("lr", t.lr()))
      .warmup_steps(tr.get<int64_t>("warmup_steps", t.warmup_steps()))
      .weight_decay(tr.get<double>("weight_decay", t.weight_decay()))
      .clip_norm(tr.get<double>("clip_norm", t.clip_norm()))
      .max_tokens(tr.get<int64_t>("max_tokens", t.max_tokens()))
      .max_steps(tr.get<int64_t>("max_steps", t.max_steps()))
      .eval_every(tr.get<int64_t>("eval_every", t.eval_every()))
      .log_every(tr.get<int64_t>("log_every", t.log_every()))
      .bleu_sentences(tr.get<int64_t>("bleu_sentences", t.bleu_sentences()))
      .max_decode_len(tr.get<int64_t>("max_decode_len", t.max_decode_len()))
      .best_metric(tr.get<std::string>("best_metric", t.best_metric()))
      // THOR by default for the stochastic gate; any gate may switch it on.
      .consistency(tr.get<bool>("consistency", gate_name == "random"))
      .consistency_alpha(tr.get<double>("consistency_alpha", t.consistency_alpha()))
      .label_smoothing(tr.get<double>("label_smoothing", t.label_smoothing()))
      .seed(tr.get<int64_t>("seed", t.seed()));
  config.check_all_used();
  try {
    t.validate();
  } catch (const Error& e) {
    throw Error(config.where(), e.message());
  }
  return s;
}

// The tokenizer's special ids and vocabulary go into the model options.
void bind_tokenizer(models::TransformerOptions& m, const data::Tokenizer& tok) {
  m.vocab_size(tok.vocab_size()).pad_id(tok.pad_id()).bos_id(tok.bos_id()).eos_id(tok.eos_id());
  try {
    m.validate();
  } catch (const Error& e) {
    throw Error("model", e.message());
  }
}

struct TrainMtArgs {
  std::string config;
  std::vector<std::string> sets;
  std::string out;
  bool resume = false;
};

void run_train_mt(const TrainMtArgs& args) {
  const std::string run =
      args.out.empty() ? (fs::path("runs") / fs::path(args.config).stem()).string() : args.out;
  const std::string resolved = (fs::path(run) / "config.yaml").string();
  // A resumed run continues under the config it started with.
  Config config = Config::load(args.resume && fs::exists(resolved) ? resolved : args.config);
  for (const auto& s : args.sets) config.set(s);
  MtSetup setup = load_mt_setup(config);
  data::Tokenizer tokenizer(setup.tokenizer_path);
  bind_tokenizer(setup.model, tokenizer);
  // Under `moekit launch` (or torchrun-style variables) this process is one rank.
  const std::shared_ptr<dist::Group> group = dist::default_group();
  const bool writer = group->rank() == 0;
  fs::create_directories(run);
  if (writer) write_text_atomically(resolved, config.dump());

  const auto train =
      data::load_parallel_corpus(tokenizer, setup.data_dir, "train", setup.directions, setup.max_len);
  const auto valid =
      data::load_parallel_corpus(tokenizer, setup.data_dir, "valid", setup.directions, setup.max_len);
  if (writer) spdlog::info("{} train pairs, {} valid pairs, vocabulary {}", train.pairs.size(),
               valid.pairs.size(), tokenizer.vocab_size());

  torch::manual_seed(setup.trainer.seed());
  models::Transformer model(setup.model);
  dist::broadcast_module(*group, *model);
  dist::shard_moe_experts(group, *model);
  train::TranslationTrainer trainer(model, tokenizer, setup.trainer.run_dir(run), group);
  const auto start = std::chrono::steady_clock::now();
  const auto fit = trainer.fit(train, valid, args.resume);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::ordered_json results;
  results["steps"] = fit.steps;
  results["best_step"] = fit.best_step;
  results["best_metric"] = setup.trainer.best_metric();
  results["best_valid_bleu"] = fit.best_bleu;
  results["best_valid_loss"] = fit.best_loss;
  results["last_train_loss"] = fit.last_train_loss;
  results["train_seconds"] = seconds;
  results["world_size"] = group->world_size();
  if (!writer) return;
  write_text_atomically((fs::path(run) / "results.json").string(), results.dump(2) + "\n");
  std::cout << results.dump(2) << "\n";
}

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
  MtSetup setup = load_mt_setup(Config::load(resolved));
  data::Tokenizer tokenizer(setup.tokenizer_path);
  bind_tokenizer(setup.model, tokenizer);
  if (!args.expert_mode.empty()) {
    // A stochastic gate's inference mode decides which experts run at all; the
    // gates that have modes read eval_mode (the registry lists what each reads).
    bool has_modes = false;
    for (const auto& info : gates::registered_gates()) {
      if (info.name != setup.model.gate()) continue;
      has_modes = std::find(info.options.begin(), info.options.end(), "eval_mode") !=
                  info.options.end();
    }
    MOEKIT_CHECK(has_modes || setup.model.moe_every() == 0, "--expert-mode",
                 "the '{}' gate has no expert modes (it does not read eval_mode)",
                 setup.model.gate());
    gates::GateOptions g = setup.model.gate_options();
    if (args.expert_mode == "sample" || args.expert_mode == "mean") {
      g.eval_mode(args.expert_mode);
    } else if (args.expert_mode.rfind("fixed:", 0) == 0) {
      const int64_t i = parse_value<int64_t>(args.expert_mode.substr(6), "--expert-mode");
      MOEKIT_CHECK(i >= 0 && i < setup.model.n_experts(), "--expert-mode",
                   "expert {} outside [0, {})", i, setup.model.n_experts());
      g.eval_mode("fixed").fixed_expert(i);
    } else {
      throw Error("--expert-mode",
                  fmt::format("expected sample, mean or fixed:I, got '{}'", args.expert_mode));
    }
    setup.model.gate_options(g);
  }
  models::Transformer model(setup.model);
  std::string weights = (fs::path(args.run) / args.weights).string();
  torch::serialize::InputArchive archive;
  load_archive(archive, weights);
  try {
    model->load(archive);
  } catch (const c10::Error& e) {
    throw Error(weights, "does not match the run's config: " +
                             std::string(e.what_without_backtrace()));
  }
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
  auto args = std::make_shared<TrainMtArgs>();
  auto* cmd = app.add_subcommand("train-mt", "Train a translation model (THOR) from a YAML config");
  cmd->add_option("config", args->config, "translation config (YAML)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", args->sets, "override a config key: section.key=value (repeatable)");
  cmd->add_option("--out", args->out, "run directory (default runs/<config name>)");
  cmd->add_flag("--resume", args->resume, "continue from RUN/checkpoint.pt");
  cmd->callback([args] { run_train_mt(*args); });

  auto targs = std::make_shared<TranslateArgs>();
  auto* tr = app.add_subcommand("translate", "Translate stdin lines with a trained run");
  tr->add_option("run", targs->run, "run directory")->required();
  tr->add_option("--beam", targs->beam, "beam size (1 = greedy)")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  tr->add_option("--expert-mode", targs->expert_mode, "random gate: sample | fixed:I | mean");
  tr->add_option("--to", targs->to, "target language (en | es)")->capture_default_str();
  tr->add_option("--weights", targs->weights, "weights file in RUN")->capture_default_str();
  tr->add_option("--max-len", targs->max_len, "most tokens per output")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  tr->callback([targs] { run_translate(*targs); });
}

}  // namespace moekit::cli
