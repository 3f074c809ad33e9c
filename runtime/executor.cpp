// Executor compilation: backend assignment, kernel compilation, layout
// conversions, update/outputs wiring, liveness and buffer binding. Running and
// the persistent-tensor API are in executor_run.cpp.
#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <cstring>
#include <set>
#include <stdexcept>

#include "compiler/ir/op.h"
#include "runtime/executor.h"
#include "runtime/interpreter.h"

namespace acnn {

Tensor alloc_tensor(const ir::ValueType& t, const LayoutPtr& layout) {
  Tensor r = Tensor::view(t.dtype, t.shape, nullptr);
  auto s = std::make_shared<Storage>();
  size_t n = slot_bytes(t, layout);
  s->data = std::aligned_alloc(64, n);
  if (!s->data) throw std::bad_alloc();
  std::memset(s->data, 0, n);
  s->bytes = n;
  s->owned = true;
  r.set_storage(std::move(s));
  r.set_layout(layout ? Layout::Backend : Layout::Plain);
  return r;
}

// Builds one plan for the current persistent layouts.
struct Executor::Compiler {
  Executor& ex;
  const ir::Graph& g;
  Plan& plan;
  std::vector<std::vector<int>> value_slots;  // every slot of each value
  std::vector<Kernel*> node_kernel;
  std::vector<CachedKernel> cache;  // what the next compile pass may reuse

  Compiler(Executor& e) : ex(e), g(*e.graph_), plan(e.plan_) {}

  int root(int s) const { return plan.slots[s].home == SlotHome::Alias ? plan.slots[s].alias_of : s; }

  int new_slot(ir::ValueId v, LayoutPtr layout, SlotHome home) {
    Slot s;
    s.value = v;
    s.type = g.type(v);
    s.bytes = slot_bytes(s.type, layout);
    s.layout = std::move(layout);
    s.home = home;
    plan.slots.push_back(std::move(s));
    int id = static_cast<int>(plan.slots.size()) - 1;
    value_slots[v].push_back(id);
    if (plan.value_slot[v] < 0) plan.value_slot[v] = id;
    return id;
  }

  Backend& backend_owning(const PhysicalLayout& l) {
    for (auto& b : ex.backends_)
      if (b.get() == &l.owner()) return *b;
    throw std::logic_error("layout " + l.describe() + " belongs to no backend of this executor");
  }

  // Whether a slot's contents only change when set_persistent is called (or
  // never): constants, persistent tensors no update writes, and the outputs of
  // cached steps. Adds the persistent tensors it depends on to *deps.
  std::map<int, std::vector<int>> static_deps;  // cached-step output slot -> persistent tensors
  bool unchanging(int s, std::vector<int>* deps) const {
    int r = root(s);
    const Slot& rs = plan.slots[r];
    if (rs.home == SlotHome::Constant) return true;
    if (rs.home == SlotHome::Persistent) {
      int p = ex.persistent_index_.at(rs.name);
      if (ex.persistent_[p].updated) return false;
      deps->push_back(p);
      return true;
    }
    auto it = static_deps.find(r);
    if (it == static_deps.end()) return false;
    deps->insert(deps->end(), it->second.begin(), it->second.end());
    return true;
  }

  static void dedupe(std::vector<int>& v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
  }

  // The slot holding value v in layout `want`, converting (once) if needed.
  int get_slot(ir::ValueId v, const LayoutPtr& want, ir::NodeId for_node) {
    for (int s : value_slots[v])
      if (same_layout(plan.slots[s].layout, want)) return s;
    int src = plan.value_slot[v];
    assert(src >= 0 && "value used before it is produced");
    LayoutPtr from = plan.slots[src].layout;
    if (from && want && &from->owner() != &want->owner()) {
      src = get_slot(v, nullptr, for_node);
      from = nullptr;
    }
    Backend& b = backend_owning(want ? *want : *from);
    std::unique_ptr<Kernel> k = b.convert(g.type(v), from, want);
    if (!k && from && want) {  // no direct conversion: go through the plain layout
      src = get_slot(v, nullptr, for_node);
      from = nullptr;
      k = b.convert(g.type(v), from, want);
    }
    if (!k)
      throw std::runtime_error(b.name() + " cannot convert " + type_str(g.type(v).dtype, g.type(v).shape) + " from " +
                               layout_name(from) + " to " + layout_name(want));
    std::vector<int> deps;
    bool cached = unchanging(src, &deps);
    dedupe(deps);
    int out = new_slot(v, want, cached ? SlotHome::Dedicated : SlotHome::Arena);
    if (cached) static_deps[out] = deps;
    Step st;
    st.kind = StepKind::Convert;
    st.node = for_node;
    st.backend = b.name();
    st.kernel = std::move(k);
    st.inputs = {src};
    st.outputs = {out};
    st.cached = cached;
    st.versions_of = std::move(deps);
    plan.steps.push_back(std::move(st));
    return out;
  }

