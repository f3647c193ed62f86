#include "moekit/gates/gate_options.h"

#include <fmt/format.h>

#include <functional>

#include "moekit/core/error.h"
#include "moekit/core/parse.h"

namespace moekit::gates {
namespace {

// One row per option: how to print it and how to set it. Keeping the table in
// one place makes `moekit gates`, YAML and `--set` agree on names.
struct Field {
  std::string name;
  std::function<std::string(const GateOptions&)> get;
  std::function<void(GateOptions&, const std::string&)> set;
};

#define MOEKIT_FIELD(T, NAME)                                                            \
  Field {                                                                                \
    #NAME, [](const GateOptions& o) { return format_value<T>(o.NAME()); },               \
        [](GateOptions& o, const std::string& v) { o.NAME(parse_value<T>(v, #NAME)); } \
  }

const std::vector<Field>& fields() {
  static const std::vector<Field> table = {
      MOEKIT_FIELD(int64_t, d_in),
      MOEKIT_FIELD(int64_t, n_experts),
      MOEKIT_FIELD(int64_t, k),
      MOEKIT_FIELD(bool, noisy),
      MOEKIT_FIELD(double, balance_weight),
      MOEKIT_FIELD(double, capacity_factor),
      MOEKIT_FIELD(int64_t, n_ids),
      MOEKIT_FIELD(int64_t, seed),
      MOEKIT_FIELD(double, gamma),
      MOEKIT_FIELD(double, entropy_weight),
      MOEKIT_FIELD(bool, per_example),
      MOEKIT_FIELD(double, invalid_weight),
      MOEKIT_FIELD(std::string, granularity),
      MOEKIT_FIELD(std::string, eval_mode),
      MOEKIT_FIELD(int64_t, fixed_expert),
      MOEKIT_FIELD(bool, local_search),
      MOEKIT_FIELD(int64_t, search_steps),
      MOEKIT_FIELD(double, tau_start),
      MOEKIT_FIELD(double, tau_end),
      MOEKIT_FIELD(int64_t, sinkhorn_iters_start),
      MOEKIT_FIELD(int64_t, sinkhorn_iters_end),
      MOEKIT_FIELD(double, permutation_entropy_weight),
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
