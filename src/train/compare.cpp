#include "moekit/train/compare.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "moekit/core/checkpoint.h"
#include "moekit/core/error.h"
#include "moekit/core/lines.h"
#include "moekit/train/experiment_run.h"
#include "moekit/train/study_log.h"

namespace moekit::train {
namespace fs = std::filesystem;

void CompareOptions::validate() const {
  MOEKIT_CHECK(!gates().empty() || !from_tune().empty(), "gates", "must name at least one gate");
  MOEKIT_CHECK(seeds() >= 1, "seeds", "must be >= 1, got {}", seeds());
  MOEKIT_CHECK(!local_search().empty(), "local_search", "must hold at least one setting");
  MOEKIT_CHECK(record_dir().empty() || !out_dir().empty(), "record_dir",
               "needs an output folder (out_dir) for the runs");
  check_records_exist(continue_from(), "continue_from");
  check_arm_settings(arm_settings());
}

std::vector<std::vector<std::string>> default_pairs() {
  return {{"comet + LS", "dselectk"}, {"dselectk", "topk"}, {"dselectk", "hash"}, {"comet", "topk"}};
}

std::string run_request(const Config& base, const std::vector<std::string>& overrides) {
  // Sections share their document, so each run re-parses its own copy.
  Config config = Config::parse(base.dump(), base.where());
  for (const auto& o : overrides) config.set(o);
  return config.dump();
}

RunRecord run_once(const Config& base, const std::vector<std::string>& overrides,
                   const std::string& run_dir, const StudyLog* log) {
  Config config = Config::parse(base.dump(), base.where());
  for (const auto& o : overrides) config.set(o);
  if (log) {
    if (const RunRecord* done = log->find(config.dump())) return *done;
  }
  RunOptions options;
  if (!run_dir.empty()) {
    const fs::path dir(run_dir), request = dir / "request.yaml";
    if (fs::exists(request)) {
      MOEKIT_CHECK(read_text(request.string()) == config.dump(), run_dir,
                   "holds a run of another config (request.yaml differs); remove it or choose "
                   "another output folder");
      if (fs::exists(dir / "results.json")) return read_run_record((dir / "results.json").string());
      options.resume = fs::exists(dir / "checkpoint.pt");
    } else {
      fs::create_directories(dir);
      write_text_atomically(request.string(), config.dump());
    }
    options.run_dir = run_dir;
  }
  return run_experiment(config, options);
}

/// The run folder of one (gate, local search, seed) under a study's output folder.
std::string study_run_dir(const std::string& out_dir, const std::string& subdir,
                          const StudyArm& arm, const std::string& index) {
  if (out_dir.empty()) return "";
  return (fs::path(out_dir) / subdir / (arm.dir_name() + "-" + index)).string();
}

std::vector<RunRecord> best_trials(const std::string& tune_record,
                                   const std::vector<ArmSetting>& fixed) {
  const fs::path path = fs::is_directory(tune_record) ? fs::path(tune_record) / "trials.jsonl"
                                                      : fs::path(tune_record);
  MOEKIT_CHECK(fs::exists(path), path.string(), "no tune record here (trials.jsonl of moekit tune)");
  StudyLog log;
  log.load(path.string());
  std::vector<RunRecord> trials;
  std::map<std::string, bool> kept_any;  // per arm: whether a trial ran with its settings
  for (const auto& e : log.entries()) {
    const StudyArm arm = arm_of(e.record);
    const bool kept = ran_with(e.request, settings_for(fixed, arm));
    if (kept) trials.push_back(e.record);
    kept_any[arm.label()] |= kept;
  }
  for (const auto& [label, kept] : kept_any) {
    MOEKIT_CHECK(kept, path.string(), "arm '{}' has no trial run with its --arm-set values; tune it with them first",
                 label);
  }
  MOEKIT_CHECK(!trials.empty(), path.string(), "holds no finished trials");
  std::vector<RunRecord> best;
  for (const auto& [group, members] : runs_by_arm(trials)) {
    const RunRecord* top = nullptr;
    for (const RunRecord* r : members) {
      if (!std::isnan(r->valid_loss) && (!top || r->valid_loss < top->valid_loss)) top = r;
    }
    MOEKIT_CHECK(top, path.string(), "arm '{}' has no trial with a finite validation loss", group);
    best.push_back(*top);
  }
  return best;
}

namespace {

// ", Π moved 3 (hardened)" for a local-search run.
std::string search_note(const RunRecord& r) {
  if (!r.local_search) return "";
  return fmt::format(", Π moved {:g} ({})", r.permutation_moved,
                     r.permutation_hardened ? "hardened" : "not hardened");
}

// One arm of a comparison and the tuned values it runs with (from_tune).
struct Arm {
  StudyArm arm;
  std::vector<std::pair<std::string, std::string>> params;
};

std::vector<Arm> compare_arms(const CompareOptions& options) {
  std::vector<Arm> arms;
  const auto fixed_for = [&](const StudyArm& arm) { return settings_for(options.arm_settings(), arm); };
  if (options.from_tune().empty()) {
    for (const auto& arm : study_arms(options.gates(), options.local_search())) {
      arms.push_back({arm, with_settings({}, fixed_for(arm))});
    }
    return arms;
  }
  // --gates keeps the arms it would make itself: "topk" the plain arm (both
  // with --both), "topk+ls" the local-search one.
  std::vector<std::string> keep;
  for (const auto& arm : study_arms(options.gates(), options.local_search())) keep.push_back(arm.label());
  std::vector<RunRecord> tuned;
  for (const auto& source : split_paths(options.from_tune())) {
    for (const RunRecord& best : best_trials(source, options.arm_settings())) tuned.push_back(best);
  }
  for (const RunRecord& best : tuned) {
    const StudyArm arm = arm_of(best);
    if (options.gates().empty() || std::find(keep.begin(), keep.end(), arm.label()) != keep.end()) {
      arms.push_back({arm, with_settings(best.params, fixed_for(arm))});
    }
  }
  MOEKIT_CHECK(!arms.empty(), options.from_tune(), "holds none of the gates asked for");
  return arms;
}

}  // namespace

CompareResult run_compare(const Config& config, const CompareOptions& options,
                          const std::function<void(const std::string&)>& progress) {
  options.validate();
  const fs::path out(options.out_dir());
  StudyLog log;
  log.load(options.continue_from());
  if (!options.record_dir().empty()) log.load((fs::path(options.record_dir()) / "runs.jsonl").string());
  if (!options.out_dir().empty()) log.load((out / "runs.jsonl").string());
  CompareResult result;
  const std::vector<std::string> small_files{"compare.md", "compare.csv", "compare_summary.csv",
                                             "runs.jsonl", "compare.svg"};
  // Tables are rewritten after every run, so a long study that is stopped
  // part-way still leaves the finished runs' table behind.
  const auto write_tables = [&] {
    result.table = summary_table(result.runs);
    const std::string pairs = paired_table(result.runs, options.pairs());
    if (!pairs.empty()) result.table += "\n## Paired differences (same seed)\n\n" + pairs;
    if (options.out_dir().empty()) return;
    fs::create_directories(out);
    write_text_atomically((out / "compare.md").string(), result.table);
    write_text_atomically((out / "compare.csv").string(), runs_csv(result.runs));
    write_text_atomically((out / "compare_summary.csv").string(), summary_csv(result.runs));
    log.write((out / "runs.jsonl").string());
    copy_study_files(options.out_dir(), options.record_dir(), small_files);
  };
  for (const Arm& arm : compare_arms(options)) {
    const std::string group = arm.arm.label();
    for (int64_t seed = 0; seed < options.seeds(); ++seed) {
      std::vector<std::string> overrides = arm.arm.overrides();
      overrides.push_back(fmt::format("train.seed={}", seed));
      for (const auto& [key, value] : arm.params) overrides.push_back(key + "=" + value);
      try {
        result.runs.push_back(run_once(
            config, overrides,
            study_run_dir(options.out_dir(), "runs", arm.arm, fmt::format("seed{}", seed)), &log));
      } catch (const Error& e) {
        // One gate that cannot run here (e.g. hash without ids) should not cost
        // the others' results: skip its remaining seeds, report it at the end.
        result.failures.push_back(fmt::format("{} seed {}: {}", group, seed, e.what()));
        if (progress) progress("failed: " + result.failures.back());
        break;
      }
      RunRecord& r = result.runs.back();
      r.params = arm.params;
      const std::string request = run_request(config, overrides);
      if (!log.find(request)) log.add(r, request);
      write_tables();
      if (progress) {
        progress(fmt::format("{} seed {}: valid loss {:.4f}, test loss {:.4f}, {} epochs, {:.1f} s{}",
                             group, seed, r.valid_loss, r.test.loss, r.epochs, r.train_seconds,
                             search_note(r)));
      }
    }
  }
  if (!options.out_dir().empty() && !result.runs.empty()) {
    result.plot_written = plot_summary(options.out_dir(), result.runs);
    copy_study_files(options.out_dir(), options.record_dir(), small_files);
  }
  return result;
}

}  // namespace moekit::train