  void compile_node(const ir::Node& n, ir::NodeId id) {
    using ir::OpKind;
    switch (n.op) {
      case OpKind::Input: {
        int s = new_slot(n.outputs[0], nullptr, SlotHome::Feed);
        plan.slots[s].name = n.attrs.s("name");
        return;
      }
      case OpKind::Param:
      case OpKind::State: {
        const std::string& name = n.attrs.s("name");
        int s = new_slot(n.outputs[0], ex.persistent_[ex.persistent_index_.at(name)].layout, SlotHome::Persistent);
        plan.slots[s].name = name;
        return;
      }
      case OpKind::Constant:
        new_slot(n.outputs[0], nullptr, SlotHome::Constant);
        return;
      case OpKind::RuntimeScalar: {
        Step st;
        st.kind = StepKind::RuntimeScalar;
        st.node = id;
        st.scalar_name = n.attrs.s("name");
        st.outputs = {new_slot(n.outputs[0], nullptr, SlotHome::Arena)};
        plan.steps.push_back(std::move(st));
        return;
      }
      case OpKind::Reshape: {  // a view of the plain input
        int src = root(get_slot(n.inputs[0], nullptr, id));
        int s = new_slot(n.outputs[0], nullptr, SlotHome::Alias);
        plan.slots[s].alias_of = src;
        return;
      }
      default: break;
    }
    std::vector<LayoutPtr> in_layouts;
    for (ir::ValueId v : n.inputs) {
      assert(plan.value_slot[v] >= 0);
      in_layouts.push_back(plan.slots[plan.value_slot[v]].layout);
    }
    for (auto& b : ex.backends_) {
      if (!b->supports(g, n)) continue;
      bool looked = false;
      CompileRequest req{g, n, in_layouts, std::vector<LayoutPtr>(n.outputs.size()), [this, &looked](ir::NodeId k) {
                           looked = true;
                           return node_kernel[k];
                         }};
      std::unique_ptr<Kernel> k;
      CachedKernel* c = ex.kernel_cache_.empty() ? nullptr : &ex.kernel_cache_[id];
      auto same = [](const std::vector<LayoutPtr>& a, const std::vector<LayoutPtr>& b) {
        if (a.size() != b.size()) return false;
        for (size_t i = 0; i < a.size(); ++i)
          if (!same_layout(a[i], b[i])) return false;
        return true;
      };
      if (c && c->kernel && c->reusable && c->backend == b->name() && same(c->given, in_layouts)) {
        k = std::move(c->kernel);
        req.inputs = c->inputs;
        req.outputs = c->outputs;
      } else {
        k = b->compile(req);
        if (!k) continue;  // the backend declined after all
      }
      assert(req.inputs.size() == n.inputs.size() && req.outputs.size() == n.outputs.size());
      CachedKernel& next = cache[id];
      next.backend = b->name();
      next.given = in_layouts;
      next.inputs = req.inputs;
      next.outputs = req.outputs;
      next.reusable = !looked;
      Step st;
      st.kind = StepKind::Kernel;
      st.node = id;
      st.backend = b->name();
      for (size_t i = 0; i < n.inputs.size(); ++i) st.inputs.push_back(get_slot(n.inputs[i], req.inputs[i], id));
      // A node of unchanging inputs only (folded batch-norm weights, ...) is
      // computed once, and again only after set_persistent of what it reads.
      std::vector<int> deps;
      bool cached = !n.inputs.empty() && ir::op_def(n.op).family != ir::OpFamily::Mode;  // if_training reads ctx
      for (int s : st.inputs) cached = cached && unchanging(s, &deps);
      dedupe(deps);
      for (size_t i = 0; i < n.outputs.size(); ++i) {
        int out = new_slot(n.outputs[i], req.outputs[i], cached ? SlotHome::Dedicated : SlotHome::Arena);
        if (cached) static_deps[out] = deps;
        st.outputs.push_back(out);
      }
      st.cached = cached;
      st.versions_of = std::move(deps);
      node_kernel[id] = k.get();
      st.kernel = std::move(k);
      ex.node_backend_[id] = b->name();
      plan.steps.push_back(std::move(st));
      return;
    }
    throw std::runtime_error(std::string("no backend can run ") + ir::op_name(n.op) +
                             (n.scope.empty() ? "" : " in " + n.scope));
  }

