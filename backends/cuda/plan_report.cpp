#include "backends/cuda/plan_report.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "backends/cuda/codegen.h"
#include "compiler/ir/op.h"
#include "compiler/ir/stats.h"

namespace acnn::cuda {

namespace {

using ir::NodeId;
using ir::ValueId;

struct Cost {
  int launches = 0;
  double read = 0, written = 0, flops = 0, floor_s = 0;
};

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::BF16: return "mixed_bf16";
    case Precision::FP16: return "mixed_fp16";
    default: return "fp32";
  }
}

std::string human_bytes(double b) {
  char buf[32];
  if (b >= 1e9) std::snprintf(buf, sizeof buf, "%.2f GB", b / 1e9);
  else if (b >= 1e6) std::snprintf(buf, sizeof buf, "%.1f MB", b / 1e6);
  else if (b >= 1e3) std::snprintf(buf, sizeof buf, "%.1f kB", b / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f B", b);
  return buf;
}

// The row of the summary table a unit counts in.
std::string kind_of(const ir::Graph& g, const Unit& u) {
  switch (u.kind) {
    case UnitKind::Region: return "generated elementwise";
    case UnitKind::FusedRegion: return "generated " + g.node(u.nodes[0]).attrs.s("kind");
    case UnitKind::UpdateGroup: return "multi-tensor update";
    case UnitKind::ReducingRegion: return "generated elementwise+reduce";
    default: break;
  }
  if (bn_backward_with_prologue(g, u)) return "batch_norm_backward (+add+relu)";
  if (fused_conv(g, u)) {
    const bool z = g.type(u.inputs.back()).shape == g.type(u.outputs[0]).shape;
    return z ? "conv2d+bias+add+relu (fused)" : "conv2d+bias+relu (fused)";
  }
  return ir::op_name(g.node(u.nodes[0]).op);
}

// What a unit computes, e.g. "relu(add(mul, mul))" shortened to its op list.
std::string what(const ir::Graph& g, const Unit& u) {
  if (u.kind == UnitKind::UpdateGroup) {  // one code per distinct formula
    std::vector<std::string> codes;
    for (const Unit& m : u.members)
      if (std::string c = what(g, m); std::find(codes.begin(), codes.end(), c) == codes.end()) codes.push_back(c);
    std::string s;
    for (const std::string& c : codes) s += (s.empty() ? "" : " | ") + c;
    return std::to_string(u.members.size()) + " tensors x {" + s + "}";
  }
  std::string s;
  for (NodeId id : u.nodes) {
    const ir::Node& n = g.node(id);
    std::string name = n.op == ir::OpKind::Fused ? "fused:" + n.attrs.s("label") : ir::op_name(n.op);
    s += (s.empty() ? "" : " ") + name;
    if (s.size() > 90) return s + " ...";
  }
  return s;
}

std::string scope_of(const ir::Graph& g, const Unit& u) {
  const Unit& m = u.kind == UnitKind::UpdateGroup ? u.members[0] : u;
  for (NodeId id : m.nodes)
    if (!g.node(id).scope.empty()) return g.node(id).scope;
  return "";
}

bool in_scope(const ir::Graph& g, const Unit& u, const std::string& scope) {
  if (scope.empty()) return true;
  const Unit& m = u.kind == UnitKind::UpdateGroup ? u.members[0] : u;
  for (NodeId id : m.nodes) {
    const std::string& s = g.node(id).scope;
    if (s.compare(0, scope.size(), scope) == 0 && (s.size() == scope.size() || s[scope.size()] == '.')) return true;
  }
  return false;
}

std::string value_str(const DevicePlan& p, ValueId v) {
  const Shape& s = p.graph->type(v).shape;
  return "%" + std::to_string(v) + ":" + shape_str(s) + " " + format_str(canonical(p.formats.preferred[v], s));
}

// Values something reads: a needed node, a graph output or a state update.
// Kernels skip the outputs nobody reads (the runner binds no memory).
std::vector<bool> read_values(const DevicePlan& p) {
  const ir::Graph& g = *p.graph;
  std::vector<bool> read(g.num_values(), false);
  for (NodeId id = 0; id < static_cast<NodeId>(g.num_nodes()); ++id)
    if (p.needed[id])
      for (ValueId v : g.node(id).inputs) read[v] = true;
  for (const auto& [name, v] : g.outputs) read[v] = true;
  for (const ir::StateUpdate& u : g.updates) read[u.value] = true;
  return read;
}

}  // namespace

