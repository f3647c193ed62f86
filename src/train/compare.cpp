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
#include "moekit/train/gnuplot.h"
#include "moekit/train/paired_stats.h"
#include "moekit/train/study_log.h"

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

StudyArm arm_of(const RunRecord& r) { return {r.gate, r.local_search, r.consistency}; }

std::string group_name(const RunRecord& r) { return arm_of(r).label(); }

// CSV cells may hold commas only when quoted.
std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

void CompareOptions::validate() const {
  MOEKIT_CHECK(!gates().empty() || !from_tune().empty(), "gates", "must name at least one gate");
  MOEKIT_CHECK(seeds() >= 1, "seeds", "must be >= 1, got {}", seeds());
  MOEKIT_CHECK(!local_search().empty(), "local_search", "must hold at least one setting");
  MOEKIT_CHECK(record_dir().empty() || !out_dir().empty(), "record_dir",
               "needs an output folder (out_dir) for the runs");
  check_records_exist(continue_from(), "continue_from");
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

namespace {

// A column of the summaries: its name and how a run gives its value.
struct Column {
  std::string name;  // "valid loss", "test <metric>"..., "active experts", "train s"
  std::function<double(const RunRecord&)> value;
};

std::vector<Column> summary_columns(const RunRecord& first) {
  std::vector<Column> columns{{"valid loss", [](const RunRecord& r) { return r.valid_loss; }},
                              {"test loss", [](const RunRecord& r) { return r.test.loss; }}};
  for (const auto& [name, value] : first.test.values) {
    columns.push_back({"test " + name, [m = name](const RunRecord& r) { return r.test.get(m); }});
  }
  columns.push_back({"active experts", [](const RunRecord& r) { return r.test.active_experts; }});
  columns.push_back({"train s", [](const RunRecord& r) { return r.train_seconds; }});
  return columns;
}

// Runs by (gate, local search) group, groups in first-seen order.
std::vector<std::pair<std::string, std::vector<const RunRecord*>>> by_group(
    const std::vector<RunRecord>& runs) {
  std::vector<std::pair<std::string, std::vector<const RunRecord*>>> groups;
  for (const auto& r : runs) {
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const auto& g) { return g.first == group_name(r); });
    if (it == groups.end()) it = groups.insert(groups.end(), {group_name(r), {}});
    it->second.push_back(&r);
  }
  return groups;
}

// Mean ± std per (gate, local search) group of every summary column.
struct GroupStats {
  std::vector<std::string> columns;
  struct Row {
    std::string group;
    size_t runs = 0;
    std::vector<std::pair<double, double>> mean_std;  // one per column
    bool sparse_at_test = true;  // a sparse gate's active experts within routed + 0.05
  };
  std::vector<Row> rows;
};

GroupStats group_stats(const std::vector<RunRecord>& runs) {
  MOEKIT_CHECK(!runs.empty(), "summary_table", "no runs to summarise");
  const std::vector<Column> columns = summary_columns(runs.front());
  GroupStats stats;
  for (const auto& c : columns) stats.columns.push_back(c.name);
  for (const auto& [group, members] : by_group(runs)) {
    GroupStats::Row row{group, members.size(), {}};
    for (const auto& column : columns) {
      std::vector<double> v;
      for (const RunRecord* r : members) v.push_back(column.value(*r));
      row.mean_std.push_back(mean_std(v));
    }
    double active = 0;
    for (const RunRecord* r : members) active += r->test.active_experts;
    active /= static_cast<double>(members.size());
    const int64_t routed = members.front()->routed_experts;
    row.sparse_at_test = routed == 0 || std::isnan(active) || active <= routed + 0.05;
    stats.rows.push_back(std::move(row));
  }
  return stats;
}

std::string csv_name(std::string column) {
  std::replace(column.begin(), column.end(), ' ', '_');
  return column;
}

