#include "compiler/ir/printer.h"

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

namespace acnn::ir {

namespace {

std::string value_name(ValueId v) { return "%" + std::to_string(v); }

std::string vtype(const Graph& g, ValueId v) { return type_str(g.type(v).dtype, g.type(v).shape); }

bool is_source(OpKind k) {
  return k == OpKind::Input || k == OpKind::Param || k == OpKind::State || k == OpKind::RuntimeScalar;
}

// Attributes shown after the operands; sources show their name up front and
// their type after the colon, so those keys are left out.
std::string attr_list(const Node& n) {
  std::string s;
  for (const auto& [k, v] : n.attrs.items()) {
    if (is_source(n.op) && (k == "name" || k == "shape" || k == "dtype")) continue;
    if (n.op == OpKind::Constant && (k == "shape" || k == "dtype")) continue;
    if (const auto* vals = std::get_if<std::vector<double>>(&v); vals && vals->size() > 16) {
      // Folded constants can be large: the first values and the count (JSON has all).
      std::vector<double> head(vals->begin(), vals->begin() + 8);
      std::string h = attr_to_string(AttrValue(head));
      s += " " + k + "=" + h.substr(0, h.size() - 1) + ",...](" + std::to_string(vals->size()) + " values)";
      continue;
    }
    s += " " + k + "=" + attr_to_string(v);
  }
  return s;
}

}  // namespace

std::string node_text(const Graph& g, const Node& n) {
  std::ostringstream out;
  for (size_t i = 0; i < n.outputs.size(); ++i)
    out << (i ? ", " : "") << value_name(n.outputs[i]) << ": " << vtype(g, n.outputs[i]);
  out << " = " << op_name(n.op);
  if (is_source(n.op)) out << " \"" << n.attrs.s("name") << "\"";
  if (!n.inputs.empty()) {
    out << "(";
    for (size_t i = 0; i < n.inputs.size(); ++i) out << (i ? ", " : "") << value_name(n.inputs[i]);
    out << ")";
  }
  out << attr_list(n);
  return out.str();
}

bool in_scope(const std::string& scope, const std::string& prefix) {
  if (prefix.empty()) return true;
  return scope.size() >= prefix.size() && scope.compare(0, prefix.size(), prefix) == 0 &&
         (scope.size() == prefix.size() || scope[prefix.size()] == '.');
}

void print_text(std::ostream& out, const Graph& g, const PrintOptions& opts) {
  out << "graph " << (g.name.empty() ? "main" : g.name) << " {\n";
  std::vector<bool> shown(g.num_values(), opts.scope.empty());
  for (const Node& n : g.nodes()) {
    if (n.dead) continue;
    if (!opts.scope.empty()) {
      bool keep = (n.op == OpKind::Param || n.op == OpKind::State) ? in_scope(n.attrs.s("name"), opts.scope)
                                                                    : in_scope(n.scope, opts.scope);
      if (!keep) continue;
      for (ValueId v : n.outputs) shown[v] = true;
    }
    std::string line = "  " + node_text(g, n);
    std::string note;
    if (!n.scope.empty() && !is_source(n.op)) note += n.scope;
    if (opts.locations && opts.sources && n.loc.valid()) {
      note += (note.empty() ? "" : " ") + std::string("@ ") +
              std::filesystem::path(opts.sources->path(n.loc.file)).filename().string() + ":" +
              std::to_string(n.loc.line);
    }
    if (!note.empty()) line += "    # " + note;
    out << line << "\n";
    if (n.body) {
      std::ostringstream inner;
      print_text(inner, *n.body, opts);
      std::istringstream lines(inner.str());
      std::string l;
      while (std::getline(lines, l)) out << "    | " << l << "\n";
    }
  }
  for (const auto& [name, v] : g.outputs)
    if (shown[v]) out << "  output " << name << " = " << value_name(v) << "\n";
  for (const StateUpdate& u : g.updates)
    if (shown[u.value] || shown[u.target])
      out << "  update \"" << g.producer(u.target).attrs.s("name") << "\" = " << value_name(u.value) << "\n";
  out << "}\n";
}

static nlohmann::json attr_json(const AttrValue& v) {
  return std::visit([](const auto& x) { return nlohmann::json(x); }, v);
}

static nlohmann::json graph_json(const Graph& g) {
  nlohmann::json j;
  j["name"] = g.name;
  nlohmann::json values = nlohmann::json::array();
  for (size_t v = 0; v < g.num_values(); ++v)
    values.push_back({{"id", v}, {"dtype", dtype_name(g.type(v).dtype)}, {"shape", g.type(v).shape}});
  j["values"] = values;
  nlohmann::json nodes = nlohmann::json::array();
  for (const Node& n : g.nodes()) {
    if (n.dead) continue;
    nlohmann::json jn{{"op", op_name(n.op)}, {"inputs", n.inputs}, {"outputs", n.outputs}, {"scope", n.scope}};
    nlohmann::json attrs = nlohmann::json::object();
    for (const auto& [k, v] : n.attrs.items()) attrs[k] = attr_json(v);
    jn["attrs"] = attrs;
    if (n.loc.valid()) jn["line"] = n.loc.line;
    if (n.body) jn["body"] = graph_json(*n.body);
    nodes.push_back(jn);
  }
  j["nodes"] = nodes;
  nlohmann::json outs = nlohmann::json::object();
  for (const auto& [name, v] : g.outputs) outs[name] = v;
  j["outputs"] = outs;
  nlohmann::json ups = nlohmann::json::array();
  for (const StateUpdate& u : g.updates) ups.push_back({{"target", u.target}, {"value", u.value}});
  j["updates"] = ups;
  return j;
}

void print_json(std::ostream& out, const Graph& g) { out << graph_json(g).dump(1) << "\n"; }

}  // namespace acnn::ir