PlanReportOptions report_options_for(const std::string& gpu_name) {
  PlanReportOptions o;
  if (gpu_name.find("H200") != std::string::npos) o.bandwidth_gbs = 4800;
  else if (gpu_name.find("H100") != std::string::npos && gpu_name.find("PCIe") != std::string::npos) o.bandwidth_gbs = 2000;
  return o;
}

std::vector<UnitCost> unit_costs(const DevicePlan& p, const PlanReportOptions& o) {
  const ir::Graph& g = *p.graph;
  const double peak_flops = (p.precision != Precision::FP32 ? o.tflops_half : o.tflops_fp32) * 1e12;
  const double bandwidth = o.bandwidth_gbs * 1e9;
  const std::vector<bool> read = read_values(p);
  auto bytes_of = [&](ValueId v) { return static_cast<double>(format_bytes(g.type(v).shape, p.formats.preferred[v])); };
  std::vector<UnitCost> costs(p.units.units.size());
  for (size_t i = 0; i < costs.size(); ++i) {
    const Unit& u = p.units.units[i];
    if (u.kind == UnitKind::Source || (u.kind == UnitKind::Node && g.node(u.nodes[0]).op == ir::OpKind::Reshape)) continue;
    UnitCost& c = costs[i];
    c.kind = kind_of(g, u);
    c.launches = 1;
    for (ValueId v : unit_inputs(u)) c.read += bytes_of(v);
    const bool skips = skips_unread_outputs(g, u);
    const std::vector<ValueId> outs = unit_outputs(u);
    for (size_t k = 0; k < outs.size(); ++k) {
      const bool part = k < u.output_view.size() && u.output_view[k] >= 0;  // a part of a concatenation
      const ValueId v = part ? g.node(u.output_view[k]).inputs[0] : outs[k];
      c.written += read[outs[k]] || !skips ? static_cast<double>(format_bytes(g.type(v).shape, p.formats.preferred[outs[k]])) : 0;
    }
    for (NodeId id : u.nodes) c.flops += 2.0 * static_cast<double>(ir::node_macs(g, g.node(id)));
    if (u.kind == UnitKind::ReducingRegion) {  // partial sums, and their reduction (a second launch)
      const ReduceShape rs = reduce_shape(g, u);
      if (rs.chunks > 1) {
        const double partials = 4.0 * static_cast<double>(rs.partials());
        c.launches = 2, c.read += partials, c.written += partials;
      }
    }
    c.floor_s = std::max((c.read + c.written) / bandwidth, c.flops / peak_flops);
  }
  return costs;
}

