#include "moekit/core/config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "moekit/core/error.h"

namespace moekit {

// Shared by a config and all its sections: the document, its file name, and
// the set of key paths that were read.
struct Config::State {
  YAML::Node root;
  std::string file;
  std::set<std::string> used;
  std::map<std::string, std::string> notes;  // key path -> "doc [type, default X]"
};

namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream stream(path);
  std::string part;
  while (std::getline(stream, part, '.')) parts.push_back(part);
  return parts;
}

// Walks `path` from `root`, creating maps on the way when `create` is set.
YAML::Node walk(YAML::Node root, const std::string& path, bool create, const std::string& file) {
  YAML::Node node = root;
  std::string seen;
  for (const auto& part : split_path(path)) {
    seen += (seen.empty() ? "" : ".") + part;
    MOEKIT_CHECK(node.IsMap() || (create && (node.IsNull() || !node.IsDefined())),
                 file + ": " + seen,
                 "expected a mapping of keys");
    if (!node[part] && !create) return YAML::Node(YAML::NodeType::Undefined);
    node.reset(node[part]);
  }
  return node;
}

// Keys are read as text; YAML also allows lists and maps as keys (`? [a, b]`),
// which yaml-cpp would refuse with its own exception type.
std::string key_text(const YAML::Node& key, const std::string& where) {
  MOEKIT_CHECK(key.IsScalar(), where, "keys must be plain words, got a {}",
               key.IsMap() ? "mapping" : key.IsSequence() ? "list" : "null");
  return key.Scalar();
}

}  // namespace

Config::Config(std::shared_ptr<State> state, std::string path)
    : state_(std::move(state)), path_(std::move(path)) {}

Config Config::parse(const std::string& text, const std::string& name) {
  auto state = std::make_shared<State>();
  state->file = name;
  try {
    state->root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(name, fmt::format("invalid YAML at line {}, column {}: {}", e.mark.line + 1,
                                  e.mark.column + 1, e.msg));
  }
  if (state->root.IsNull()) state->root = YAML::Node(YAML::NodeType::Map);
  MOEKIT_CHECK(state->root.IsMap(), name, "expected a mapping of sections at the top level");
  return Config(state, "");
}

Config Config::load(const std::string& path) {
  std::ifstream in(path);
  MOEKIT_CHECK(in.good(), path, "cannot open config file");
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

std::string Config::child_path(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

std::string Config::where(const std::string& key) const {
  const std::string p = key.empty() ? path_ : child_path(key);
  return p.empty() ? state_->file : state_->file + ": " + p;
}

YAML::Node Config::node() const {
  return path_.empty() ? state_->root : walk(state_->root, path_, /*create=*/true, state_->file);
}

void Config::set(const std::string& assignment) {
  const auto eq = assignment.find('=');
  MOEKIT_CHECK(eq != std::string::npos && eq > 0, "--set " + assignment,
               "expected section.key=value");
  const std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  YAML::Node target = walk(node(), key, /*create=*/true, state_->file);
  MOEKIT_CHECK(!target.IsMap(), "--set " + assignment, "'{}' is a section, not a value", key);
  try {
    target = YAML::Load(value);
  } catch (const YAML::Exception&) {
    target = value;
  }
}

Config Config::section(const std::string& key) const {
  const YAML::Node child = walk(node(), key, /*create=*/true, state_->file);
  MOEKIT_CHECK(!child.IsDefined() || child.IsMap() || child.IsNull(), where(key),
               "expected a mapping of keys");
  state_->used.insert(child_path(key));
  return Config(state_, child_path(key));
}

namespace {
std::string flow(const YAML::Node& node);
}  // namespace

bool Config::has(const std::string& key) const {
  const YAML::Node n = node();
  return n.IsMap() && n[key];
}

std::vector<std::string> Config::keys() const {
  std::vector<std::string> out;
  const YAML::Node n = node();
  if (!n.IsMap()) return out;
  for (const auto& kv : n) out.push_back(key_text(kv.first, where()));
  return out;
}

std::string Config::scalar(const std::string& key, const std::string* fallback) const {
  YAML::Node n = node();
  state_->used.insert(child_path(key));
  if (!n[key]) {
    MOEKIT_CHECK(fallback != nullptr, where(key), "required key is missing");
    // YAML::Load("") is a null node, which would be saved as one and then
    // rejected when the saved config is read back: keep "" a string.
    n[key] = fallback->empty() ? YAML::Node(std::string()) : YAML::Load(*fallback);
    return *fallback;
  }
  const YAML::Node value = n[key];
  // A list of plain values comes back in flow style ("[0.1, 0.9]"), which the
  // list types of parse_value read and the others reject naming the key.
  bool flat_list = value.IsSequence();
  for (size_t i = 0; flat_list && i < value.size(); ++i) flat_list = value[i].IsScalar();
  if (flat_list) return flow(value);
  MOEKIT_CHECK(value.IsScalar(), where(key), "expected a single value, got a {}",
               value.IsMap() ? "mapping" : value.IsSequence() ? "nested list" : "null");
  return value.Scalar();
}

void Config::check_all_used() const {
  // Depth-first over the document: the first key path never read is an error.
  std::function<void(const YAML::Node&, const std::string&)> visit =
      [&](const YAML::Node& n, const std::string& prefix) {
        if (!n.IsMap()) return;
        for (const auto& kv : n) {
          const std::string key =
              key_text(kv.first, prefix.empty() ? state_->file : state_->file + ": " + prefix);
          const std::string p = prefix.empty() ? key : prefix + "." + key;
          if (!state_->used.count(p)) {
            throw Error(state_->file + ": " + p, "unknown key");
          }
          visit(kv.second, p);
        }
      };
  visit(node(), path_);
}

std::string Config::dump() const {
  YAML::Emitter out;
  out << node();
  return std::string(out.c_str()) + "\n";
}

void Config::document(const std::string& key, const std::string& type,
                      const std::string& fallback, const std::string& doc) const {
  state_->notes[child_path(key)] = fmt::format("{} [{}, default {}]", doc, type, fallback);
}

namespace {

// One scalar or list the way YAML's flow style writes it.
std::string flow(const YAML::Node& node) {
  YAML::Emitter out;
  out << YAML::Flow << node;
  return out.c_str();
}

}  // namespace

std::string Config::annotated_dump() const {
  std::string text;
  std::function<void(const YAML::Node&, const std::string&, int)> print =
      [&](const YAML::Node& n, const std::string& prefix, int depth) {
        for (const auto& kv : n) {
          const std::string key = key_text(kv.first, state_->file);
          const std::string p = prefix.empty() ? key : prefix + "." + key;
          const std::string indent(static_cast<size_t>(2 * depth), ' ');
          if (kv.second.IsMap()) {
            text += indent + key + ":\n";
            print(kv.second, p, depth + 1);
            continue;
          }
          std::string line = indent + key + ": " + flow(kv.second);
          const auto note = state_->notes.find(p);
          if (note != state_->notes.end()) {
            line += std::string(line.size() < 40 ? 40 - line.size() : 1, ' ') + "# " + note->second;
          }
          text += line + "\n";
        }
      };
  print(node(), path_, 0);
  return text;
}

}  // namespace moekit
