#include "moekit/gates/gate_options.h"

#include <fmt/format.h>

#include <functional>

#include "moekit/core/error.h"
#include "moekit/core/parse.h"

namespace moekit::gates {
namespace {

// One row per option: how to print it, how to set it and which values it
// accepts. Keeping the table in one place makes `moekit gates`, YAML and `--set`
// agree on names and ranges. Cross-field limits (k <= n_experts, tau_start >=
// tau_end) need the whole struct and stay with the gates that read them.
struct Field {
  std::string name;
  std::function<std::string(const GateOptions&)> get;
  std::function<void(GateOptions&, const std::string&)> set;
};

// Range checks for the setters; `name` is the key that will be reported.
template <typename T>
T at_least(T v, T low, const char* name) {
  MOEKIT_CHECK(v >= low, name, "must be >= {}, got {}", low, v);
  return v;
}
double positive(double v, const char* name) {
  MOEKIT_CHECK(v > 0, name, "must be > 0, got {}", v);
  return v;
}
template <typename T>
T any_value(T v, const char*) {
  return v;
}
std::string one_of(const std::string& v, const char* name, std::initializer_list<const char*> allowed) {
  std::string list;
  for (const char* a : allowed) {
    if (v == a) return v;
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  throw Error(name, fmt::format("must be one of {}, got '{}'", list, v));
}

#define MOEKIT_FIELD(T, NAME, CHECK)                                                        \
  Field {                                                                                   \
    #NAME, [](const GateOptions& o) { return format_value<T>(o.NAME()); },                  \
        [](GateOptions& o, const std::string& text) {                                       \
          const T v = parse_value<T>(text, #NAME);                                          \
          o.NAME(CHECK);                                                                    \
        }                                                                                   \
  }

const std::vector<Field>& fields() {
  static const std::vector<Field> table = {
      MOEKIT_FIELD(int64_t, d_in, at_least<int64_t>(v, 0, "d_in")),
      MOEKIT_FIELD(int64_t, n_experts, at_least<int64_t>(v, 0, "n_experts")),
      MOEKIT_FIELD(int64_t, k, at_least<int64_t>(v, 1, "k")),
      MOEKIT_FIELD(bool, noisy, v),
      MOEKIT_FIELD(double, balance_weight, at_least(v, 0.0, "balance_weight")),
      // <= 0 is documented as "unlimited", so every finite value is meaningful.
      MOEKIT_FIELD(double, capacity_factor, any_value(v, "capacity_factor")),
      MOEKIT_FIELD(int64_t, n_ids, at_least<int64_t>(v, 1, "n_ids")),
      MOEKIT_FIELD(int64_t, seed, any_value(v, "seed")),
      MOEKIT_FIELD(double, gamma, positive(v, "gamma")),
      MOEKIT_FIELD(double, entropy_weight, at_least(v, 0.0, "entropy_weight")),
      MOEKIT_FIELD(bool, per_example, v),
      MOEKIT_FIELD(double, invalid_weight, at_least(v, 0.0, "invalid_weight")),
      MOEKIT_FIELD(std::string, granularity,
                   one_of(v, "granularity", {"batch", "sequence", "token"})),
      MOEKIT_FIELD(std::string, eval_mode, one_of(v, "eval_mode", {"sample", "fixed", "mean"})),
      MOEKIT_FIELD(int64_t, fixed_expert, at_least<int64_t>(v, 0, "fixed_expert")),
      MOEKIT_FIELD(bool, local_search, v),
      MOEKIT_FIELD(int64_t, search_steps, at_least<int64_t>(v, 0, "search_steps")),
      MOEKIT_FIELD(double, search_epochs, at_least(v, 0.0, "search_epochs")),
      MOEKIT_FIELD(double, tau_start, positive(v, "tau_start")),
      MOEKIT_FIELD(double, tau_end, positive(v, "tau_end")),
      MOEKIT_FIELD(int64_t, sinkhorn_iters_start, at_least<int64_t>(v, 1, "sinkhorn_iters_start")),
      MOEKIT_FIELD(int64_t, sinkhorn_iters_end, at_least<int64_t>(v, 1, "sinkhorn_iters_end")),
      MOEKIT_FIELD(double, permutation_entropy_weight,
                   at_least(v, 0.0, "permutation_entropy_weight")),
      MOEKIT_FIELD(double, permutation_init, positive(v, "permutation_init")),
      MOEKIT_FIELD(double, permutation_noise, at_least(v, 0.0, "permutation_noise")),
      MOEKIT_FIELD(bool, permutation_per_task, v),
  };
  return table;
}
#undef MOEKIT_FIELD

}  // namespace

std::vector<std::pair<std::string, std::string>> GateOptions::values() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : fields()) out.emplace_back(f.name, f.get(*this));
  return out;
}

void GateOptions::set(const std::string& name, const std::string& value) {
  for (const auto& f : fields()) {
    if (f.name == name) {
      f.set(*this, value);
      return;
    }
  }
  std::string known;
  for (const auto& f : fields()) known += (known.empty() ? "" : ", ") + f.name;
  throw Error(name, fmt::format("unknown gate option; known options: {}", known));
}

}  // namespace moekit::gates