  // Nodes whose results reach an output or an update.
  std::vector<bool> needed_nodes() const {
    std::vector<bool> need(g.num_nodes(), false);
    std::vector<ir::ValueId> stack;
    for (const auto& [name, v] : g.outputs) stack.push_back(v);
    for (const ir::StateUpdate& u : g.updates) stack.push_back(u.value);
    while (!stack.empty()) {
      ir::ValueId v = stack.back();
      stack.pop_back();
      ir::NodeId p = g.value(v).producer;
      if (p < 0 || need[p]) continue;
      need[p] = true;
      for (ir::ValueId i : g.node(p).inputs) stack.push_back(i);
    }
    return need;
  }

  void run() {
    plan = Plan{};
    ex.outputs_.clear();
    ex.updates_.clear();
    ex.node_backend_.assign(g.num_nodes(), "");
    value_slots.assign(g.num_values(), {});
    plan.value_slot.assign(g.num_values(), -1);
    node_kernel.assign(g.num_nodes(), nullptr);
    cache.clear();
    cache.resize(g.num_nodes());
    std::vector<bool> need = needed_nodes();
    for (ir::NodeId id = 0; id < static_cast<ir::NodeId>(g.num_nodes()); ++id) {
      const ir::Node& n = g.node(id);
      bool source = n.op == ir::OpKind::Param || n.op == ir::OpKind::State;
      if (n.dead || !(need[id] || source)) continue;
      compile_node(n, id);
    }
    for (const auto& [name, v] : g.outputs) ex.outputs_.emplace_back(name, get_slot(v, nullptr, -1));
    std::set<int> taken;
    for (const ir::StateUpdate& u : g.updates) {
      int p = ex.persistent_index_.at(g.producer(u.target).attrs.s("name"));
      if (u.value == u.target) continue;
      int s = get_slot(u.value, ex.persistent_[p].layout, -1);
      bool swap = plan.slots[s].home == SlotHome::Arena && taken.insert(s).second;
      if (swap) plan.slots[s].home = SlotHome::Dedicated;
      ex.updates_.push_back({p, s, swap});
    }
    liveness();
    reuse_inputs();
    plan.plan_arena();
    ex.kernel_cache_ = std::move(cache);
  }

