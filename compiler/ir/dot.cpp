// The DOT form of a graph (see printer.h): nested scope clusters, fused nodes
// as clusters of their body ops.
#include <map>
#include <sstream>

#include "compiler/ir/printer.h"

namespace acnn::ir {

namespace {

bool hidden_source(OpKind k) {
  return k == OpKind::Param || k == OpKind::State || k == OpKind::Constant || k == OpKind::RuntimeScalar ||
         k == OpKind::RandomUniform;
}

std::string escape(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c == '"' || c == '\\') r += '\\';
    r += c;
  }
  return r;
}

const char* kind_color(const std::string& kind) {
  if (kind == "conv") return "#dbe9f6";
  if (kind == "batchnorm") return "#e3f2d9";
  if (kind == "batchnorm_backward") return "#f6e8d0";
  if (kind == "optimizer") return "#eadcf2";
  return "#fdf5c9";  // elementwise
}

std::string short_type(const Graph& g, ValueId v) { return type_str(g.type(v).dtype, g.type(v).shape); }

// A scope tree two levels deep ("layer1" > "layer1.0"): nodes go to the
// deepest cluster their scope reaches.
struct Cluster {
  std::string name;
  std::vector<NodeId> nodes;
  std::map<std::string, Cluster> children;
};

std::string cluster_key(const std::string& scope, int depth) {
  size_t at = 0;
  for (int d = 0; d < depth; ++d) {
    at = scope.find('.', at);
    if (at == std::string::npos) return scope;
    if (d + 1 < depth) ++at;
  }
  return scope.substr(0, at);
}

class DotWriter {
 public:
  DotWriter(std::ostream& out, const Graph& g, const DotOptions& o) : out_(out), g_(g), o_(o) {}

  void write() {
    out_ << "digraph \"" << escape(g_.name.empty() ? "main" : g_.name) << "\" {\n"
         << "  rankdir=TB; compound=true;\n"
         << "  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\", fontsize=10];\n"
         << "  edge [color=\"#555555\", arrowsize=0.6];\n";
    Cluster root;
    shown_.assign(g_.num_nodes(), false);
    // Nodes computed from sources alone (folded batch-norm weights, filter
    // broadcasts) are drawn only with the sources.
    hidden_.assign(g_.num_nodes(), false);
    for (NodeId i = 0; i < static_cast<NodeId>(g_.num_nodes()); ++i) {
      const Node& n = g_.node(i);
      bool from_sources = !n.inputs.empty();
      for (ValueId v : n.inputs) from_sources = from_sources && hidden_[g_.value(v).producer];
      hidden_[i] = !n.dead && (hidden_source(n.op) || from_sources);
    }
    for (NodeId i = 0; i < static_cast<NodeId>(g_.num_nodes()); ++i) {
      const Node& n = g_.node(i);
      if (n.dead || (!o_.sources && hidden_[i]) || !in_scope(n.scope, o_.scope)) continue;
      if (!o_.scope.empty() && n.op == OpKind::Input) continue;
      shown_[i] = true;
      Cluster* c = &root;
      for (int depth = 1; depth <= 2 && !n.scope.empty(); ++depth) {
        std::string key = cluster_key(n.scope, depth);
        Cluster& child = c->children[key];
        child.name = key;
        c = &child;
        if (key == n.scope) break;
      }
      c->nodes.push_back(i);
    }
    write_cluster(root, "  ", true);
    write_edges();
    out_ << "}\n";
  }

 private:
  std::ostream& out_;
  const Graph& g_;
  const DotOptions& o_;
  std::vector<bool> shown_, hidden_;
  int clusters_ = 0;
  std::map<NodeId, bool> drawn_as_cluster_;
  std::map<NodeId, bool> external_;  // producers outside the scope, drawn as stubs

  bool expanded(const Node& n) const {
    return n.op == OpKind::Fused && n.body && static_cast<int>(n.body->num_nodes()) <= o_.max_body;
  }

  std::string label(NodeId id) const {
    const Node& n = g_.node(id);
    std::string l = op_name(n.op);
    if (n.op == OpKind::Input || n.op == OpKind::Param || n.op == OpKind::State || n.op == OpKind::RuntimeScalar)
      l += "\\n" + escape(n.attrs.s("name"));
    if (n.op == OpKind::Fused) {
      l = "fused " + n.attrs.s("kind") + "\\n" + escape(n.attrs.s("label"));
      if (n.body) l += "\\n(" + std::to_string(n.body->num_nodes()) + " nodes)";
    }
    if (!n.outputs.empty()) l += "\\n" + short_type(g_, n.outputs[0]);
    if (o_.note) {
      std::string extra = o_.note(id);
      if (!extra.empty()) l += "\\n" + escape(extra);
    }
    return l;
  }