PlanMemory plan_memory(const DevicePlan& p) {
  const std::vector<bool> read = read_values(p);
  const ir::Graph& g = *p.graph;
  const int nu = static_cast<int>(p.units.units.size());
  std::vector<ValueId> root(g.num_values());
  for (ValueId v = 0; v < static_cast<ValueId>(g.num_values()); ++v) root[v] = v;
  std::vector<int> first(g.num_values(), -1), last(g.num_values(), -1);
  PlanMemory m;
  for (int i = 0; i < nu; ++i) {
    const Unit& u = p.units.units[i];
    if (u.kind == UnitKind::Source) continue;
    for (ValueId v : unit_inputs(u)) last[root[v]] = i;
    if (u.kind == UnitKind::Node && g.node(u.nodes[0]).op == ir::OpKind::Reshape) {
      root[g.node(u.nodes[0]).outputs[0]] = root[u.inputs[0]];
      continue;
    }
    for (ValueId v : unit_outputs(u))  // (the parts of a concatenation: from the first)
      if (read[v] || !skips_unread_outputs(g, u)) {
        if (first[v] < 0) first[v] = i;
        last[v] = std::max(last[v], i);
      }
  }
  for (const ir::Node& n : g.nodes()) {
    if (n.dead || !(n.op == ir::OpKind::Input || n.op == ir::OpKind::Param || n.op == ir::OpKind::State)) continue;
    // Feeds arrive as the host has them (the runner converts them on the device).
    const ir::ValueType& t = g.type(n.outputs[0]);
    const Format f = n.op == ir::OpKind::Input ? Format{t.dtype, DevLayout::Plain} : p.formats.preferred[n.outputs[0]];
    (n.op == ir::OpKind::Input ? m.feeds : m.persistent) += static_cast<double>(format_bytes(t.shape, f));
  }
  for (const auto& [name, v] : g.outputs) last[root[v]] = nu;
  for (const ir::StateUpdate& up : g.updates) last[root[up.value]] = nu;
  std::vector<double> delta(nu + 2, 0);
  for (ValueId v = 0; v < static_cast<ValueId>(g.num_values()); ++v) {
    if (first[v] < 0) continue;
    const double b = static_cast<double>(format_bytes(g.type(v).shape, p.formats.preferred[v]));
    delta[first[v]] += b;
    delta[last[v] + 1] -= b;
  }
  double live = 0;
  for (int i = 0; i <= nu; ++i) {
    live += delta[i];
    if (live > m.peak) m.peak = live, m.peak_unit = i;
  }
  return m;
}

