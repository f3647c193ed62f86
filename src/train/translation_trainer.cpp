#include "moekit/train/translation_trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "moekit/core/checkpoint.h"
#include "moekit/core/error.h"
#include "moekit/core/lines.h"
#include "moekit/gates/gate.h"
#include "moekit/dist/data_parallel.h"
#include "moekit/dist/expert_parallel.h"
#include "moekit/dist/full_state.h"
#include "moekit/models/translation.h"
#include "moekit/train/bleu.h"
#include "moekit/train/stop_signal.h"
#include "moekit/train/synchronized_step.h"
#include "moekit/train/thor_loss.h"

namespace moekit::train {

void TranslationTrainerOptions::validate() const {
  MOEKIT_CHECK(lr_ > 0, "train.lr", "must be > 0, got {}", lr_);
  MOEKIT_CHECK(warmup_steps_ >= 1, "train.warmup_steps", "must be >= 1, got {}", warmup_steps_);
  MOEKIT_CHECK(weight_decay_ >= 0, "train.weight_decay", "must be >= 0, got {}", weight_decay_);
  MOEKIT_CHECK(max_tokens_ >= 1, "train.max_tokens", "must be >= 1, got {}", max_tokens_);
  MOEKIT_CHECK(update_freq_ >= 1, "train.update_freq", "must be >= 1, got {}", update_freq_);
  MOEKIT_CHECK(max_steps_ >= 1, "train.max_steps", "must be >= 1, got {}", max_steps_);
  MOEKIT_CHECK(eval_every_ >= 1, "train.eval_every", "must be >= 1, got {}", eval_every_);
  MOEKIT_CHECK(log_every_ >= 1, "train.log_every", "must be >= 1, got {}", log_every_);
  MOEKIT_CHECK(bleu_sentences_ >= 0, "train.bleu_sentences", "must be >= 0, got {}",
               bleu_sentences_);
  MOEKIT_CHECK(max_decode_len_ >= 1, "train.max_decode_len", "must be >= 1, got {}",
               max_decode_len_);
  MOEKIT_CHECK(best_metric_ == "bleu" || best_metric_ == "loss", "train.best_metric",
               "must be bleu or loss, got '{}'", best_metric_);
  MOEKIT_CHECK(consistency_alpha_ >= 0, "train.consistency_alpha", "must be >= 0, got {}",
               consistency_alpha_);
  MOEKIT_CHECK(label_smoothing_ >= 0 && label_smoothing_ < 1, "train.label_smoothing",
               "must be in [0, 1), got {}", label_smoothing_);
}

namespace {

// The sentences of a batch that this rank runs (see dist::BatchShare::run_size).
std::vector<int64_t> sentences_to_run(const std::vector<int64_t>& indices,
                                      const dist::BatchShare& share) {
  const auto first = indices.begin() + share.run_begin();
  return {first, first + share.run_size()};
}

}  // namespace

TranslationTrainer::TranslationTrainer(models::Transformer model, data::Tokenizer tokenizer,
                                       TranslationTrainerOptions options,
                                       std::shared_ptr<dist::Group> group)
    : model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      options_(std::move(options)),
      group_(group ? std::move(group) : std::make_shared<dist::Group>()),
      run_(options_.run_dir(), group_->rank() == 0) {
  options_.validate();
  dist::seed_rank_generator(*group_, options_.seed());
  optimizer_ = std::make_unique<torch::optim::Adam>(model_->parameters(),
                                                    torch::optim::AdamOptions(options_.lr())
                                                        .betas(std::make_tuple(0.9, 0.98))
                                                        .eps(1e-8)
                                                        .weight_decay(options_.weight_decay()));
}

TranslationTrainer::~TranslationTrainer() = default;

void TranslationTrainer::set_teacher(models::Transformer teacher, DistillOptions options) {
  options.validate();
  check_teacher(teacher->options, model_->options, "distill.teacher");
  teacher->eval();
  for (auto& p : teacher->parameters()) p.set_requires_grad(false);
  teacher->keep_hidden_states = true;
  teacher_ = std::move(teacher);
  distill_ = std::move(options);
}

at::Tensor TranslationTrainer::batch_loss(const data::PaddedBatch& batch) {
  const auto& o = model_->options;
  model_->keep_hidden_states = !teacher_.is_empty();
  // One pass (CE + MoE aux loss), or THOR's two passes and consistency term.
  std::vector<models::TransformerOutput> outs = {model_->forward(batch.src, batch.tgt_in)};
  at::Tensor loss;
  if (!options_.consistency()) {
    loss = label_smoothed_cross_entropy(outs[0].logits, batch.tgt_out, o.pad_id(),
                                        options_.label_smoothing()) +
           outs[0].aux_loss;
  } else {
    outs.push_back(model_->forward(batch.src, batch.tgt_in));
    loss = thor_loss(outs[0].logits, outs[1].logits, batch.tgt_out, o.pad_id(),
                     options_.consistency_alpha(), options_.label_smoothing())
               .total +
           0.5 * (outs[0].aux_loss + outs[1].aux_loss);
  }
  model_->keep_hidden_states = false;
  if (teacher_.is_empty()) return loss;
  models::TransformerOutput taught;
  {
    torch::NoGradGuard no_grad;
    taught = teacher_->forward(batch.src, batch.tgt_in);
  }
  const at::Tensor src_valid = batch.src.ne(o.pad_id()), tgt_valid = batch.tgt_out.ne(o.pad_id());
  // THOR's loss sums the two passes' CE: each pass is distilled alike.
  for (const auto& out : outs) {
    loss = loss + distillation_terms(out, taught, src_valid, tgt_valid, distill_).total;
  }
  return loss;
}

void TranslationTrainer::set_learning_rate() {
  const double s = static_cast<double>(step_ + 1);
  const double w = static_cast<double>(options_.warmup_steps());
  const double lr = options_.lr() * std::min(s / w, std::sqrt(w / s));
  for (auto& group : optimizer_->param_groups()) {
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
  }
}

double TranslationTrainer::validation_loss(const data::ParallelCorpus& valid) {
  if (valid.pairs.empty()) return 0.0;
  torch::NoGradGuard no_grad;
  const bool was_training = model_->is_training();
  model_->eval();
  const auto& o = model_->options;
  double sum = 0;
  int64_t tokens = 0;
  for (const auto& indices : data::make_token_batches(valid.pairs, options_.max_tokens(), 0)) {
    // Each rank its share of the sentences (a rank without any runs one, uncounted).
    const dist::BatchShare share = dist::batch_share(static_cast<int64_t>(indices.size()), *group_);
    const auto batch = data::collate(valid.pairs, sentences_to_run(indices, share), o.pad_id(),
                                     o.bos_id(), o.eos_id());
    const auto out = model_->forward(batch.src, batch.tgt_in);
    if (share.size == 0) continue;
    const at::Tensor ce = label_smoothed_cross_entropy(out.logits, batch.tgt_out, o.pad_id(), 0.0);
    sum += ce.item<double>() * static_cast<double>(batch.tgt_tokens);
    tokens += batch.tgt_tokens;
  }
  model_->train(was_training);
  std::vector<double> totals = {sum, static_cast<double>(tokens)};
  dist::all_reduce_sum(*group_, totals);
  return totals[0] / totals[1];
}

double TranslationTrainer::validation_bleu(const data::ParallelCorpus& valid) {
  const int64_t n = std::min<int64_t>(options_.bleu_sentences(), valid.pairs.size());
  if (n == 0) return 0.0;
  std::vector<std::vector<int64_t>> sources;
  std::vector<std::string> refs;
  // Evenly spread, so every direction (stored one after the other) is represented.
  for (int64_t k = 0; k < n; ++k) {
    const size_t i = static_cast<size_t>(k * static_cast<int64_t>(valid.pairs.size()) / n);
    sources.push_back(valid.pairs[i].src);
    refs.push_back(valid.references[i]);
  }
  // Decoding runs a data-dependent number of steps: with the whole model every
  // rank decodes alone, and all take rank 0's score (random experts may differ).
  models::Transformer decoder = whole_model();
  const auto hyps =
      models::decode_sources(decoder, tokenizer_, sources, 1, options_.max_decode_len());
  std::vector<double> score = {group_->rank() == 0 ? corpus_bleu(hyps, refs).score : 0.0};
  dist::all_reduce_sum(*group_, score);
  return score[0];
}

models::Transformer TranslationTrainer::whole_model() {
  if (!group_->is_distributed()) return model_;
  torch::serialize::OutputArchive out;
  dist::save_full_state(*group_, *model_, nullptr, out, nullptr);
  std::stringstream bytes;
  out.save_to(bytes);
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  // Building draws an initialisation: keep the training stream as it was.
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  const at::Tensor rng = gen.get_state();
  models::Transformer whole(model_->options);
  gen.set_state(rng);
  whole->load(in);
  whole->train(model_->is_training());
  return whole;
}

bool TranslationTrainer::restore_best() {
  if (!run_.enabled() || !std::filesystem::exists(run_.best_path())) return false;
  torch::serialize::InputArchive archive;
  load_archive(archive, run_.best_path());
  dist::load_full_state(*model_, nullptr, archive, nullptr, run_.best_path());
  return true;
}

void TranslationTrainer::save_best() {
  torch::serialize::OutputArchive archive;
  dist::save_full_state(*group_, *model_, nullptr, archive, nullptr);
  run_.save(archive, "best.pt");
}

void TranslationTrainer::save_checkpoint(int64_t epoch, int64_t batch_in_epoch, double best,
                                         int64_t best_step, double window_loss,
                                         int64_t window_steps) {
  torch::serialize::OutputArchive archive, model_archive, optim_archive;
  dist::save_full_state(*group_, *model_, optimizer_.get(), model_archive, &optim_archive);
  const at::Tensor rng = dist::gather_generator_states(*group_);
  archive.write("model", model_archive);
  archive.write("optimizer", optim_archive);
  archive.write("step", torch::tensor(step_));
  archive.write("epoch", torch::tensor(epoch));
  archive.write("batch_in_epoch", torch::tensor(batch_in_epoch));
  archive.write("best", torch::tensor(best, torch::kDouble));
  archive.write("best_step", torch::tensor(best_step));
  archive.write("window_loss", torch::tensor(window_loss, torch::kDouble));
  archive.write("window_steps", torch::tensor(window_steps));
  archive.write("rng", rng);
  run_.save(archive, "checkpoint.pt");
}

TranslationFitResult TranslationTrainer::fit(const data::ParallelCorpus& train,
                                             const data::ParallelCorpus& valid, bool resume) {
  MOEKIT_CHECK(!train.pairs.empty(), "train", "the training split is empty");
  const StopSignalScope stop_scope;
  // Every rank reads the checkpoint; rank 0 alone writes files and logs.
  const bool write = run_.enabled(), writer = run_.writer();
  const bool higher_better = options_.best_metric() == "bleu";
  int64_t epoch = 0, batch_in_epoch = 0, best_step = 0;
  // The train-loss window of metrics.jsonl: saved too, so a stop between two log
  // lines resumes to the same line.
  double window_loss = 0;
  int64_t window_steps = 0;
  double best = higher_better ? -1.0 : std::numeric_limits<double>::infinity();
  run_.create();
  if (resume) {
    MOEKIT_CHECK(write, "train.run_dir", "--resume needs a run directory");
    const std::string path = run_.checkpoint_path();
    torch::serialize::InputArchive archive, model_archive, optim_archive;
    load_archive(archive, path);
    auto read = [&](const char* key) {
      at::Tensor t;
      archive.read(key, t);
      return t;
    };
    try {
      archive.read("model", model_archive);
      archive.read("optimizer", optim_archive);
      dist::load_full_state(*model_, optimizer_.get(), model_archive, &optim_archive, path);
      step_ = read("step").item<int64_t>();
      epoch = read("epoch").item<int64_t>();
      batch_in_epoch = read("batch_in_epoch").item<int64_t>();
      best = read("best").item<double>();
      best_step = read("best_step").item<int64_t>();
      dist::restore_generator_state(*group_, read("rng"));
      // Absent in checkpoints written before stops could fall between log lines.
      at::Tensor wl, ws;
      if (archive.try_read("window_loss", wl)) window_loss = wl.item<double>();
      if (archive.try_read("window_steps", ws)) window_steps = ws.item<int64_t>();
    } catch (const c10::Error& e) {
      throw Error(path, "not a translation checkpoint matching this config: " +
                            std::string(e.what_without_backtrace()));
    }
    run_.truncate_metrics("step", step_);
    if (writer) spdlog::info("resumed from {} at step {}", path, step_);
  } else {
    run_.start_metrics();
  }

  const auto& o = model_->options;
  model_->train();
  TranslationFitResult result;
  int64_t window_tokens = 0;
  auto window_start = std::chrono::steady_clock::now();
  auto log_metrics = [&](const nlohmann::ordered_json& j) { run_.append_metrics(j.dump()); };

  // Schedules given in epochs (local search's search_epochs) count the batches
  // of the first epoch, so a resumed run derives the same step budget.
  const auto first_epoch_batches = static_cast<int64_t>(
      data::make_token_batches(train.pairs, options_.max_tokens(),
                               static_cast<uint64_t>(options_.seed()) * 1000003ULL)
          .size());
  gates::set_gate_steps_per_epoch(
      *model_, (first_epoch_batches + options_.update_freq() - 1) / options_.update_freq());
  while (step_ < options_.max_steps()) {
    // The batch order of an epoch depends only on (seed, epoch), so resuming mid-epoch
    // replays the same order.
    const auto batches = data::make_token_batches(
        train.pairs, options_.max_tokens(),
        static_cast<uint64_t>(options_.seed()) * 1000003ULL + static_cast<uint64_t>(epoch));
    const auto n_batches = static_cast<int64_t>(batches.size());
    while (batch_in_epoch < n_batches && step_ < options_.max_steps()) {
      // One optimiser step accumulates update_freq consecutive batches (fewer at
      // the end of an epoch), each weighted by its share of the target tokens, so
      // that the step is the one a single batch of all of them would take.
      const int64_t group_end = std::min(batch_in_epoch + options_.update_freq(), n_batches);
      std::vector<data::PaddedBatch> micro;
      std::vector<bool> runs;  // whether this rank has sentences of the batch
      std::vector<double> tokens;  // per batch: target tokens, all tokens (whole batch)
      for (int64_t b = batch_in_epoch; b < group_end; ++b) {
        const auto& indices = batches[b];
        const dist::BatchShare share =
            dist::batch_share(static_cast<int64_t>(indices.size()), *group_);
        micro.push_back(data::collate(train.pairs, sentences_to_run(indices, share), o.pad_id(),
                                      o.bos_id(), o.eos_id()));
        runs.push_back(share.size > 0);
        tokens.push_back(share.size ? static_cast<double>(micro.back().tgt_tokens) : 0.0);
        tokens.push_back(
            share.size ? static_cast<double>(micro.back().src_tokens + micro.back().tgt_tokens)
                       : 0.0);
      }
      dist::all_reduce_sum(*group_, tokens);
      double target_tokens = 0, all_tokens = 0;
      for (size_t k = 0; k < micro.size(); ++k) {
        target_tokens += tokens[2 * k];
        all_tokens += tokens[2 * k + 1];
      }
      const std::string where = fmt::format("step {} (epoch {}, batch {})", step_ + 1, epoch,
                                            group_end - batch_in_epoch > 1
                                                ? fmt::format("{}-{}", batch_in_epoch + 1, group_end)
                                                : std::to_string(group_end));
      set_learning_rate();
      optimizer_->zero_grad();
      double earlier_loss = 0;
      SynchronizedStep agreed;
      for (size_t k = 0; k < micro.size(); ++k) {
        // The loss is a per-target-token mean, so a batch (and a rank's share of
        // it) weighs as its target tokens.
        const double weight = runs[k] ? micro[k].tgt_tokens / target_tokens : 0.0;
        const at::Tensor loss = batch_loss(micro[k]);
        if (k + 1 < micro.size()) {
          earlier_loss += accumulate_gradients(*group_, loss, weight);
        } else {
          agreed = backward_and_agree(*group_, *model_, loss, weight, where,
                                      " (lower train.lr or raise train.warmup_steps)",
                                      earlier_loss);
        }
      }
      batch_in_epoch = group_end;
      const double value = agreed.loss;
      if (options_.clip_norm() > 0) dist::clip_grad_norm(*group_, *model_, options_.clip_norm());
      optimizer_->step();
      gates::step_gate_schedules(*model_);  // schedules count optimiser steps
      ++step_;
      result.last_train_loss = value;
      window_loss += value;
      ++window_steps;
      window_tokens += static_cast<int64_t>(all_tokens);

      if (step_ % options_.log_every() == 0 || step_ == options_.max_steps()) {
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start).count();
        const double lr =
            static_cast<torch::optim::AdamOptions&>(optimizer_->param_groups()[0].options()).lr();
        const double eta = seconds / window_steps * (options_.max_steps() - step_);
        if (writer)
          spdlog::info("step {}/{} epoch {} loss {:.4f} lr {:.2e} {:.0f} tokens/s ETA {:.0f}s",
                       step_, options_.max_steps(), epoch, window_loss / window_steps, lr,
                       window_tokens / std::max(seconds, 1e-9), eta);
        nlohmann::ordered_json j;
        j["step"] = step_;
        j["epoch"] = epoch;
        j["train_loss"] = window_loss / window_steps;
        j["last_loss"] = value;
        j["lr"] = lr;
        j["tokens_per_s"] = window_tokens / std::max(seconds, 1e-9);
        log_metrics(j);
        window_loss = 0;
        window_steps = window_tokens = 0;
        window_start = std::chrono::steady_clock::now();
      }
      if (step_ % options_.eval_every() == 0 || step_ == options_.max_steps()) {
        const double vloss = validation_loss(valid);
        const double bleu = validation_bleu(valid);
        const double metric = higher_better ? bleu : vloss;
        const bool improved = higher_better ? metric > best : metric < best;
        if (writer)
          spdlog::info("step {} valid loss {:.4f} BLEU {:.2f}{}", step_, vloss, bleu,
                       improved ? " (best)" : "");
        nlohmann::ordered_json j;
        j["step"] = step_;
        j["valid_loss"] = vloss;
        j["valid_bleu"] = bleu;
        log_metrics(j);
        if (improved) {
          best = metric;
          best_step = step_;
          result.best_bleu = bleu;
          result.best_loss = vloss;
          if (write) save_best();
        }
        if (write) {
          save_checkpoint(epoch, batch_in_epoch, best, best_step, window_loss, window_steps);
        }
      }
      if (const int sig = agreed.stop_signal; sig != 0 && step_ < options_.max_steps()) {
        std::string saved;
        if (write) {
          save_checkpoint(epoch, batch_in_epoch, best, best_step, window_loss, window_steps);
          saved = run_.checkpoint_path();
        }
        throw Interrupted(sig, saved, fmt::format("step {}", step_));
      }
    }
    if (batch_in_epoch >= static_cast<int64_t>(batches.size())) {
      ++epoch;
      batch_in_epoch = 0;
    }
  }
  result.steps = step_;
  result.best_step = best_step;
  if (higher_better) {
    result.best_bleu = best;
  } else {
    result.best_loss = best;
  }
  return result;
}

}  // namespace moekit::train