// compare.svg: one panel per test metric (losses left out), bars of the mean
// with the std as error bars, one bar per group.
bool plot_summary(const fs::path& dir, const GroupStats& stats) {
  std::vector<size_t> panels;
  for (size_t c = 0; c < stats.columns.size(); ++c) {
    const std::string& name = stats.columns[c];
    if (name.rfind("test ", 0) == 0 && name.find("loss") == std::string::npos) panels.push_back(c);
  }
  if (panels.empty()) return false;
  std::string script = fmt::format(
      "set datafile separator ','\nset style fill solid 0.5 border -1\nset boxwidth 0.7\n"
      "set xtics rotate by -35\nset grid ytics\nset yrange [0:*]\nset offsets 0.6, 0.6, 0, 0\nunset key\n"
      "set multiplot layout 1,{}\n",
      panels.size());
  for (size_t c : panels) {
    // Column 1 = group, 2 = runs, then mean/std pairs.
    const size_t mean_col = 3 + 2 * c;
    script += fmt::format("set title '{}'\nplot '{}' skip 1 using 0:{}:{}:xtic(1) with boxerrorbars\n",
                          stats.columns[c], (dir / "compare_summary.csv").string(), mean_col,
                          mean_col + 1);
  }
  script += "unset multiplot\n";
  return render_svg((dir / "compare.svg").string(), script);
}

}  // namespace

std::string summary_table(const std::vector<RunRecord>& runs, Spread spread) {
  const GroupStats stats = group_stats(runs);
  std::string out = "| gate | runs |";
  std::string rule = "|---|---|";
  for (const auto& c : stats.columns) {
    out += fmt::format(" {} |", c);
    rule += "---|";
  }
  out += "\n" + rule + "\n";
  bool marked = false;
  for (const auto& row : stats.rows) {
    out += fmt::format("| {}{} | {} |", row.group, row.sparse_at_test ? "" : " (not sparse at test)",
                       row.runs);
    marked = marked || !row.sparse_at_test;
    const double scale = spread == Spread::kStandardError
                             ? 1 / std::sqrt(static_cast<double>(row.runs))
                             : 1.0;
    for (const auto& [mean, sd] : row.mean_std) {
      out += fmt::format(" {:.4f} ± {:.4f} |", mean, sd * scale);
    }
    out += "\n";
  }
  if (marked) {
    out += "\nNot sparse at test: mean active experts above the gate's k (1 for switch, hash,"
           " random) + 0.05; the gate did not saturate.\n";
  }
  return out;
}

std::string paired_table(const std::vector<RunRecord>& runs,
                         const std::vector<std::vector<std::string>>& pairs) {
  if (runs.empty()) return "";
  const auto groups = by_group(runs);
  const auto members = [&](const std::string& name) -> const std::vector<const RunRecord*>* {
    for (const auto& [group, m] : groups) {
      if (group == name) return &m;
    }
    return nullptr;
  };
  std::string out;
  for (const auto& pair : pairs) {
    MOEKIT_CHECK(pair.size() == 2, "pairs", "each pair names two arms, got {}", pair.size());
    const auto* a = members(pair[0]);
    const auto* b = members(pair[1]);
    if (!a || !b) continue;
    for (const auto& column : summary_columns(runs.front())) {
      if (column.name == "train s") continue;
      std::vector<double> va, vb;
      for (const RunRecord* ra : *a) {
        for (const RunRecord* rb : *b) {
          if (ra->seed != rb->seed) continue;
          va.push_back(column.value(*ra));
          vb.push_back(column.value(*rb));
        }
      }
      if (va.empty()) continue;
      const PairedDifference d = paired_difference(va, vb);
      out += fmt::format("| {} − {} | {} | {} | {:+.4f} | [{:+.4f}, {:+.4f}] |\n", pair[0], pair[1],
                         column.name, d.n, d.mean, d.low, d.high);
    }
  }
  if (out.empty()) return "";
  return "| pair | metric | seeds | mean difference | 95% t-interval |\n|---|---|---|---|---|\n" + out;
}

