#include "moekit/train/study_tables.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>

#include "moekit/core/error.h"
#include "moekit/train/gnuplot.h"
#include "moekit/train/paired_stats.h"

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

std::string group_name(const RunRecord& r) { return arm_of(r).label(); }

// CSV cells may hold commas only when quoted.
std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

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
  for (const auto& [group, members] : runs_by_arm(runs)) {
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

StudyArm arm_of(const RunRecord& r) { return {r.gate, r.local_search, r.consistency}; }

std::vector<std::pair<std::string, std::vector<const RunRecord*>>> runs_by_arm(
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

bool plot_summary(const std::string& dir, const std::vector<RunRecord>& runs) {
  return !runs.empty() && plot_summary(fs::path(dir), group_stats(runs));
}

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
  const auto groups = runs_by_arm(runs);
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

}  // namespace moekit::train
