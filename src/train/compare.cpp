#include "moekit/train/compare.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "moekit/core/checkpoint.h"
#include "moekit/core/error.h"
#include "moekit/train/experiment.h"

namespace moekit::train {
namespace fs = std::filesystem;
namespace {

std::pair<double, double> mean_std(const std::vector<double>& v) {
  double mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  const double sd = v.size() > 1 ? std::sqrt(ss / static_cast<double>(v.size() - 1)) : 0.0;
  return {mean, sd};
}

std::string group_name(const RunRecord& r) { return r.gate + (r.local_search ? " + LS" : ""); }

// CSV cells may hold commas only when quoted.
std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

void CompareOptions::validate() const {
  MOEKIT_CHECK(!gates().empty(), "gates", "must name at least one gate");
  MOEKIT_CHECK(seeds() >= 1, "seeds", "must be >= 1, got {}", seeds());
  MOEKIT_CHECK(!local_search().empty(), "local_search", "must hold at least one setting");
}

RunRecord run_once(const Config& base, const std::vector<std::string>& overrides) {
  // Sections share their document, so each run re-parses its own copy.
  Config config = Config::parse(base.dump(), base.where());
  for (const auto& o : overrides) config.set(o);
  MultiTaskExperiment ex = load_experiment(config);
  RunRecord record;
  record.gate = ex.model_options.gate();
  record.local_search = ex.model_options.gate_options().local_search();
  record.seed = ex.trainer_options.seed();

  torch::manual_seed(record.seed);
  models::MultiTaskModel model(ex.model_options);
  MultiTaskTrainer trainer(model, ex.trainer_options.run_dir(""));
  const auto start = std::chrono::steady_clock::now();
  const FitResult fit = trainer.fit(ex.train, ex.valid);
  record.train_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  record.epochs = fit.epochs_run;
  record.valid_loss = fit.best_valid.loss;
  record.test = trainer.evaluate(ex.test);
  return record;
}

std::string summary_table(const std::vector<RunRecord>& runs) {
  MOEKIT_CHECK(!runs.empty(), "summary_table", "no runs to summarise");
  std::vector<std::string> order;
  std::map<std::string, std::vector<const RunRecord*>> groups;
  for (const auto& r : runs) {
    if (!groups.count(group_name(r))) order.push_back(group_name(r));
    groups[group_name(r)].push_back(&r);
  }
  std::vector<std::string> metrics{"loss"};
  for (const auto& [name, value] : runs.front().test.values) metrics.push_back(name);

  std::string out = "| gate | runs | valid loss |";
  std::string rule = "|---|---|---|";
  for (const auto& m : metrics) {
    out += fmt::format(" test {} |", m);
    rule += "---|";
  }
  out += " active experts | train s |\n" + rule + "---|---|\n";
  for (const auto& g : order) {
    const auto& rs = groups[g];
    auto column = [&](const std::function<double(const RunRecord&)>& f) {
      std::vector<double> v;
      for (const RunRecord* r : rs) v.push_back(f(*r));
      const auto [mean, sd] = mean_std(v);
      return fmt::format(" {:.4f} ± {:.4f} |", mean, sd);
    };
    out += fmt::format("| {} | {} |", g, rs.size());
    out += column([](const RunRecord& r) { return r.valid_loss; });
    for (const auto& m : metrics) {
      out += column([&](const RunRecord& r) { return m == "loss" ? r.test.loss : r.test.get(m); });
    }
    out += column([](const RunRecord& r) { return r.test.active_experts; });
    out += column([](const RunRecord& r) { return r.train_seconds; });
    out += "\n";
  }
  return out;
}

std::string runs_csv(const std::vector<RunRecord>& runs) {
  std::string out = "gate,local_search,seed,params,valid_loss,test_loss";
  if (!runs.empty()) {
    for (const auto& [name, value] : runs.front().test.values) out += ",test_" + name;
  }
  out += ",active_experts,epochs,train_seconds\n";
  for (const auto& r : runs) {
    std::string params;
    for (const auto& [k, v] : r.params) params += (params.empty() ? "" : " ") + k + "=" + v;
    out += fmt::format("{},{},{},{},{:.6g},{:.6g}", r.gate, r.local_search ? 1 : 0, r.seed,
                       csv_cell(params), r.valid_loss, r.test.loss);
    for (const auto& [name, value] : r.test.values) out += fmt::format(",{:.6g}", value);
    out += fmt::format(",{:.4g},{},{:.3f}\n", r.test.active_experts, r.epochs, r.train_seconds);
  }
  return out;
}

CompareResult run_compare(const Config& config, const CompareOptions& options,
                          const std::function<void(const std::string&)>& progress) {
  options.validate();
  CompareResult result;
  for (const auto& gate : options.gates()) {
    for (const bool ls : options.local_search()) {
      for (int64_t seed = 0; seed < options.seeds(); ++seed) {
        try {
          result.runs.push_back(run_once(config, {"gate.name=" + gate,
                                                  fmt::format("gate.local_search={}", ls),
                                                  fmt::format("train.seed={}", seed)}));
        } catch (const Error& e) {
          throw e.with_prefix(fmt::format("compare gate {}{} seed {}", gate, ls ? " + LS" : "", seed));
        }
        const RunRecord& r = result.runs.back();
        if (progress) {
          progress(fmt::format("{} seed {}: valid loss {:.4f}, test loss {:.4f}, {} epochs, {:.1f} s",
                               group_name(r), seed, r.valid_loss, r.test.loss, r.epochs,
                               r.train_seconds));
        }
      }
    }
  }
  result.table = summary_table(result.runs);
  if (!options.out_dir().empty()) {
    fs::create_directories(options.out_dir());
    write_text_atomically((fs::path(options.out_dir()) / "compare.md").string(), result.table);
    write_text_atomically((fs::path(options.out_dir()) / "compare.csv").string(), runs_csv(result.runs));
  }
  return result;
}

}  // namespace moekit::train