std::string plan_report(const DevicePlan& p, const PlanReportOptions& o, PlanTotals* totals) {
  const ir::Graph& g = *p.graph;
  const bool half = p.precision != Precision::FP32;
  const double bandwidth = o.bandwidth_gbs * 1e9;
  const std::vector<bool> read = read_values(p);

  std::map<std::string, Cost> by_kind;
  Cost total;
  // The conversions the runner adds in front of convolutions (cuDNN wants x,
  // w and dy in the conv's element type, NHWC): the image feed cast, each
  // weight's half-precision copy (all of them in one launch). Once per value
  // and format; once per run for values that never change. Other kernels
  // take their inputs as they come, or are not modelled here.
  std::set<std::pair<ValueId, std::string>> converted;
  int once_conversions = 0;
  auto conversions_for = [&](const Unit& u) {
    if (u.kind != UnitKind::Node) return;
    const ir::OpKind op = g.node(u.nodes[0]).op;
    if (op != ir::OpKind::Conv2d && op != ir::OpKind::Conv2dBackwardData && op != ir::OpKind::Conv2dBackwardWeight) return;
    const DType t = p.formats.preferred[u.outputs[0]].dtype;
    for (size_t i = 0; i < u.inputs.size(); ++i) {
      const ValueId v = u.inputs[i];
      if (i >= 2 && fused_conv(g, u) && g.type(v).shape != g.type(u.outputs[0]).shape) continue;  // a bias: the kernel casts it
      const ir::ValueType& vt = g.type(v);
      const Format have = g.producer(v).op == ir::OpKind::Input ? Format{vt.dtype, DevLayout::Plain} : p.formats.preferred[v];
      const Format want = canonical(Format{t, DevLayout::NHWC}, vt.shape);
      if (same_format(have, want, vt.shape) || !converted.insert({v, format_str(want)}).second) continue;
      if (p.units.static_value[v]) {
        ++once_conversions;
        continue;
      }
      // The weights' element-type casts run as one launch (the runner's group_weight_casts()).
      const bool weight = g.producer(v).op == ir::OpKind::Param && same_format(Format{want.dtype, have.layout}, want, vt.shape);
      Cost& k = by_kind[weight ? kWeightCastsRow : kConversionRow];
      const double r = static_cast<double>(format_bytes(vt.shape, have)), w = static_cast<double>(format_bytes(vt.shape, want));
      const double f = (r + w) / bandwidth;
      const int launch = weight && k.launches > 0 ? 0 : 1;
      for (Cost* c : {&k, &total}) c->launches += launch, c->read += r, c->written += w, c->floor_s += f;
    }
  };
  const std::vector<UnitCost> costs = unit_costs(p, o);
  std::ostringstream units;
  int index = 0, views = 0, static_units = 0;
  for (const Unit& u : p.units.units) {
    const int i = index++;
    if (u.kind == UnitKind::Source) continue;
    if (u.kind == UnitKind::Node && g.node(u.nodes[0]).op == ir::OpKind::Reshape) {
      ++views;  // the runner names the same memory
      continue;
    }
    const bool once = i < static_cast<int>(p.units.static_unit.size()) && p.units.static_unit[i];
    if (!once) conversions_for(u);
    const UnitCost& c = costs[i];
    const bool skips = skips_unread_outputs(g, u);
    if (once) {  // computed once, not per step
      ++static_units;
    } else {
      Cost& k = by_kind[c.kind];
      for (Cost* t : {&k, &total})
        t->launches += c.launches, t->read += c.read, t->written += c.written, t->flops += c.flops, t->floor_s += c.floor_s;
    }
    if (!o.units || !in_scope(g, u, o.scope)) continue;
    std::string scope = scope_of(g, u);
    units << "  #" << i << " " << kind_of(g, u) << ": " << what(g, u) << (scope.empty() ? "" : "  (" + scope + ")")
          << (once ? "  [once]" : "") << "\n";
    if ((u.kind == UnitKind::Region || u.kind == UnitKind::ReducingRegion) && !u.space.empty())
      units << "     over " << shape_str(u.space) << "\n";
    auto list = [&](const char* label, const std::vector<ValueId>& vs) {
      units << "     " << label;
      size_t shown = 0;
      for (ValueId v : vs) {
        if (shown++ == 6) {
          units << " ... (" << vs.size() << " in all)";
          break;
        }
        units << " " << value_str(p, v);
      }
      units << "\n";
    };
    list("in: ", unit_inputs(u));
    list("out:", unit_outputs(u));
    for (ValueId v : unit_outputs(u))
      if (!read[v] && skips) units << "     (%" << v << " is not read: not written)\n";
  }

  if (totals) *totals = PlanTotals{total.launches, total.read, total.written, total.flops, total.floor_s};
  const PlanMemory mem = plan_memory(p);
  std::ostringstream os;
  os << "device plan (" << precision_name(p.precision) << "): " << total.launches << " kernel launches per step"
     << (static_units + once_conversions
             ? " (+" + std::to_string(static_units + once_conversions) + " [once]: unchanging inputs, run when those are set)"
             : "")
     << ", "
     << p.fused_expanded << " fused nodes inlined back, " << p.rewrites << " device rewrites, "
     << p.formats.activations << " values in half precision, " << views << " reshapes (views, no kernel)\n"
     << "memory estimate: temporaries peak at " << human_bytes(mem.peak) << " (after unit #" << mem.peak_unit
     << "), persistent " << human_bytes(mem.persistent) << ", feeds " << human_bytes(mem.feeds) << "\n";
  if (o.units) os << units.str();
  char line[200];
  std::snprintf(line, sizeof line, "%-32s %8s %11s %11s %10s %10s\n", "kernel kind", "launches", "read", "written",
                "GFLOP", "floor ms");
  os << line;
  std::vector<std::pair<std::string, Cost>> rows(by_kind.begin(), by_kind.end());
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.floor_s > b.second.floor_s; });
  rows.emplace_back("total", total);
  for (const auto& [name, c] : rows) {
    std::snprintf(line, sizeof line, "%-32s %8d %11s %11s %10.1f %10.3f\n", name.c_str(), c.launches,
                  human_bytes(c.read).c_str(), human_bytes(c.written).c_str(), c.flops / 1e9, c.floor_s * 1e3);
    os << line;
  }
  std::snprintf(line, sizeof line,
                "floor: per kernel max(bytes / %.0f GB/s, FLOPs / %.0f TFLOP/s), summed; workspaces, launch gaps and "
                "conversions other than the convolutions' not counted\n",
                o.bandwidth_gbs, half ? o.tflops_half : o.tflops_fp32);
  os << line;
  return os.str();
}

}  // namespace acnn::cuda
