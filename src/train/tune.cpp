#include "moekit/train/tune.h"

#include <fmt/format.h>
#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "moekit/core/checkpoint.h"
#include "moekit/core/error.h"
#include "moekit/core/parse.h"
#include "moekit/gates/gate.h"
#include "moekit/train/study_log.h"
#include "moekit/train/gnuplot.h"

namespace moekit::train {
namespace fs = std::filesystem;
namespace {

bool is_number(const YAML::Node& n, double* value) {
  if (!n.IsScalar()) return false;
  try {
    *value = parse_value<double>(n.Scalar(), "");
    return true;
  } catch (const Error&) {
    return false;
  }
}

bool is_integer(const YAML::Node& n) {
  return n.IsScalar() && n.Scalar().find_first_of(".eE") == std::string::npos;
}

std::vector<std::string> scalars(const YAML::Node& list, const std::string& where) {
  MOEKIT_CHECK(list.IsSequence() && list.size() > 0, where, "expected a non-empty list of choices");
  std::vector<std::string> out;
  for (const auto& item : list) {
    MOEKIT_CHECK(item.IsScalar(), where, "choices must be single values");
    out.push_back(item.Scalar());
  }
  return out;
}

void range_from(SearchDim& dim, const YAML::Node& low, const YAML::Node& high, bool log,
                const std::string& where) {
  MOEKIT_CHECK(is_number(low, &dim.low) && is_number(high, &dim.high), where,
               "low and high must be numbers");
  MOEKIT_CHECK(dim.low <= dim.high, where, "low {} is above high {}", dim.low, dim.high);
  if (log) {
    MOEKIT_CHECK(dim.low > 0, where, "a log-uniform range needs low > 0, got {}", dim.low);
    dim.kind = SearchDim::Kind::kLogUniform;
  } else {
    dim.kind = is_integer(low) && is_integer(high) ? SearchDim::Kind::kIntUniform
                                                   : SearchDim::Kind::kUniform;
  }
}

// Columns n, then per curve: its name, <name> low, <name> high (the band).
std::string curve_csv(const std::vector<std::pair<std::string, std::vector<double>>>& curves,
                      const std::vector<CurveBand>& bands) {
  std::string out = "n";
  size_t longest = 0;
  for (const auto& [name, c] : curves) {
    out += fmt::format(",{0},{0} low,{0} high", name);
    longest = std::max(longest, c.size());
  }
  out += "\n";
  for (size_t n = 0; n < longest; ++n) {
    out += std::to_string(n + 1);
    for (size_t i = 0; i < curves.size(); ++i) {
      const auto& c = curves[i].second;
      out += n < c.size() ? fmt::format(",{:.6g},{:.6g},{:.6g}", c[n], bands[i].low[n], bands[i].high[n])
                          : ",,,";
    }
    out += "\n";
  }
  return out;
}

// Renders expected_best.csv as expected_best.svg (each curve over its shaded
// band); false when gnuplot is absent or fails.
bool plot_curves(const fs::path& dir, size_t n_curves) {
  return render_svg((dir / "expected_best.svg").string(),
                    fmt::format("set datafile separator ','\n"
                                "set key autotitle columnhead top right\n"
                                "set xlabel 'trials'\nset ylabel 'expected best validation loss'\n"
                                "set grid\nset style fill transparent solid 0.2 noborder\n"
                                "plot for [i=0:{}] '{}' using 1:(column(3*i+3)):(column(3*i+4)) "
                                "with filledcurves lc i+1 notitle, \\\n"
                                "     for [i=0:{}] '' using 1:(column(3*i+2)) with linespoints lc i+1 "
                                "title columnhead(3*i+2)\n",
                                n_curves - 1, (dir / "expected_best.csv").string(), n_curves - 1));
}

// "## Tuning budget" for every gate tuned without and with local search.
std::string budget_text(const std::vector<std::pair<std::string, BudgetRatio>>& ratios) {
  if (ratios.empty()) return "";
  std::string out =
      "\n## Tuning budget: trials the plain gate needs / trials \"+ LS\" needs to reach the plain "
      "gate's expected best at its largest budget (95% bootstrap interval)\n\n"
      "| gate | target | plain trials | + LS trials | R | 95% interval |\n|---|---|---|---|---|---|\n";
  for (const auto& [gate, r] : ratios) {
    out += fmt::format("| {} | {:.4f} | {} | {}{} | {:.2f} | [{:.2f}, {:.2f}] |\n", gate, r.target,
                       r.plain_trials, r.search_trials, r.search_trials > r.plain_trials ? " (not reached)" : "",
                       r.ratio, r.low, r.high);
  }
  return out;
}

}  // namespace

std::string SearchDim::sample(std::mt19937_64& rng) const {
  switch (kind) {
    case Kind::kChoice:
      return choices[std::uniform_int_distribution<size_t>(0, choices.size() - 1)(rng)];
    case Kind::kIntUniform:
      return std::to_string(std::uniform_int_distribution<int64_t>(
          static_cast<int64_t>(low), static_cast<int64_t>(high))(rng));
    case Kind::kLogUniform:
      return fmt::format("{:.6g}", std::exp(std::uniform_real_distribution<double>(
                                       std::log(low), std::log(high))(rng)));
    case Kind::kUniform:
    default:
      return fmt::format("{:.6g}", std::uniform_real_distribution<double>(low, high)(rng));
  }
}

std::string SearchDim::draw(uint64_t seed, int64_t trial) const {
  uint64_t key_hash = 1469598103934665603ull;  // FNV-1a: stable across runs and builds
  for (unsigned char c : key) key_hash = (key_hash ^ c) * 1099511628211ull;
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                    static_cast<uint32_t>(trial), static_cast<uint32_t>(key_hash),
                    static_cast<uint32_t>(key_hash >> 32)};
  std::mt19937_64 rng(seq);
  return sample(rng);
}

