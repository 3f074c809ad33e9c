#include "runtime/plan.h"

#include <algorithm>
#include <cassert>
#include <map>
#include <sstream>

#include "compiler/ir/op.h"
#include "compiler/ir/stats.h"

namespace acnn {

size_t slot_bytes(const ir::ValueType& t, const LayoutPtr& layout) {
  size_t n = layout ? layout->bytes() : static_cast<size_t>(numel(t.shape)) * dtype_size(t.dtype);
  return (std::max<size_t>(n, 1) + 63) / 64 * 64;
}

void Plan::plan_arena() {
  std::vector<int> order;
  for (int i = 0; i < static_cast<int>(slots.size()); ++i)
    if (slots[i].home == SlotHome::Arena && slots[i].first >= 0) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    if (slots[a].bytes != slots[b].bytes) return slots[a].bytes > slots[b].bytes;
    return slots[a].first < slots[b].first;
  });
  std::vector<int> placed;
  std::vector<std::pair<size_t, size_t>> busy;  // [begin, end) of placed slots live at the same time
  arena_bytes = 0;
  for (int s : order) {
    Slot& slot = slots[s];
    assert(slot.last >= slot.first);
    busy.clear();
    for (int p : placed) {
      const Slot& o = slots[p];
      if (o.first <= slot.last && slot.first <= o.last) busy.emplace_back(o.offset, o.offset + o.bytes);
    }
    std::sort(busy.begin(), busy.end());
    size_t off = 0;
    for (auto [b, e] : busy) {
      if (off + slot.bytes <= b) break;
      off = std::max(off, e);
    }
    slot.offset = off;
    arena_bytes = std::max(arena_bytes, off + slot.bytes);
    placed.push_back(s);
  }
}

static const char* home_name(SlotHome h) {
  switch (h) {
    case SlotHome::Arena: return "arena";
    case SlotHome::Dedicated: return "dedicated";
    case SlotHome::Persistent: return "persistent";
    case SlotHome::Feed: return "feed";
    case SlotHome::Constant: return "constant";
    case SlotHome::Alias: return "alias";
  }
  return "?";
}

size_t Plan::live_peak_bytes(int* at_step) const {
  std::vector<int64_t> delta(steps.size() + 2, 0);
  for (const Slot& s : slots) {
    if (s.home != SlotHome::Arena || s.first < 0) continue;
    delta[s.first] += static_cast<int64_t>(s.bytes);
    delta[s.last + 1] -= static_cast<int64_t>(s.bytes);
  }
  int64_t live = 0, best = 0;
  int where = 0;
  for (size_t i = 0; i < delta.size(); ++i) {
    live += delta[i];
    if (live > best) best = live, where = static_cast<int>(i);
  }
  if (at_step) *at_step = where;
  return static_cast<size_t>(best);
}

std::vector<Plan::LiveGroup> Plan::live_at_peak(const ir::Graph& g) const {
  int at = 0;
  live_peak_bytes(&at);
  // Slots produced by a layout conversion hold a value in a second layout.
  std::vector<bool> converted(slots.size(), false);
  for (const Step& st : steps)
    if (st.kind == StepKind::Convert)
      for (int s : st.outputs) converted[s] = true;
  std::map<std::string, LiveGroup> groups;
  for (size_t i = 0; i < slots.size(); ++i) {
    const Slot& s = slots[i];
    if (s.home != SlotHome::Arena || s.first < 0 || s.first > at || s.last < at) continue;
    const ir::Node& n = g.producer(s.value);
    std::string what = converted[i] ? "reorder" : ir::op_name(n.op);
    if (!converted[i] && n.op == ir::OpKind::Fused) what += " " + n.attrs.s("kind") + ": " + n.attrs.s("label");
    LiveGroup& grp = groups[what];
    grp.producer = what;
    ++grp.count;
    grp.bytes += s.bytes;
  }
  std::vector<LiveGroup> r;
  for (auto& [k, v] : groups) r.push_back(v);
  std::stable_sort(r.begin(), r.end(), [](const LiveGroup& a, const LiveGroup& b) { return a.bytes > b.bytes; });
  return r;
}

