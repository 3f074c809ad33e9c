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

void print_text(std::ostream& out, const Graph& g, const PrintOptions& opts) {
  out << "graph " << (g.name.empty() ? "main" : g.name) << " {\n";
  for (const Node& n : g.nodes()) {
    if (n.dead) continue;
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
  for (const auto& [name, v] : g.outputs) out << "  output " << name << " = " << value_name(v) << "\n";
  for (const StateUpdate& u : g.updates)
    out << "  update \"" << g.producer(u.target).attrs.s("name") << "\" = " << value_name(u.value) << "\n";
  out << "}\n";
}

void print_dot(std::ostream& out, const Graph& g) {
  out << "digraph \"" << (g.name.empty() ? "main" : g.name) << "\" {\n"
      << "  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n";
  std::map<std::string, std::vector<NodeId>> clusters;
  for (NodeId i = 0; i < static_cast<NodeId>(g.num_nodes()); ++i) {
    const Node& n = g.node(i);
    if (n.dead) continue;
    std::string top = n.scope.substr(0, n.scope.find('.'));
    clusters[top].push_back(i);
  }
  int cluster_id = 0;
  for (const auto& [scope, ids] : clusters) {
    std::string indent = "  ";
    if (!scope.empty()) {
      out << "  subgraph cluster_" << cluster_id++ << " {\n    label=\"" << scope << "\"; style=rounded; color=gray;\n";
      indent = "    ";
    }
    for (NodeId i : ids) {
      const Node& n = g.node(i);
      std::string label = op_name(n.op);
      if (is_source(n.op)) label += "\\n" + n.attrs.s("name");
      if (!n.outputs.empty()) label += "\\n" + vtype(g, n.outputs[0]);
      const char* style = is_source(n.op) ? ", style=filled, fillcolor=\"#eeeeee\"" : "";
      out << indent << "n" << i << " [label=\"" << label << "\"" << style << "];\n";
    }
    if (!scope.empty()) out << "  }\n";
  }
  for (NodeId i = 0; i < static_cast<NodeId>(g.num_nodes()); ++i) {
    const Node& n = g.node(i);
    if (n.dead) continue;
    for (ValueId v : n.inputs) out << "  n" << g.value(v).producer << " -> n" << i << ";\n";
  }
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