  void write_node(NodeId id, const std::string& indent) {
    const Node& n = g_.node(id);
    if (!expanded(n)) {
      std::string style;
      if (n.op == OpKind::Fused) style = std::string(", fillcolor=\"") + kind_color(n.attrs.s("kind")) + "\"";
      else if (hidden_source(n.op) || n.op == OpKind::Input) style = ", fillcolor=\"#eeeeee\"";
      out_ << indent << "n" << id << " [label=\"" << label(id) << "\"" << style << "];\n";
      return;
    }
    drawn_as_cluster_[id] = true;
    const Graph& b = *n.body;
    out_ << indent << "subgraph cluster_" << clusters_++ << " {\n"
         << indent << "  label=\"" << escape(n.attrs.s("kind")) << ": " << escape(n.attrs.s("label"));
    if (o_.note) {
      std::string extra = o_.note(id);
      if (!extra.empty()) out_ << "\\n" << escape(extra);
    }
    out_ << "\"; style=\"rounded,filled\"; fillcolor=\"" << kind_color(n.attrs.s("kind"))
         << "\"; color=\"#888888\"; fontsize=10;\n";
    for (NodeId k = 0; k < static_cast<NodeId>(b.num_nodes()); ++k) {
      const Node& m = b.node(k);
      if (m.dead || m.op == OpKind::Input) continue;
      out_ << indent << "  n" << id << "_" << k << " [label=\"" << op_name(m.op) << "\\n"
           << short_type(b, m.outputs[0]) << "\"];\n";
    }
    for (NodeId k = 0; k < static_cast<NodeId>(b.num_nodes()); ++k) {
      const Node& m = b.node(k);
      if (m.dead || m.op == OpKind::Input) continue;
      for (ValueId v : m.inputs) {
        NodeId p = b.value(v).producer;
        if (b.node(p).op == OpKind::Input) continue;
        out_ << indent << "  n" << id << "_" << p << " -> n" << id << "_" << k << ";\n";
      }
    }
    out_ << indent << "}\n";
  }

  void write_cluster(const Cluster& c, const std::string& indent, bool root) {
    std::string in = indent;
    if (!root) {
      out_ << indent << "subgraph cluster_" << clusters_++ << " {\n"
           << indent << "  label=\"" << escape(c.name) << "\"; style=rounded; color=\"#bbbbbb\"; fontsize=12;\n";
      in = indent + "  ";
    }
    for (NodeId id : c.nodes) write_node(id, in);
    for (const auto& [key, child] : c.children) write_cluster(child, in, false);
    if (!root) out_ << indent << "}\n";
  }

  // The DOT node that produces output `k` of node `id`.
  std::string source_of(NodeId id, int k) const {
    const Node& n = g_.node(id);
    if (drawn_as_cluster_.count(id)) {
      ValueId bv = n.body->outputs[k].second;
      return "n" + std::to_string(id) + "_" + std::to_string(n.body->value(bv).producer);
    }
    return "n" + std::to_string(id);
  }

  void write_edges() {
    for (NodeId i = 0; i < static_cast<NodeId>(g_.num_nodes()); ++i) {
      if (!shown_[i]) continue;
      const Node& n = g_.node(i);
      for (size_t k = 0; k < n.inputs.size(); ++k) {
        ValueId v = n.inputs[k];
        NodeId p = g_.value(v).producer;
        const Node& pn = g_.node(p);
        if (!shown_[p]) {
          if (hidden_[p] && !o_.sources) continue;
          if (!external_[p]) {  // a stub for a producer outside the scope
            external_[p] = true;
            out_ << "  n" << p << " [label=\"" << op_name(pn.op) << (pn.scope.empty() ? "" : "\\n" + escape(pn.scope))
                 << "\", style=dashed];\n";
          }
        }
        std::string from = shown_[p] ? source_of(p, g_.value(v).output_index) : "n" + std::to_string(p);
        if (drawn_as_cluster_.count(i)) {
          // Into every body op that reads fused input k.
          const Graph& b = *n.body;
          for (NodeId m = 0; m < static_cast<NodeId>(b.num_nodes()); ++m) {
            const Node& bm = b.node(m);
            if (bm.dead || bm.op == OpKind::Input) continue;
            bool reads = false;
            for (ValueId bv : bm.inputs) {
              const Node& bp = b.producer(bv);
              reads |= bp.op == OpKind::Input && bp.attrs.i("index") == static_cast<int64_t>(k);
            }
            if (reads) out_ << "  " << from << " -> n" << i << "_" << m << ";\n";
          }
        } else {
          out_ << "  " << from << " -> n" << i << ";\n";
        }
      }
    }
  }
};

}  // namespace

void print_dot(std::ostream& out, const Graph& g, const DotOptions& opts) { DotWriter(out, g, opts).write(); }

}  // namespace acnn::ir
