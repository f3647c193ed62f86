#include <fmt/format.h>

#include <functional>

#include "moekit/core/error.h"
#include "moekit/gates/gate.h"
#include "moekit/gates/permutation_search.h"

namespace moekit::gates {

#define MOEKIT_GATE(NAME, FACTORY, SUMMARY, OPTIONS, ROUTES) \
  std::shared_ptr<Gate> FACTORY(const GateOptions& options);
#include "gates/gate_list.def"
#undef MOEKIT_GATE

namespace {

using Factory = std::shared_ptr<Gate> (*)(const GateOptions&);

std::vector<std::string> split_names(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string name = list.substr(start, end - start);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    if (!name.empty()) out.push_back(name);
    start = end + 1;
  }
  return out;
}

struct Entry {
  GateInfo info;
  Factory make;
};

const std::vector<Entry>& entries() {
  static const std::vector<Entry> table = {
#define MOEKIT_GATE(NAME, FACTORY, SUMMARY, OPTIONS, ROUTES) \
  Entry{GateInfo{#NAME, SUMMARY, split_names(OPTIONS), ROUTES}, &FACTORY},
#include "gates/gate_list.def"
#undef MOEKIT_GATE
  };
  return table;
}

void validate_shape(const GateOptions& options) {
  MOEKIT_CHECK(options.d_in() > 0, "d_in", "must be > 0, got {}", options.d_in());
  MOEKIT_CHECK(options.n_experts() > 0, "n_experts", "must be > 0, got {}", options.n_experts());
}

}  // namespace

const std::vector<GateInfo>& registered_gates() {
  static const std::vector<GateInfo> infos = [] {
    std::vector<GateInfo> out;
    for (const auto& e : entries()) out.push_back(e.info);
    return out;
  }();
  return infos;
}

const std::vector<std::string>& local_search_options() {
  static const std::vector<std::string> names = {
      "local_search",     "search_steps",         "search_epochs",
      "tau_start",        "tau_end",              "sinkhorn_iters_start",
      "sinkhorn_iters_end", "permutation_entropy_weight", "permutation_init",
      "permutation_noise", "permutation_per_task"};
  return names;
}

int64_t routed_experts(const std::string& gate, int64_t k) {
  for (const auto& e : entries()) {
    if (e.info.name != gate) continue;
    if (e.info.routes == "dense") return 0;
    return e.info.routes == "k" ? k : 1;
  }
  throw Error("gate", fmt::format("unknown gate '{}'", gate));
}

std::shared_ptr<Gate> make_gate(const std::string& name, const GateOptions& options) {
  for (const auto& e : entries()) {
    if (e.info.name != name) continue;
    validate_shape(options);
    std::shared_ptr<Gate> gate = e.make(options);
    return options.local_search() ? wrap_with_permutation_search(std::move(gate), options) : gate;
  }
  std::string known;
  for (const auto& e : entries()) known += (known.empty() ? "" : ", ") + e.info.name;
  throw Error("gate", fmt::format("unknown gate '{}'; registered gates: {}", name, known));
}

std::vector<std::shared_ptr<Gate>> make_task_gates(const std::string& name,
                                                   const GateOptions& options, int64_t n_tasks) {
  MOEKIT_CHECK(n_tasks >= 1, "tasks", "need at least one task, got {}", n_tasks);
  std::vector<std::shared_ptr<Gate>> out;
  const bool share = options.local_search() && !options.permutation_per_task();
  for (int64_t t = 0; t < n_tasks; ++t) {
    if (!share || t == 0) {
      out.push_back(make_gate(name, options));
      continue;
    }
    // Task 0's gate owns the Π the other tasks route through.
    auto owner = std::dynamic_pointer_cast<PermutationSearchGate>(out.front());
    auto inner = make_gate(name, GateOptions(options).local_search(false));
    out.push_back(std::make_shared<PermutationSearchGate>(std::move(inner), std::move(owner)));
  }
  return out;
}

void step_gate_schedules(torch::nn::Module& model) {
  for (const auto& module : model.modules()) {
    if (auto* gate = dynamic_cast<Gate*>(module.get())) gate->optimizer_step();
  }
}

void set_gate_steps_per_epoch(torch::nn::Module& model, int64_t steps_per_epoch) {
  for (const auto& module : model.modules()) {
    if (auto* gate = dynamic_cast<Gate*>(module.get())) gate->set_steps_per_epoch(steps_per_epoch);
  }
}

}  // namespace moekit::gates
