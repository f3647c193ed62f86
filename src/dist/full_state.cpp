#include "moekit/dist/full_state.h"

#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <tuple>

#include "moekit/core/error.h"
#include "moekit/core/optimizer_state.h"
#include "moekit/dist/expert_parallel.h"
#include "moekit/moe/experts.h"

namespace moekit::dist {
namespace {

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

struct Shard {
  std::string prefix;  // path of the ShardedExperts; its experts live under prefix.local
  ShardedExpertsImpl* module;
  std::string local_prefix() const { return join(prefix, "local") + "."; }
};

std::vector<Shard> find_shards(torch::nn::Module& model) {
  std::vector<Shard> shards;
  if (auto* self = dynamic_cast<ShardedExpertsImpl*>(&model)) shards.push_back({"", self});
  // Not include_self: that needs the model held by a shared_ptr.
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    if (auto* s = dynamic_cast<ShardedExpertsImpl*>(item.value().get())) {
      shards.push_back({item.key(), s});
    }
  }
  return shards;
}

const Shard* shard_of(const std::vector<Shard>& shards, const std::string& name) {
  for (const auto& s : shards) {
    if (starts_with(name, s.local_prefix())) return &s;
  }
  return nullptr;
}

std::string expert_name(int64_t e) { return "expert_" + std::to_string(e); }

// The entries of one ShardedExperts: FFN weights [n, ...] of which this rank
// holds rows [first, first + L), or one entry per tensor of every expert module.
void add_shard_entries(const Shard& s, bool buffers, std::vector<FullEntry>& out) {
  moe::Experts& local = s.module->local();
  const auto items = buffers ? local.named_buffers() : local.named_parameters();
  const int64_t n = s.module->n_experts(), first = s.module->first_expert();
  if (local.layout() == moe::ExpertLayout::kStacked) {
    for (const auto& item : items) {
      auto shape = item.value().sizes().vec();
      shape[0] = n;
      out.push_back({join(s.prefix, item.key()), shape, item.value().scalar_type(), buffers,
                     item.value(), true, first});
    }
    return;
  }
  // Module experts: expert_<first> is the template for the shapes of all.
  const std::string tmpl = expert_name(first) + ".";
  for (int64_t e = 0; e < n; ++e) {
    for (const auto& item : items) {
      if (!starts_with(item.key(), tmpl)) continue;
      const std::string suffix = item.key().substr(tmpl.size());
      const std::string key = expert_name(e) + "." + suffix;
      const at::Tensor* mine = items.find(key);
      out.push_back({join(s.prefix, key), item.value().sizes().vec(), item.value().scalar_type(),
                     buffers, mine ? *mine : at::Tensor(), true, -1});
    }
  }
}

void add_entries(torch::nn::Module& model, const std::vector<Shard>& shards, bool buffers,
                 std::vector<FullEntry>& out) {
  std::vector<const Shard*> done;
  for (const auto& item : buffers ? model.named_buffers() : model.named_parameters()) {
    const Shard* s = shard_of(shards, item.key());
    if (s == nullptr) {
      out.push_back({item.key(), item.value().sizes().vec(), item.value().scalar_type(), buffers,
                     item.value(), false, -1});
    } else if (std::find(done.begin(), done.end(), s) == done.end()) {
      done.push_back(s);
      add_shard_entries(*s, buffers, out);
    }
  }
}

// A tree of archives keyed by dotted names, written the way Module::save nests them.
struct Node {
  std::map<std::string, Node> children;
  std::vector<std::tuple<std::string, at::Tensor, bool>> leaves;

