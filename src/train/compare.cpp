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

std::string group_name(const RunRecord& r) { return group_label(r.gate, r.local_search); }

// CSV cells may hold commas only when quoted.
std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

std::string group_label(const std::string& gate, bool local_search) {
  return gate + (local_search ? " + LS" : "");
}

void CompareOptions::validate() const {
  MOEKIT_CHECK(!gates().empty(), "gates", "must name at least one gate");
  MOEKIT_CHECK(seeds() >= 1, "seeds", "must be >= 1, got {}", seeds());
  MOEKIT_CHECK(!local_search().empty(), "local_search", "must hold at least one setting");
}

RunRecord run_once(const Config& base, const std::vector<std::string>& overrides,
                   const std::string& run_dir) {
  // Sections share their document, so each run re-parses its own copy.
  Config config = Config::parse(base.dump(), base.where());
  for (const auto& o : overrides) config.set(o);
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
                          const std::string& gate, bool local_search, const std::string& index) {
  if (out_dir.empty()) return "";
  return (fs::path(out_dir) / subdir / (gate + (local_search ? "-ls-" : "-") + index)).string();
}

namespace {

// Mean ± std per (gate, local search) group of every summary column.
struct GroupStats {
  std::vector<std::string> columns;  // "valid loss", "test <metric>"..., "active experts", "train s"
  struct Row {
    std::string group;
    size_t runs = 0;
    std::vector<std::pair<double, double>> mean_std;  // one per column
  };
  std::vector<Row> rows;  // groups in first-seen order
};

GroupStats group_stats(const std::vector<RunRecord>& runs) {
  MOEKIT_CHECK(!runs.empty(), "summary_table", "no runs to summarise");
  std::vector<std::string> metrics{"loss"};
  for (const auto& [name, value] : runs.front().test.values) metrics.push_back(name);
  std::vector<std::function<double(const RunRecord&)>> fields{
      [](const RunRecord& r) { return r.valid_loss; }};
  GroupStats stats;
  stats.columns.push_back("valid loss");
  for (const auto& m : metrics) {
    stats.columns.push_back("test " + m);
    fields.push_back([m](const RunRecord& r) { return m == "loss" ? r.test.loss : r.test.get(m); });
  }
  stats.columns.push_back("active experts");
  fields.push_back([](const RunRecord& r) { return r.test.active_experts; });
  stats.columns.push_back("train s");
  fields.push_back([](const RunRecord& r) { return r.train_seconds; });

  std::vector<std::string> order;
  std::map<std::string, std::vector<const RunRecord*>> groups;
  for (const auto& r : runs) {
    if (!groups.count(group_name(r))) order.push_back(group_name(r));
    groups[group_name(r)].push_back(&r);
  }
  for (const auto& g : order) {
    GroupStats::Row row{g, groups[g].size(), {}};
    for (const auto& field : fields) {
      std::vector<double> v;
      for (const RunRecord* r : groups[g]) v.push_back(field(*r));
      row.mean_std.push_back(mean_std(v));
    }
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

std::string summary_table(const std::vector<RunRecord>& runs) {
  const GroupStats stats = group_stats(runs);
  std::string out = "| gate | runs |";
  std::string rule = "|---|---|";
  for (const auto& c : stats.columns) {
    out += fmt::format(" {} |", c);
    rule += "---|";
  }
  out += "\n" + rule + "\n";
  for (const auto& row : stats.rows) {
    out += fmt::format("| {} | {} |", row.group, row.runs);
    for (const auto& [mean, sd] : row.mean_std) out += fmt::format(" {:.4f} ± {:.4f} |", mean, sd);
    out += "\n";
  }
  return out;
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
  // Tables are rewritten after every run, so a long study that is stopped
  // part-way still leaves the finished runs' table behind.
  const auto write_tables = [&] {
    result.table = summary_table(result.runs);
    if (options.out_dir().empty()) return;
    fs::create_directories(options.out_dir());
    write_text_atomically((fs::path(options.out_dir()) / "compare.md").string(), result.table);
    write_text_atomically((fs::path(options.out_dir()) / "compare.csv").string(), runs_csv(result.runs));
    write_text_atomically((fs::path(options.out_dir()) / "compare_summary.csv").string(),
                          summary_csv(result.runs));
  };
  for (const auto& gate : options.gates()) {
    for (const bool ls : options.local_search()) {
      const std::string group = group_label(gate, ls);
      for (int64_t seed = 0; seed < options.seeds(); ++seed) {
        try {
          result.runs.push_back(run_once(
              config,
              {"gate.name=" + gate, fmt::format("gate.local_search={}", ls),
               fmt::format("train.seed={}", seed)},
              study_run_dir(options.out_dir(), "runs", gate, ls, fmt::format("seed{}", seed))));
        } catch (const Error& e) {
          // One gate that cannot run here (e.g. hash without ids) should not cost
          // the others' results: skip its remaining seeds, report it at the end.
          result.failures.push_back(fmt::format("{} seed {}: {}", group, seed, e.what()));
          if (progress) progress("failed: " + result.failures.back());
          break;
        }
        write_tables();
        const RunRecord& r = result.runs.back();
        if (progress) {
          progress(fmt::format("{} seed {}: valid loss {:.4f}, test loss {:.4f}, {} epochs, {:.1f} s",
                               group, seed, r.valid_loss, r.test.loss, r.epochs, r.train_seconds));
        }
      }
    }
  }
  if (!options.out_dir().empty() && !result.runs.empty()) {
    result.plot_written = plot_summary(options.out_dir(), group_stats(result.runs));
  }
  return result;
}

}  // namespace moekit::train