  // Honours the in-place pass (attr `inplace` = input index): output 0 of a
  // kernel step takes over the buffer of that input when the input's buffer
  // is an arena slot read for the last time by this step, both have the same
  // size and layout, and the kernel says it can overwrite it. The output
  // becomes an alias of the input's buffer; their live ranges merge.
  void reuse_inputs() {
    for (int i = 0; i < static_cast<int>(plan.steps.size()); ++i) {
      Step& st = plan.steps[i];
      if (st.kind != StepKind::Kernel || st.node < 0 || st.outputs.size() != 1) continue;
      const ir::Node& n = g.node(st.node);
      if (!n.attrs.has("inplace")) continue;
      int k = static_cast<int>(n.attrs.i("inplace"));
      if (k < 0 || k >= static_cast<int>(st.inputs.size()) || !st.kernel->can_overwrite_input(k)) continue;
      int in = st.inputs[k], out = st.outputs[0];
      int r = root(in);
      Slot &rs = plan.slots[r], &os = plan.slots[out];
      if (rs.home != SlotHome::Arena || os.home != SlotHome::Arena || rs.last != i) continue;
      if (plan.slots[in].bytes != os.bytes || rs.bytes != os.bytes || !same_layout(plan.slots[in].layout, os.layout)) continue;
      bool other_input_shares = false;  // the same buffer read through another operand
      for (size_t j = 0; j < st.inputs.size(); ++j) other_input_shares |= static_cast<int>(j) != k && root(st.inputs[j]) == r;
      if (other_input_shares) continue;
      rs.last = std::max(rs.last, os.last);
      os.home = SlotHome::Alias;
      os.alias_of = r;
      os.first = os.last = -1;
      for (Slot& s : plan.slots)
        if (s.home == SlotHome::Alias && s.alias_of == out) s.alias_of = r;
      ++plan.inplace_reuses;
    }
  }