  Node& at_path(const std::string& dotted) {
    Node* node = this;
    size_t begin = 0;
    for (size_t dot; (dot = dotted.find('.', begin)) != std::string::npos; begin = dot + 1) {
      node = &node->children[dotted.substr(begin, dot - begin)];
    }
    return dotted.empty() ? *node : node->children[dotted.substr(begin)];
  }
  void add(const std::string& dotted, const at::Tensor& t, bool is_buffer) {
    const size_t dot = dotted.rfind('.');
    Node& parent = dot == std::string::npos ? *this : at_path(dotted.substr(0, dot));
    parent.leaves.emplace_back(dotted.substr(dot == std::string::npos ? 0 : dot + 1), t,
                               is_buffer);
  }
  void write(torch::serialize::OutputArchive& archive) const {
    for (const auto& [key, t, is_buffer] : leaves) archive.write(key, t, is_buffer);
    for (const auto& [key, child] : children) {
      torch::serialize::OutputArchive nested(archive.compilation_unit());
      child.write(nested);
      archive.write(key, nested);
    }
  }
};

// The tensor at a dotted path of nested archives, or undefined when absent.
at::Tensor read_path(torch::serialize::InputArchive& archive, const std::string& dotted) {
  const size_t dot = dotted.find('.');
  if (dot == std::string::npos) {
    at::Tensor t;
    return archive.try_read(dotted, t) ? t : at::Tensor();
  }
  torch::serialize::InputArchive child;
  if (!archive.try_read(dotted.substr(0, dot), child)) return {};
  return read_path(child, dotted.substr(dot + 1));
}

// Full tensors of the entries, with `value(local)` (undefined: nothing to save)
// gathered over ranks for the sharded ones; undefined where no rank had one.
std::vector<at::Tensor> gather(Group& group, const std::vector<FullEntry>& entries,
                               const std::function<at::Tensor(const at::Tensor&)>& value) {
  std::vector<at::Tensor> full(entries.size()), sharded;
  std::vector<size_t> sharded_index;
  for (size_t i = 0; i < entries.size(); ++i) {
    const FullEntry& e = entries[i];
    const at::Tensor v = e.local.defined() ? value(e.local) : at::Tensor();
    if (!e.sharded) {
      if (v.defined()) full[i] = v.detach().clone();
      continue;
    }
    at::Tensor t = at::zeros(e.shape, at::TensorOptions().dtype(e.dtype));
    if (v.defined()) (e.offset >= 0 ? t.narrow(0, e.offset, v.size(0)) : t).copy_(v.detach());
    full[i] = t;
    sharded.push_back(t);
    sharded_index.push_back(i);
  }
  if (sharded.empty()) return full;
  // Which entries some rank had a value for (Adam state may not exist yet).
  at::Tensor present = at::zeros({static_cast<int64_t>(sharded.size())}, at::kDouble);
  for (size_t j = 0; j < sharded.size(); ++j) {
    const FullEntry& e = entries[sharded_index[j]];
    present[j] = e.local.defined() && value(e.local).defined() ? 1.0 : 0.0;
  }
  sharded.push_back(present);
  group.all_reduce_sum(sharded);
  for (size_t j = 0; j + 1 < sharded.size(); ++j) {
    if (present[j].item<double>() == 0) full[sharded_index[j]] = at::Tensor();
  }
  return full;
}

// The optimizer step of each entry; for sharded ones, the (equal) step of the
// ranks that hold its state.
std::vector<int64_t> gather_steps(Group& group, torch::optim::Optimizer& optimizer,
                                  const std::vector<FullEntry>& entries) {
  const auto n = static_cast<int64_t>(entries.size());
  at::Tensor sums = at::zeros({2, n}, at::kDouble);  // step, presence
  bool any_sharded = false;
  for (int64_t i = 0; i < n; ++i) {
    const FullEntry& e = entries[i];
    any_sharded = any_sharded || e.sharded;
    if (const auto state = e.local.defined() ? get_param_state(optimizer, e.local) : std::nullopt) {
      sums[0][i] = static_cast<double>(state->step);
      sums[1][i] = 1.0;
    }
  }
  if (any_sharded) group.all_reduce_sum({sums});
  std::vector<int64_t> steps(n, 0);
  for (int64_t i = 0; i < n; ++i) {
    const double count = sums[1][i].item<double>();
    if (count > 0) steps[i] = std::llround(sums[0][i].item<double>() / count);
  }
  return steps;
}

std::string shape_str(at::IntArrayRef shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

}  // namespace

FullLayout full_layout(torch::nn::Module& model) {
  const std::vector<Shard> shards = find_shards(model);
  FullLayout layout;
  add_entries(model, shards, /*buffers=*/false, layout.entries);
  add_entries(model, shards, /*buffers=*/true, layout.entries);
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    if (shard_of(shards, item.key() + ".") == nullptr) layout.modules.push_back(item.key());
  }
  for (const auto& s : shards) {
    if (s.module->local().layout() == moe::ExpertLayout::kStacked) continue;
    const std::string tmpl = expert_name(s.module->first_expert());
    const auto inner = s.module->local().named_modules("", /*include_self=*/false);
    for (int64_t e = 0; e < s.module->n_experts(); ++e) {
      for (const auto& item : inner) {
        if (item.key() == tmpl || starts_with(item.key(), tmpl + ".")) {
          layout.modules.push_back(join(s.prefix, expert_name(e) + item.key().substr(tmpl.size())));
        }
      }
    }
  }
  return layout;
}