bool SearchDim::applies_to(const StudyArm& arm) const {
  const std::string& gate = arm.gate;
  const bool local_search = arm.local_search;
  if (key == "train.consistency_alpha") return arm.consistency;
  const auto dot = key.find('.');
  if (key.substr(0, dot) != "gate") return true;
  const std::string rest = key.substr(dot + 1);
  const auto inner = rest.find('.');
  if (inner != std::string::npos) return rest.substr(0, inner) == gate;  // gate.<name>.<option>
  const auto& ls = gates::local_search_options();
  if (std::find(ls.begin(), ls.end(), rest) != ls.end()) return local_search;
  bool some_gate_reads = false;
  for (const auto& info : gates::registered_gates()) {
    const bool reads = std::find(info.options.begin(), info.options.end(), rest) != info.options.end();
    if (reads && info.name == gate) return true;
    some_gate_reads = some_gate_reads || reads;
  }
  return !some_gate_reads;  // not a gate-specific option: every arm reads it
}

std::vector<SearchDim> parse_search_space(const Config& config) {
  std::vector<SearchDim> dims;
  if (!config.has("search")) return dims;
  const YAML::Node search = YAML::Load(config.dump())["search"];
  MOEKIT_CHECK(search.IsMap(), config.where("search"), "expected a mapping of config keys");
  for (const auto& kv : search) {
    SearchDim dim;
    dim.key = kv.first.as<std::string>();
    const std::string where = config.where("search." + dim.key);
    MOEKIT_CHECK(dim.key.find('.') != std::string::npos, where,
                 "expected a section.key path such as train.lr");
    const YAML::Node& v = kv.second;
    double a = 0, b = 0;
    if (v.IsSequence() && v.size() == 2 && is_number(v[0], &a) && is_number(v[1], &b)) {
      range_from(dim, v[0], v[1], false, where);
    } else if (v.IsSequence()) {
      dim.kind = SearchDim::Kind::kChoice;
      dim.choices = scalars(v, where);
    } else if (v.IsMap() && v["choices"]) {
      MOEKIT_CHECK(v.size() == 1, where, "'choices' takes no other keys");
      dim.kind = SearchDim::Kind::kChoice;
      dim.choices = scalars(v["choices"], where);
    } else if (v.IsMap()) {
      for (const auto& entry : v) {
        const auto k = entry.first.as<std::string>();
        MOEKIT_CHECK(k == "low" || k == "high" || k == "log", where + "." + k,
                     "unknown key; expected low, high, log or choices");
      }
      MOEKIT_CHECK(v["low"] && v["high"], where, "a range needs low and high");
      bool log = false;
      if (v["log"]) {
        const std::string s = v["log"].Scalar();
        MOEKIT_CHECK(s == "true" || s == "false", where + ".log", "expected true or false, got '{}'",
                     s);
        log = s == "true";
      }
      range_from(dim, v["low"], v["high"], log, where);
    } else {
      throw Error(where, "expected [low, high], {low: , high: , log: }, or a list of choices");
    }
    dims.push_back(std::move(dim));
  }
  return dims;
}