int Plan::kernel_steps() const {
  int n = 0;
  for (const Step& st : steps) n += st.kind == StepKind::Kernel;
  return n;
}

int Plan::convert_steps() const {
  int n = 0;
  for (const Step& st : steps) n += st.kind == StepKind::Convert;
  return n;
}

std::string Plan::liveness_report(const ir::Graph& g) const {
  std::vector<int> order;
  for (int i = 0; i < static_cast<int>(slots.size()); ++i)
    if (slots[i].home == SlotHome::Arena && slots[i].first >= 0) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return slots[a].first < slots[b].first; });
  std::ostringstream os;
  int at = 0;
  size_t live = live_peak_bytes(&at);
  os << "arena: " << order.size() << " buffers packed into " << arena_bytes << " B; at most " << live
     << " B live at once (step #" << at << ")\n";
  for (int s : order) {
    const Slot& sl = slots[s];
    os << "  %" << sl.value << " " << type_str(sl.type.dtype, sl.type.shape) << "/" << layout_name(sl.layout) << " "
       << sl.bytes << " B [" << sl.first << ", " << sl.last << "] @" << sl.offset << "\n";
  }
  return os.str();
}

std::string Plan::dump(const ir::Graph& g) const {
  std::ostringstream os;
  auto slot_str = [&](int s) {
    const Slot& sl = slots[s];
    std::ostringstream o;
    o << "%" << sl.value << ":" << type_str(sl.type.dtype, sl.type.shape) << "/" << layout_name(sl.layout);
    if (sl.home == SlotHome::Arena)
      o << "@" << sl.offset << " [" << sl.first << "," << sl.last << "]";
    else if (sl.home == SlotHome::Alias)
      o << "=alias(%" << slots[sl.alias_of].value << ")";
    else
      o << "[" << home_name(sl.home) << (sl.name.empty() ? "" : " " + sl.name) << "]";
    return o.str();
  };
  os << "plan: " << steps.size() << " steps, arena " << arena_bytes << " B, dedicated " << dedicated_bytes
     << " B, scratch " << scratch_bytes << " B, persistent " << persistent_bytes << " B\n";
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& st = steps[i];
    os << "  #" << i << " ";
    if (st.kind == StepKind::RuntimeScalar)
      os << "scalar " << st.scalar_name;
    else
      os << st.kernel->describe();
    if (st.node >= 0) {
      const ir::Node& n = g.node(st.node);
      os << " (" << (st.kind == StepKind::Convert ? "for " : "") << ir::op_name(n.op);
      if (n.op == ir::OpKind::Fused) os << " " << n.attrs.s("kind") << ": " << n.attrs.s("label");
      if (!n.scope.empty()) os << " " << n.scope;
      os << ")";
    }
    if (st.cached) os << " cached";
    os << "\n     in:";
    for (int s : st.inputs) os << " " << slot_str(s);
    os << "\n     out:";
    for (int s : st.outputs) os << " " << slot_str(s);
    os << "\n";
  }
  int64_t macs = 0;
  int fused = 0;
  for (const Step& st : steps)
    if (st.kind == StepKind::Kernel && st.node >= 0) {
      macs += ir::node_macs(g, g.node(st.node));
      fused += g.node(st.node).op == ir::OpKind::Fused;
    }
  int at = 0;
  size_t live = live_peak_bytes(&at);
  os << "totals: " << kernel_steps() << " kernels (" << fused << " fused), " << convert_steps() << " reorders, "
     << macs << " MACs\n"
     << "memory: arena " << arena_bytes << " B (at most " << live << " B live at once, step #" << at << "), dedicated "
     << dedicated_bytes << " B, scratch " << scratch_bytes << " B, persistent " << persistent_bytes << " B, in-place "
     << inplace_reuses << "; peak " << peak_bytes() << " B\n";
  return os.str();
}

}  // namespace acnn
