#include "moekit/train/multi_task_trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "moekit/core/checkpoint.h"
#include "moekit/core/error.h"
#include "moekit/gates/gate.h"
#include "moekit/dist/data_parallel.h"
#include "moekit/dist/expert_parallel.h"
#include "moekit/dist/full_state.h"
#include "moekit/models/task_kind.h"
#include "moekit/train/stop_signal.h"
#include "moekit/train/synchronized_step.h"

namespace moekit::train {
namespace fs = std::filesystem;

void TrainerOptions::validate() const {
  MOEKIT_CHECK(lr_ > 0, "train.lr", "must be > 0, got {}", lr_);
  MOEKIT_CHECK(batch_size_ >= 1, "train.batch_size", "must be >= 1, got {}", batch_size_);
  MOEKIT_CHECK(epochs_ >= 1, "train.epochs", "must be >= 1, got {}", epochs_);
  MOEKIT_CHECK(patience_ >= 1, "train.patience", "must be >= 1, got {}", patience_);
  MOEKIT_CHECK(weight_decay_ >= 0, "train.weight_decay", "must be >= 0, got {}", weight_decay_);
  for (double w : task_weights_) {
    MOEKIT_CHECK(w >= 0, "train.task_weights", "weights must be >= 0, got {}", w);
  }
  MOEKIT_CHECK(consistency_alpha_ >= 0, "train.consistency_alpha", "must be >= 0, got {}",
               consistency_alpha_);
}

double Metrics::get(const std::string& name) const {
  if (name == "loss") return loss;
  if (name == "active_experts") return active_experts;
  for (const auto& [key, value] : values) {
    if (key == name) return value;
  }
  throw Error("metric", fmt::format("no metric named '{}'", name));
}

MultiTaskTrainer::MultiTaskTrainer(models::MultiTaskModel model, TrainerOptions options,
                                   std::shared_ptr<dist::Group> group)
    : model_(std::move(model)),
      options_(std::move(options)),
      group_(group ? std::move(group) : std::make_shared<dist::Group>()),
      run_(options_.run_dir(), group_->rank() == 0) {
  options_.validate();
  const size_t tasks = model_->options.tasks().size();
  MOEKIT_CHECK(options_.task_weights().empty() || options_.task_weights().size() == tasks,
               "train.task_weights", "gives {} weights for {} tasks",
               options_.task_weights().size(), tasks);
  dist::seed_rank_generator(*group_, options_.seed());
  optimizer_ = std::make_unique<torch::optim::Adam>(
      model_->parameters(),
      torch::optim::AdamOptions(options_.lr()).weight_decay(options_.weight_decay()));
}


void MultiTaskTrainer::save_checkpoint(const Progress& p) {
  torch::serialize::OutputArchive archive, model_archive, optim_archive;
  dist::save_full_state(*group_, *model_, optimizer_.get(), model_archive, &optim_archive);
  const at::Tensor rng = dist::gather_generator_states(*group_);
  archive.write("model", model_archive);
  archive.write("optimizer", optim_archive);
  archive.write("epoch", torch::tensor(p.epoch));
  archive.write("batch", torch::tensor(p.batch));
  archive.write("loss_sum", torch::tensor(p.loss_sum, torch::kDouble));
  archive.write("best_loss", torch::tensor(p.best_loss, torch::kDouble));
  archive.write("best_epoch", torch::tensor(p.best_epoch));
  archive.write("bad_epochs", torch::tensor(p.bad_epochs));
  archive.write("rng", rng);
  run_.save(archive, "checkpoint.pt");
}

void MultiTaskTrainer::save_best() {
  torch::serialize::OutputArchive archive;
  dist::save_full_state(*group_, *model_, nullptr, archive, nullptr);
  run_.save(archive, "best.pt");
}

bool MultiTaskTrainer::load_checkpoint(Progress& p) {
  const std::string path = run_.checkpoint_path();
  if (!fs::exists(path)) return false;
  torch::serialize::InputArchive archive, model_archive, optim_archive;
  load_archive(archive, path);
  try {
    archive.read("model", model_archive);
    archive.read("optimizer", optim_archive);
    dist::load_full_state(*model_, optimizer_.get(), model_archive, &optim_archive, path);
    // A fresh tensor per key: reading into a defined tensor would resize it in place.
    auto read = [&](const char* key) {
      torch::Tensor t;
      archive.read(key, t);
      return t;
    };
    p.epoch = read("epoch").item<int64_t>();
    p.best_loss = read("best_loss").item<double>();
    p.best_epoch = read("best_epoch").item<int64_t>();
    p.bad_epochs = read("bad_epochs").item<int64_t>();
    // Checkpoints from before mid-epoch stops lack these: they sit at an epoch boundary.
    torch::Tensor batch, loss_sum;
    p.batch = archive.try_read("batch", batch) ? batch.item<int64_t>() : 0;
    p.loss_sum = archive.try_read("loss_sum", loss_sum) ? loss_sum.item<double>() : 0.0;
    dist::restore_generator_state(*group_, read("rng"));
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(path, fmt::format("checkpoint does not match this model/config: {}",
                                  std::string(e.what()).substr(0, 200)));
  }
  MOEKIT_CHECK(p.epoch >= 0 && p.batch >= 0 && p.bad_epochs >= 0, path,
               "corrupt progress counters (epoch {}, batch {})", p.epoch, p.batch);
  return true;
}

double MultiTaskTrainer::train_epoch(const data::MultiTaskDataset& train, Progress& p) {
  model_->train();
  const int64_t epoch = p.epoch + 1;
  const int64_t per_epoch = (train.size() + options_.batch_size() - 1) / options_.batch_size();
  // The batch order depends only on (seed, epoch), so a resumed run sees the same batches.
  at::Generator order_gen =
      at::make_generator<at::CPUGeneratorImpl>(options_.seed() * 1000003 + epoch);
  const at::Tensor order = at::randperm(train.size(), order_gen, at::kLong);
  const auto start = std::chrono::steady_clock::now();
  auto last_log = start;
  const int64_t first_row = p.batch * options_.batch_size();
  for (int64_t begin = first_row; begin < train.size(); begin += options_.batch_size()) {
    const int64_t size = std::min(options_.batch_size(), train.size() - begin);
    const int64_t step = p.epoch * per_epoch + p.batch + 1;
    const std::string where = fmt::format("step {} (epoch {}, batch {})", step, epoch, p.batch + 1);
    const dist::BatchShare share = dist::batch_share(size, *group_);
    const data::MultiTaskDataset batch =
        train.select(order.narrow(0, begin + share.run_begin(), share.run_size()));
    const at::Tensor loss = batch_loss(batch);
    optimizer_->zero_grad();
    const SynchronizedStep agreed =
        backward_and_agree(*group_, *model_, loss, share.weight(size), where);
    const double value = agreed.loss;
    optimizer_->step();
    gates::step_gate_schedules(*model_);  // schedules count optimiser steps
    p.loss_sum += value;
    ++p.batch;
    if (const int sig = agreed.stop_signal; sig != 0 && begin + size < train.size()) {
      std::string saved;
      if (!options_.run_dir().empty()) {
        save_checkpoint(p);
        saved = run_.checkpoint_path();
      }
      throw Interrupted(sig, saved, where);
    }
    const auto now = std::chrono::steady_clock::now();
    if (group_->rank() == 0 && now - last_log > std::chrono::seconds(15)) {
      const double seconds = std::chrono::duration<double>(now - start).count();
      const double rate = (begin + size - first_row) / std::max(seconds, 1e-9);
      spdlog::info("epoch {} step {} loss {:.4f} {:.0f} rows/s ETA {:.0f}s", epoch, p.batch,
                   p.loss_sum / p.batch, rate, (train.size() - begin - size) / rate);
      last_log = now;
    }
  }
  return p.batch ? p.loss_sum / p.batch : 0.0;
}

at::Tensor MultiTaskTrainer::batch_loss(const data::MultiTaskDataset& batch) {
  const std::vector<double>& weights = options_.task_weights();
  const auto out1 = model_->forward(batch);
  if (!options_.consistency()) return model_->loss(out1, batch, nullptr, weights) + out1.aux_loss;
  // A second pass draws any stochastic gate afresh (THOR, DESIGN.md); the aux
  // losses are averaged so that the regulariser's scale does not double.
  const auto out2 = model_->forward(batch);
  return model_->loss(out1, batch, nullptr, weights) + model_->loss(out2, batch, nullptr, weights) +
         options_.consistency_alpha() * model_->consistency(out1, out2, batch, weights) +
         0.5 * (out1.aux_loss + out2.aux_loss);
}

Metrics MultiTaskTrainer::evaluate(const data::MultiTaskDataset& data) {
  torch::NoGradGuard no_grad;
  model_->eval();
  const auto& tasks = model_->options.tasks();
  std::vector<std::vector<at::Tensor>> outputs(tasks.size());
  double active_sum = 0;
  for (int64_t begin = 0; begin < data.size(); begin += options_.batch_size()) {
    const int64_t size = std::min(options_.batch_size(), data.size() - begin);
    const dist::BatchShare share = dist::batch_share(size, *group_);
    // A rank without rows throws its one row's output away (gather_rows, share.size).
    const int64_t first = begin + share.run_begin();
    const auto batch = data.select(at::arange(first, first + share.run_size(), at::kLong));
    auto out = model_->forward(batch);
    for (size_t t = 0; t < tasks.size(); ++t) {
      outputs[t].push_back(dist::gather_rows(*group_, out.outputs[t], share, size));
      if (share.size) active_sum += out.routings[t].mean_active_experts() * share.size;
    }
  }
  std::vector<double> active = {active_sum};
  dist::all_reduce_sum(*group_, active);
  active_sum = active[0];
  Metrics m;
  if (data.size() == 0) return m;
  m.active_experts = active_sum / (static_cast<double>(data.size()) * tasks.size());
  for (size_t t = 0; t < tasks.size(); ++t) {
    const at::Tensor y = at::cat(outputs[t], 0);
    const at::Tensor mask = t < data.masks.size() ? data.masks[t] : at::Tensor();
    const double loss = model_->task_loss(t, y, data.targets[t], mask).item<double>();
    m.loss += options_.task_weights().empty() ? loss : options_.task_weights()[t] * loss;
    const std::string& name = tasks[t].name;
    m.values.emplace_back(name + ".loss", loss);
    const models::TaskKind& kind = models::task_kind(tasks[t].kind, "tasks." + name);
    m.values.emplace_back(name + "." + kind.metric, kind.metric_value(y, data.targets[t], mask));
  }
  return m;
}

namespace {

std::string metrics_line(int64_t epoch, double train_loss, const Metrics& valid, double seconds) {
  nlohmann::ordered_json line;
  line["epoch"] = epoch;
  line["train_loss"] = train_loss;
  line["valid_loss"] = valid.loss;
  for (const auto& [name, value] : valid.values) line["valid." + name] = value;
  line["active_experts"] = valid.active_experts;
  line["seconds"] = seconds;
  return line.dump();
}

}  // namespace

FitResult MultiTaskTrainer::fit(const data::MultiTaskDataset& train,
                                const data::MultiTaskDataset& valid, bool resume) {
  const StopSignalScope stop_scope;
  // Every rank reads checkpoints; rank 0 alone writes files.
  const bool files = run_.enabled(), writer = run_.writer();
  run_.create();

  Progress p;
  p.best_loss = std::numeric_limits<double>::infinity();
  if (resume) {
    MOEKIT_CHECK(files, "--resume", "needs a run directory");
    MOEKIT_CHECK(load_checkpoint(p), run_.checkpoint_path(),
                 "no checkpoint to resume from");
    run_.truncate_metrics("epoch", p.epoch);
    if (writer)
      spdlog::info("resumed at epoch {} batch {} (best validation loss {:.4f} at epoch {})",
                   p.epoch, p.batch, p.best_loss, p.best_epoch);
  } else {
    run_.start_metrics();
  }

  // Best weights in memory too, so a run without files still ends on them.
  std::vector<at::Tensor> best_state;
  auto snapshot = [&] {
    best_state.clear();
    for (const auto& t : model_->parameters()) best_state.push_back(t.detach().clone());
    for (const auto& b : model_->buffers()) best_state.push_back(b.detach().clone());
  };
  // Schedules given in epochs (local search's search_epochs) become steps.
  gates::set_gate_steps_per_epoch(
      *model_, (train.size() + options_.batch_size() - 1) / options_.batch_size());
  FitResult result;
  while (p.epoch < options_.epochs() && p.bad_epochs < options_.patience()) {
    const auto start = std::chrono::steady_clock::now();
    const double train_loss = train_epoch(train, p);
    const int64_t epoch = ++p.epoch;
    p.batch = 0;
    p.loss_sum = 0;
    const Metrics metrics = evaluate(valid);
    MOEKIT_CHECK(std::isfinite(metrics.loss), fmt::format("epoch {}", epoch),
                 "validation loss is {}; training stopped, the last good checkpoint is kept",
                 metrics.loss);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (metrics.loss < p.best_loss) {
      p.best_loss = metrics.loss;
      p.best_epoch = epoch;
      p.bad_epochs = 0;
      snapshot();
      if (files) save_best();
    } else {
      ++p.bad_epochs;
    }
    // NOTE: the line goes first. A kill between the two leaves one line too many,
    // which --resume truncates; the other order would lose the line for good.
    run_.append_metrics(metrics_line(epoch, train_loss, metrics, seconds));
    if (files) save_checkpoint(p);
    if (writer)
      spdlog::info("epoch {} train loss {:.4f} valid loss {:.4f} ({:.1f}s)", epoch, train_loss,
                   metrics.loss, seconds);
    if (on_epoch) on_epoch(epoch, train_loss, metrics);
    std::vector<double> stop = {stop_requested() != 0 ? 1.0 : 0.0};  // agreed by all ranks
    dist::all_reduce_sum(*group_, stop);
    if (stop[0] > 0 && p.epoch < options_.epochs() && p.bad_epochs < options_.patience()) {
      const int sig = stop_requested() != 0 ? stop_requested() : SIGTERM;
      throw Interrupted(sig, files ? run_.checkpoint_path() : "",
                        fmt::format("the end of epoch {}", epoch));
    }
  }
  const int64_t epoch = p.epoch, best_epoch = p.best_epoch, bad_epochs = p.bad_epochs;
  result.epochs_run = epoch;
  result.best_epoch = best_epoch;
  result.early_stopped = bad_epochs >= options_.patience();
  // End on the best weights: from memory, or from best.pt after a resume.
  if (!best_state.empty()) {
    torch::NoGradGuard no_grad;
    size_t i = 0;
    for (auto& t : model_->parameters()) t.copy_(best_state[i++]);
    for (auto& b : model_->buffers()) b.copy_(best_state[i++]);
  } else if (files && fs::exists(run_.best_path())) {
    torch::serialize::InputArchive archive;
    load_archive(archive, run_.best_path());
    dist::load_full_state(*model_, nullptr, archive, nullptr, run_.best_path());
  }
  result.best_valid = evaluate(valid);
  return result;
}

}  // namespace moekit::train