void TuneOptions::validate() const {
  MOEKIT_CHECK(!gates().empty(), "gates", "must name at least one gate");
  MOEKIT_CHECK(!local_search().empty(), "local_search", "must hold at least one setting");
  MOEKIT_CHECK(trials() >= 1, "trials", "must be >= 1, got {}", trials());
  MOEKIT_CHECK(top_fraction() > 0 && top_fraction() <= 1, "top_fraction",
               "must lie in (0, 1], got {}", top_fraction());
  MOEKIT_CHECK(record_dir().empty() || !out_dir().empty(), "record_dir",
               "needs an output folder (out_dir) for the runs");
  check_records_exist(continue_from(), "continue_from");
  check_arm_settings(arm_settings());
}

std::vector<size_t> top_fraction(const std::vector<double>& losses, double fraction) {
  std::vector<size_t> order(losses.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return losses[a] < losses[b]; });
  const auto keep = std::max<size_t>(
      1, static_cast<size_t>(std::ceil(fraction * static_cast<double>(losses.size()) - 1e-9)));
  order.resize(std::min(keep, order.size()));
  return order;
}

std::vector<double> expected_best_curve(const std::vector<double>& losses) {
  MOEKIT_CHECK(!losses.empty(), "expected_best_curve", "no trials");
  std::vector<double> v = losses;
  std::sort(v.begin(), v.end());
  const auto size = static_cast<double>(v.size());
  std::vector<double> curve;
  for (size_t n = 1; n <= v.size(); ++n) {
    // P(min == v[i]) = P(all draws >= v[i]) - P(all draws > v[i]) over sorted ranks.
    double e = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      const double ge = std::pow((size - static_cast<double>(i)) / size, static_cast<double>(n));
      const double gt = std::pow((size - static_cast<double>(i) - 1) / size, static_cast<double>(n));
      e += v[i] * (ge - gt);
    }
    if (!curve.empty()) e = std::min(e, curve.back());  // rounding must not break monotonicity
    curve.push_back(e);
  }
  return curve;
}