void save_full_state(Group& group, torch::nn::Module& model, torch::optim::Optimizer* adam,
                     torch::serialize::OutputArchive& model_archive,
                     torch::serialize::OutputArchive* optim_archive) {
  const FullLayout layout = full_layout(model);
  const auto& entries = layout.entries;
  {
    const auto values = gather(group, entries, [](const at::Tensor& t) { return t; });
    Node root;
    for (const auto& m : layout.modules) root.at_path(m);
    for (size_t i = 0; i < entries.size(); ++i) {
      root.add(entries[i].name, values[i], entries[i].is_buffer);
    }
    root.write(model_archive);
  }
  if (adam == nullptr || optim_archive == nullptr) return;
  // One archive per state tensor (Adam: exp_avg, exp_avg_sq), then "step".
  const auto& names = optimizer_state_tensors();
  std::vector<std::vector<at::Tensor>> fields;
  for (size_t j = 0; j < names.size(); ++j) {
    fields.push_back(gather(group, entries, [&](const at::Tensor& p) -> at::Tensor {
      const auto state = get_param_state(*adam, p);
      return state ? state->tensors[j] : at::Tensor();
    }));
  }
  const auto steps = gather_steps(group, *adam, entries);
  std::vector<Node> nodes(names.size());
  Node step;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].is_buffer || !fields[0][i].defined()) continue;
    for (size_t j = 0; j < names.size(); ++j) nodes[j].add(entries[i].name, fields[j][i], false);
    step.add(entries[i].name, at::scalar_tensor(steps[i], at::kLong), false);
  }
  auto write_child = [&](const std::string& key, const Node& node) {
    torch::serialize::OutputArchive nested(optim_archive->compilation_unit());
    node.write(nested);
    optim_archive->write(key, nested);
  };
  for (size_t j = 0; j < names.size(); ++j) write_child(names[j], nodes[j]);
  write_child("step", step);
}

void load_full_state(torch::nn::Module& model, torch::optim::Optimizer* adam,
                     torch::serialize::InputArchive& model_archive,
                     torch::serialize::InputArchive* optim_archive, const std::string& where,
                     std::vector<std::string>* missing) {
  const FullLayout layout = full_layout(model);
  // The slice of a full tensor that this rank holds for entry e.
  auto mine = [](const FullEntry& e, const at::Tensor& full) {
    return e.sharded && e.offset >= 0 ? full.narrow(0, e.offset, e.local.size(0)) : full;
  };
  torch::NoGradGuard no_grad;
  for (const auto& e : layout.entries) {
    if (!e.local.defined()) continue;
    const at::Tensor full = read_path(model_archive, e.name);
    if (!full.defined() && missing != nullptr) {
      missing->push_back(e.name);
      continue;
    }
    MOEKIT_CHECK(full.defined(), where,
                 "no tensor '{}' (a checkpoint of another model or config?)", e.name);
    MOEKIT_CHECK(full.sizes().vec() == e.shape, where,
                 "'{}' has shape {} in the checkpoint but {} in this model", e.name,
                 shape_str(full.sizes()), shape_str(e.shape));
    e.local.copy_(mine(e, full));
  }
  if (adam == nullptr || optim_archive == nullptr) return;
  const auto& names = optimizer_state_tensors();
  std::vector<torch::serialize::InputArchive> fields(names.size());
  torch::serialize::InputArchive step;
  bool complete = optim_archive->try_read("step", step);
  for (size_t j = 0; j < names.size(); ++j) {
    complete = complete && optim_archive->try_read(names[j], fields[j]);
  }
  MOEKIT_CHECK(complete, where, "no optimizer state in the moekit layout");
  for (const auto& e : layout.entries) {
    if (e.is_buffer || !e.local.defined()) continue;
    const at::Tensor first = read_path(fields[0], e.name);
    if (!first.defined()) {
      erase_param_state(*adam, e.local);
      continue;
    }
    const at::Tensor s = read_path(step, e.name);
    ParamState state;
    bool ok = s.defined() && first.sizes().vec() == e.shape;
    for (size_t j = 0; j < names.size() && ok; ++j) {
      const at::Tensor t = j == 0 ? first : read_path(fields[j], e.name);
      ok = t.defined() && t.sizes() == first.sizes();
      if (ok) state.tensors.push_back(mine(e, t).clone().to(e.local.options()));
    }
    MOEKIT_CHECK(ok, where, "optimizer state of '{}' is incomplete or has the wrong shape",
                 e.name);
    state.step = static_cast<int64_t>(std::llround(s.item<double>()));
    set_param_state(*adam, e.local, std::move(state));
  }
}

}  // namespace moekit::dist