  void liveness() {
    for (Slot& s : plan.slots) s.first = s.last = -1;
    int n = static_cast<int>(plan.steps.size());
    for (int i = 0; i < n; ++i) {
      for (int s : plan.steps[i].outputs) {
        Slot& r = plan.slots[root(s)];
        if (r.first < 0) r.first = i;
        r.last = std::max(r.last, i);
      }
      for (int s : plan.steps[i].inputs) {
        Slot& r = plan.slots[root(s)];
        r.last = std::max(r.last, i);
      }
    }
    auto keep = [&](int s) {
      Slot& r = plan.slots[root(s)];
      if (r.first < 0) r.first = n;  // e.g. an output that is a reshape of a feed
      r.last = n;
    };
    for (auto& [name, s] : ex.outputs_) keep(s);
    for (const Update& u : ex.updates_) keep(u.source);
  }
};

Executor::Executor(const ir::Graph& g, ExecutorOptions opts) : opts_(std::move(opts)), graph_(g.clone()) {
  if (const char* e = std::getenv("ACNN_POISON")) opts_.poison = opts_.poison || std::string(e) == "1";
  use_threads(opts_.threads);
  std::vector<std::string> names = opts_.backends.empty() ? available_backends() : opts_.backends;
  backends_ = make_backends(names);
  // Persistent tensors, plain until the plan says otherwise.
  for (ir::NodeId id : graph_->persistent_nodes()) {
    const ir::Node& n = graph_->node(id);
    Persistent p;
    p.name = n.attrs.s("name");
    p.node = id;
    p.type = graph_->type(n.outputs[0]);
    if (!opts_.plan_only) p.tensor = init_persistent(n, p.type.dtype, opts_.seed);
    persistent_index_[p.name] = static_cast<int>(persistent_.size());
    persistent_.push_back(std::move(p));
  }
  for (const ir::StateUpdate& u : graph_->updates)
    persistent_[persistent_index_.at(graph_->producer(u.target).attrs.s("name"))].updated = true;
  compile();
  bind_fixed_buffers();
}

Executor::~Executor() = default;

void Executor::compile() {
  // Compile, then move persistent tensors into the layout their update value
  // comes in, so that no conversion runs per step; recompile while that changes.
  for (int pass = 0;; ++pass) {
    if (pass > 0)  // the previous pass's kernels, for reuse
      for (Step& st : plan_.steps)
        if (st.kind == StepKind::Kernel && st.node >= 0 && st.kernel) kernel_cache_[st.node].kernel = std::move(st.kernel);
    Compiler(*this).run();
    if (!opts_.persistent_backend_layouts || pass == 3) break;
    bool changed = false;
    for (const ir::StateUpdate& u : graph_->updates) {
      Persistent& p = persistent_[persistent_index_.at(graph_->producer(u.target).attrs.s("name"))];
      int s = plan_.value_slot[u.value];
      if (s < 0 || same_layout(plan_.slots[s].layout, p.layout)) continue;
      p.layout = plan_.slots[s].layout;
      changed = true;
    }
    if (!changed) break;
  }
  kernel_cache_.clear();
  // Store persistent tensors in their final layouts.
  for (Persistent& p : persistent_) {
    if (!p.layout || opts_.plan_only) continue;
    Tensor plain = p.tensor;
    p.tensor = alloc_tensor(p.type, p.layout);
    std::vector<const Tensor*> in{&plain};
    std::vector<Tensor*> out{&p.tensor};
    ExecContext ctx;
    api_converter(p.name, true).run(in, out, ctx);
  }
  plan_.persistent_bytes = 0;
  for (const Persistent& p : persistent_) plan_.persistent_bytes += slot_bytes(p.type, p.layout);
}

static void fill_constant(const ir::Node& n, Tensor& t) {
  if (n.attrs.has("values")) {
    std::vector<double> vals = n.attrs.floats("values");
    for (size_t i = 0; i < vals.size(); ++i) t.set(static_cast<int64_t>(i), vals[i]);
  } else {
    t.fill(n.attrs.f("fill"));
  }
}

void Executor::bind_fixed_buffers() {
  plan_.dedicated_bytes = 0;
  plan_.scratch_bytes = 0;
  for (const Step& st : plan_.steps)
    if (st.kernel) plan_.scratch_bytes = std::max(plan_.scratch_bytes, st.kernel->scratch_bytes());
  if (opts_.plan_only) {
    for (const Slot& s : plan_.slots)
      if (s.home == SlotHome::Dedicated || s.home == SlotHome::Constant) plan_.dedicated_bytes += s.bytes;
    return;
  }
  arena_ = alloc_tensor({DType::U8, {static_cast<int64_t>(std::max<size_t>(plan_.arena_bytes, 1))}}, nullptr).storage();
  scratch_ = alloc_tensor({DType::U8, {static_cast<int64_t>(std::max<size_t>(plan_.scratch_bytes, 1))}}, nullptr).storage();
  for (const Step& st : plan_.steps)
    if (st.kernel && st.kernel->scratch_bytes()) st.kernel->bind_scratch(scratch_->data);
  slot_tensors_.assign(plan_.slots.size(), Tensor());
  rebind_.clear();
  dedicated_.clear();
  for (size_t i = 0; i < plan_.slots.size(); ++i) {
    const Slot& s = plan_.slots[i];
    Tensor& t = slot_tensors_[i];
    t = Tensor::view(s.type.dtype, s.type.shape, nullptr);
    t.set_layout(s.layout ? Layout::Backend : Layout::Plain);
    switch (s.home) {
      case SlotHome::Arena: t.set_storage(arena_, s.offset); break;
      case SlotHome::Dedicated:
      case SlotHome::Constant: {
        Tensor b = alloc_tensor(s.type, s.layout);
        if (s.home == SlotHome::Constant) fill_constant(graph_->producer(s.value), b);
        t.set_storage(b.storage());
        dedicated_.push_back(b.storage());
        plan_.dedicated_bytes += s.bytes;
        break;
      }
      case SlotHome::Persistent:
      case SlotHome::Feed: rebind_.push_back(static_cast<int>(i)); break;
      case SlotHome::Alias: break;
    }
  }
  // Aliases after their roots (bound once, or every run when the root is).
  for (size_t i = 0; i < plan_.slots.size(); ++i) {
    const Slot& s = plan_.slots[i];
    if (s.home != SlotHome::Alias) continue;
    const Slot& r = plan_.slots[s.alias_of];
    if (r.home == SlotHome::Persistent || r.home == SlotHome::Feed)
      rebind_.push_back(static_cast<int>(i));
    else
      slot_tensors_[i].set_storage(slot_tensors_[s.alias_of].storage(), slot_tensors_[s.alias_of].offset());
  }
  step_inputs_.assign(plan_.steps.size(), {});
  step_outputs_.assign(plan_.steps.size(), {});
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    for (int s : plan_.steps[i].inputs) step_inputs_[i].push_back(&slot_tensors_[s]);
    for (int s : plan_.steps[i].outputs) step_outputs_[i].push_back(&slot_tensors_[s]);
  }
}

}  // namespace acnn