TuneResult run_tune(const Config& config, const TuneOptions& options,
                    const std::function<void(const std::string&)>& progress) {
  options.validate();
  const std::vector<SearchDim> space = parse_search_space(config);
  const fs::path out(options.out_dir());
  StudyLog log;
  log.load(options.continue_from());
  if (!options.record_dir().empty()) log.load((fs::path(options.record_dir()) / "trials.jsonl").string());
  if (!options.out_dir().empty()) log.load((out / "trials.jsonl").string());
  TuneResult result;
  std::vector<std::pair<std::string, std::vector<size_t>>> groups;
  for (const StudyArm& arm : study_arms(options.gates(), options.local_search())) {
    groups.push_back({arm.label(), {}});
    const std::vector<ArmSetting> fixed = settings_for(options.arm_settings(), arm);
    for (int64_t t = 0; t < options.trials(); ++t) {
      std::vector<std::string> overrides = arm.overrides();
      overrides.push_back(fmt::format("train.seed={}", t));
      std::vector<std::pair<std::string, std::string>> params;
      for (const auto& dim : space) {
        if (dim.applies_to(arm)) params.push_back({dim.key, dim.draw(options.seed(), t)});
      }
      params = with_settings(params, fixed);
      for (const auto& [key, value] : params) overrides.push_back(key + "=" + value);
      const std::string request = run_request(config, overrides);
      try {
        result.trials.push_back(run_once(
            config, overrides,
            study_run_dir(options.out_dir(), "trials", arm, fmt::format("trial{}", t)), &log));
      } catch (const Error& e) {
        throw e.with_prefix(fmt::format("tune {} trial {}", groups.back().first, t));
      }
      RunRecord& r = result.trials.back();
      r.params = params;
      groups.back().second.push_back(result.trials.size() - 1);
      if (!log.find(request)) {
        log.add(r, request);
        if (!options.out_dir().empty()) {
          log.write((out / "trials.jsonl").string());
          copy_study_files(options.out_dir(), options.record_dir(), {"trials.jsonl"});
        }
      }
      if (progress) {
        std::string p;
        for (const auto& [k, v] : params) p += " " + k + "=" + v;
        progress(fmt::format("{} trial {}/{}:{} -> valid loss {:.4f} ({:.1f} s)",
                             groups.back().first, t + 1, options.trials(), p, r.valid_loss,
                             r.train_seconds));
      }
    }
  }

  std::vector<RunRecord> top;
  std::string curve_text = "\n## Expected best validation loss after n trials\n\n| gate |";
  std::string rule = "|---|";
  const std::vector<int64_t> marks{1, 2, 5, 10, 20, 50, 100, options.trials()};
  std::vector<int64_t> shown;
  for (int64_t m : marks) {
    if (m <= options.trials() && (shown.empty() || m > shown.back())) shown.push_back(m);
  }
  for (int64_t m : shown) {
    curve_text += fmt::format(" n={} |", m);
    rule += "---|";
  }
  curve_text += "\n" + rule + "\n";
  for (const auto& [name, idx] : groups) {
    std::vector<double> losses;
    for (size_t i : idx) losses.push_back(result.trials[i].valid_loss);
    for (size_t k : top_fraction(losses, options.top_fraction())) top.push_back(result.trials[idx[k]]);
    result.expected_best.push_back({name, expected_best_curve(losses)});
    result.expected_best_bands.push_back(expected_best_band(losses, 1000, options.seed()));
    curve_text += "| " + name + " |";
    for (int64_t m : shown) curve_text += fmt::format(" {:.4f} |", result.expected_best.back().second[m - 1]);
    curve_text += "\n";
  }
  for (const auto& [name, idx] : groups) {
    const std::string with_ls = name + " + LS";
    const auto searched = std::find_if(groups.begin(), groups.end(),
                                       [&](const auto& g) { return g.first == with_ls; });
    if (searched == groups.end()) continue;
    const auto losses_of = [&](const std::vector<size_t>& members) {
      std::vector<double> v;
      for (size_t i : members) v.push_back(result.trials[i].valid_loss);
      return v;
    };
    result.budget_ratios.push_back(
        {name, budget_ratio(losses_of(idx), losses_of(searched->second), 1000, options.seed())});
  }
  curve_text += budget_text(result.budget_ratios);
  result.summary = fmt::format(
                       "## Top {:g}% of {} trials per gate by validation loss (test metrics, mean ± s.e.)\n\n",
                       options.top_fraction() * 100, options.trials()) +
                   summary_table(top, Spread::kStandardError) + curve_text;

  if (!options.out_dir().empty()) {
    const fs::path dir(options.out_dir());
    fs::create_directories(dir);
    write_text_atomically((dir / "tune_trials.csv").string(), runs_csv(result.trials));
    log.write((dir / "trials.jsonl").string());
    write_text_atomically((dir / "tune_summary.md").string(), result.summary);
    write_text_atomically((dir / "expected_best.csv").string(), curve_csv(result.expected_best, result.expected_best_bands));
    result.plot_written = plot_curves(dir, result.expected_best.size());
    copy_study_files(options.out_dir(), options.record_dir(),
                     {"tune_trials.csv", "trials.jsonl", "tune_summary.md", "expected_best.csv",
                      "expected_best.svg"});
  }
  return result;
}

}  // namespace moekit::train