std::vector<RunRecord> best_trials(const std::string& tune_record) {
  const fs::path path = fs::is_directory(tune_record) ? fs::path(tune_record) / "trials.jsonl"
                                                      : fs::path(tune_record);
  MOEKIT_CHECK(fs::exists(path), path.string(), "no tune record here (trials.jsonl of moekit tune)");
  StudyLog log;
  log.load(path.string());
  std::vector<RunRecord> trials;
  for (const auto& e : log.entries()) trials.push_back(e.record);
  MOEKIT_CHECK(!trials.empty(), path.string(), "holds no finished trials");
  std::vector<RunRecord> best;
  for (const auto& [group, members] : by_group(trials)) {
    const RunRecord* top = nullptr;
    for (const RunRecord* r : members) {
      if (!std::isnan(r->valid_loss) && (!top || r->valid_loss < top->valid_loss)) top = r;
    }
    MOEKIT_CHECK(top, path.string(), "arm '{}' has no trial with a finite validation loss", group);
    best.push_back(*top);
  }
  return best;
}

std::string summary_csv(const std::vector<RunRecord>& runs) {
  const GroupStats stats = group_stats(runs);
  std::string out = "group,runs";
  for (const auto& c : stats.columns) out += fmt::format(",{0}_mean,{0}_std", csv_name(c));
  out += "\n";
  for (const auto& row : stats.rows) {
    out += fmt::format("{},{}", csv_cell(row.group), row.runs);
    for (const auto& [mean, sd] : row.mean_std) out += fmt::format(",{:.6g},{:.6g}", mean, sd);
    out += "\n";
  }
  return out;
}

std::string runs_csv(const std::vector<RunRecord>& runs) {
  std::string out = "arm,gate,local_search,consistency,seed,params,valid_loss,test_loss";
  if (!runs.empty()) {
    for (const auto& [name, value] : runs.front().test.values) out += ",test_" + name;
  }
  out += ",active_experts,permutation_moved,permutation_hardened,epochs,train_seconds\n";
  for (const auto& r : runs) {
    std::string params;
    for (const auto& [k, v] : r.params) params += (params.empty() ? "" : " ") + k + "=" + v;
    out += fmt::format("{},{},{},{},{},{},{:.6g},{:.6g}", csv_cell(group_name(r)), r.gate,
                       r.local_search ? 1 : 0, r.consistency ? 1 : 0, r.seed, csv_cell(params),
                       r.valid_loss, r.test.loss);
    for (const auto& [name, value] : r.test.values) out += fmt::format(",{:.6g}", value);
    out += fmt::format(",{:.4g},{},{},{},{:.3f}\n", r.test.active_experts,
                       r.local_search ? fmt::format("{:g}", r.permutation_moved) : "",
                       r.local_search ? (r.permutation_hardened ? "1" : "0") : "", r.epochs,
                       r.train_seconds);
  }
  return out;
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
  if (options.from_tune().empty()) {
    for (const auto& arm : study_arms(options.gates(), options.local_search())) arms.push_back({arm, {}});
    return arms;
  }
  // --gates keeps the arms it would make itself: "topk" the plain arm (both
  // with --both), "topk+ls" the local-search one.
  std::vector<std::string> keep;
  for (const auto& arm : study_arms(options.gates(), options.local_search())) keep.push_back(arm.label());
  std::vector<RunRecord> tuned;
  for (const auto& source : split_paths(options.from_tune())) {
    for (const RunRecord& best : best_trials(source)) tuned.push_back(best);
  }
  for (const RunRecord& best : tuned) {
    const StudyArm arm = arm_of(best);
    if (options.gates().empty() || std::find(keep.begin(), keep.end(), arm.label()) != keep.end()) {
      arms.push_back({arm, best.params});
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
    result.plot_written = plot_summary(out, group_stats(result.runs));
    copy_study_files(options.out_dir(), options.record_dir(), small_files);
  }
  return result;
}

}  // namespace moekit::train
