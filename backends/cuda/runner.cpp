// CudaRunner compilation: kernels per unit, conversions, in-place updates,
// liveness, the arena and the other device blocks (see runner.h).
#include "backends/cuda/runner.h"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <set>
#include <stdexcept>

#include "backends/cuda/cuda_runner.h"
#include "compiler/ir/op.h"
#include "runtime/interpreter.h"
#include "runtime/plan.h"

namespace acnn::cuda {

using ir::NodeId;
using ir::OpKind;
using ir::ValueId;

namespace {

size_t align256(size_t n) { return (std::max<size_t>(n, 1) + 255) / 256 * 256; }

void fill_constant(const ir::Node& n, Tensor& t) {
  if (n.attrs.has("values")) {
    std::vector<double> v = n.attrs.floats("values");
    for (size_t i = 0; i < v.size(); ++i) t.set(static_cast<int64_t>(i), v[i]);
  } else {
    t.fill(n.attrs.f("fill"));
  }
}

}  // namespace

std::unique_ptr<Runner> make_cuda_runner(const ir::Graph& g, const RunnerOptions& opts) {
  return std::make_unique<CudaRunner>(g, opts);
}

CudaRunner::CudaRunner(const ir::Graph& g, const RunnerOptions& o) : opts_(o), created_(std::chrono::steady_clock::now()) {
  if (!parse_precision(o.precision, &precision_))
    throw std::runtime_error("unknown precision `" + o.precision + "` (expected fp32, mixed_bf16 or mixed_fp16)");
  dev_ = shared_device(0);
  size_t total = 0;
  ACNN_CUDA(cudaMemGetInfo(&free_at_start_, &total));
  const ConvSearchStats before = conv_search_stats();
  compile(g);
  const ConvSearchStats after = conv_search_stats();
  conv_search_ = ConvSearchStats{after.searched - before.searched, after.from_disk - before.from_disk,
                                 after.in_process - before.in_process, after.heuristic - before.heuristic,
                                 after.seconds - before.seconds};
  compile_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - created_).count();
}

std::string CudaRunner::compile_report() const {
  char line[400];
  const double rest = compile_seconds_ - plan_seconds_ - program_.compile_seconds() - conv_search_.seconds;
  std::snprintf(line, sizeof line,
                "CUDA runner compile %.2f s: plan %.2f s, NVRTC %.2f s (%zu kernels%s), cuDNN algorithm search %.2f s (%d problems "
                "searched, %d from the disk cache, %d shared, %d small ones by heuristics), the rest %.2f s",
                compile_seconds_, plan_seconds_, program_.compile_seconds(), program_.kernels(),
                program_.from_cache() ? ", from the disk cache" : "", conv_search_.seconds, conv_search_.searched,
                conv_search_.from_disk, conv_search_.in_process, conv_search_.heuristic, rest);
  std::string r = line;
  int launched = 0;
  for (const Step& st : steps_) launched += st.cached ? 0 : 1;
  if (streams_.streams > 1)
    std::snprintf(line, sizeof line, "; 2 compute streams: %d of %d kernels on the second, %d cross-stream waits",
                  streams_.steps_on(1), launched, streams_.cross_waits());
  else
    std::snprintf(line, sizeof line, "; 1 compute stream");
  return r + line;
}

int CudaRunner::new_slot(ValueId v, const Format& f, Home h) {
  Slot s;
  s.value = v;
  s.shape = plan_.graph->type(v).shape;
  s.fmt = canonical(f, s.shape);
  s.bytes = align256(format_bytes(s.shape, s.fmt));
  s.home = h;
  slots_.push_back(s);
  int id = static_cast<int>(slots_.size()) - 1;
  value_slots_[v].push_back(id);
  return id;
}

int CudaRunner::get_slot(ValueId v, const Format& want) {
  const Shape& shape = plan_.graph->type(v).shape;
  for (int s : value_slots_[v])
    if (same_format(slots_[s].fmt, want, shape)) return s;
  if (value_slots_[v].empty())
    throw std::logic_error("CUDA runner: value %" + std::to_string(v) + " is read before it is produced");
  int src = value_slots_[v][0];
  std::vector<int> deps;
  const bool fixed = unchanging(src, &deps);
  Step st;
  st.kernel = make_convert(program_, shape, slots_[src].fmt, want);
  st.cast = same_format(Format{want.dtype, slots_[src].fmt.layout}, want, shape);
  st.in = {src};
  int out = new_slot(v, want, fixed ? Home::Dedicated : Home::Arena);
  st.out = {out};
  st.cached = fixed;
  st.depends = deps;
  slots_[out].depends = std::move(deps);
  steps_.push_back(std::move(st));
  return out;
}

bool CudaRunner::unchanging(int s, std::vector<int>* deps) const {
  const Slot& r = slots_[root(s)];
  switch (r.home) {
    case Home::Constant: return true;
    case Home::Persistent:
      if (persistent_[r.index].updated) return false;
      deps->push_back(r.index);
      return true;
    case Home::Dedicated:  // a cached step's result
      deps->insert(deps->end(), r.depends.begin(), r.depends.end());
      return true;
    default: return false;
  }
}

void CudaRunner::compile(const ir::Graph& src) {
  const auto t0 = std::chrono::steady_clock::now();
  plan_ = plan_device(src, precision_);
  plan_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const ir::Graph& g = *plan_.graph;
  value_slots_.assign(g.num_values(), {});
  node_kernel_.assign(g.num_nodes(), nullptr);
  // Which values something reads.
  used_.assign(g.num_values(), false);
  for (NodeId id = 0; id < static_cast<NodeId>(g.num_nodes()); ++id)
    if (plan_.needed[id])
      for (ValueId v : g.node(id).inputs) used_[v] = true;
  for (const auto& [name, v] : g.outputs) used_[v] = true;
  for (const ir::StateUpdate& u : g.updates) used_[u.value] = true;
  // Runtime scalars.
  for (const ir::Node& n : g.nodes()) {
    if (n.op != OpKind::RuntimeScalar) continue;
    const std::string& name = n.attrs.s("name");
    if (name == "loss_scale" || name == "inv_loss_scale") {
      loss_scaling_ = precision_ == Precision::FP16;
      continue;
    }
    if (!scalars_.count(name)) {
      if (static_cast<int>(scalars_.size()) == kMaxScalars) throw std::runtime_error("more than 60 runtime scalars");
      scalars_[name] = static_cast<int>(scalars_.size());
    }
  }
  // Sources.
  for (NodeId id : g.persistent_nodes()) {
    const ir::Node& n = g.node(id);
    Persistent p;
    p.name = n.attrs.s("name");
    p.type = g.type(n.outputs[0]);
    p.fmt = plan_.formats.preferred[n.outputs[0]];
    p.slot = new_slot(n.outputs[0], p.fmt, Home::Persistent);
    slots_[p.slot].index = static_cast<int>(persistent_.size());
    persistent_index_[p.name] = static_cast<int>(persistent_.size());
    persistent_.push_back(p);
  }
  for (const ir::StateUpdate& u : g.updates)
    if (u.value != u.target) persistent_[persistent_index_.at(g.producer(u.target).attrs.s("name"))].updated = true;
  for (NodeId id = 0; id < static_cast<NodeId>(g.num_nodes()); ++id) {
    const ir::Node& n = g.node(id);
    if (!plan_.needed[id]) continue;
    if (n.op == OpKind::Input) {
      const ir::ValueType& t = g.type(n.outputs[0]);
      int s = new_slot(n.outputs[0], Format{t.dtype, DevLayout::Plain}, Home::Feed);
      slots_[s].index = static_cast<int>(feeds_.size());
      feeds_.push_back(Io{n.attrs.s("name"), t, s, 0, format_bytes(t.shape, slots_[s].fmt)});
    } else if (n.op == OpKind::Constant) {
      new_slot(n.outputs[0], plan_.formats.preferred[n.outputs[0]], Home::Constant);
    }
  }
  // Kernels, in unit order; fp16 loss scaling brackets the step.
  const std::vector<Unit>& units = plan_.units.units;
  if (!loss_scaling_) {
    for (int ui = 0; ui < static_cast<int>(units.size()); ++ui) add_unit(ui);
  } else {
    // fp16: the optimizer runs last (its units only feed state updates), after
    // one test of every gradient it reads; an overflow skips it.
    steps_.emplace_back();
    steps_.back().kernel = make_clear_overflow();
    for (int ui = 0; ui < static_cast<int>(units.size()); ++ui)
      if (!units[ui].optimizer) add_unit(ui);
    add_gradient_check();
    for (int ui = 0; ui < static_cast<int>(units.size()); ++ui)
      if (units[ui].optimizer) add_unit(ui);
  }
  group_weight_casts();
  for (const auto& [name, v] : g.outputs) {
    const ir::ValueType& t = g.type(v);
    int s = get_slot(v, Format{t.dtype, DevLayout::Plain});
    outputs_.push_back(Io{name, t, s, 0, format_bytes(t.shape, Format{t.dtype, DevLayout::Plain})});
  }
  place_updates();
  if (loss_scaling_) {
    steps_.emplace_back();
    steps_.back().kernel = make_loss_scale_update();
  }
  for (const Step& st : steps_) host_steps_ = host_steps_ || st.kernel->host_sync();
  liveness();
  program_.compile(dev_->arch);
  allocate();
  plan_step_streams();
  bind();
  upload_initial_values();
  ACNN_CUDA(cudaDeviceSynchronize());
}

void CudaRunner::add_unit(int ui) {
  const ir::Graph& g = *plan_.graph;
  const Unit& u = plan_.units.units[ui];
  if (u.kind == UnitKind::Node && g.node(u.nodes[0]).op == OpKind::Reshape) {
    const ir::Node& n = g.node(u.nodes[0]);
    int src = get_slot(n.inputs[0], Format{slots_[value_slots_[n.inputs[0]][0]].fmt.dtype, DevLayout::Plain});
    int s = new_slot(n.outputs[0], Format{slots_[src].fmt.dtype, DevLayout::Plain}, Home::Alias);
    slots_[s].alias_of = root(src);
    return;
  }
  std::vector<ValueId> ins = unit_inputs(u), outs = unit_outputs(u);
  KernelRequest r{g, u, *dev_, precision_, {}, {}, program_, scalars_, loss_scaling_ && u.optimizer,
                  [this](NodeId id) { return node_kernel_[id]; }};
  for (ValueId v : ins) {
    if (value_slots_[v].empty())
      throw std::logic_error("CUDA runner: value %" + std::to_string(v) + " has no producer before its use");
    r.in.push_back(slots_[value_slots_[v][0]].fmt);
  }
  for (ValueId v : outs) r.out.push_back(plan_.formats.preferred[v]);
  std::unique_ptr<DevKernel> k = make_kernel(r);
  Step st;
  for (size_t i = 0; i < ins.size(); ++i) st.in.push_back(get_slot(ins[i], r.in[i]));
  // A static unit whose operands are all unchanging runs outside the step.
  if (plan_.units.static_unit[ui]) {
    bool fixed = true;
    for (int s : st.in) fixed = fixed && unchanging(s, &st.depends);
    st.cached = fixed;
    if (!fixed) st.depends.clear();
    std::sort(st.depends.begin(), st.depends.end());
    st.depends.erase(std::unique(st.depends.begin(), st.depends.end()), st.depends.end());
  }
  // Dedicated kernels skip outputs nobody reads (a null pointer); generated
  // ones store every output, so theirs get memory all the same.
  const bool skips_unread = skips_unread_outputs(g, u);
  for (size_t i = 0; i < outs.size(); ++i) {
    if (!used_[outs[i]] && skips_unread) {
      st.out.push_back(-1);
      continue;
    }
    // A part of a concatenation (Unit::output_view): into its one slot,
    // whichever unit writes the first part.
    if (i < u.output_view.size() && u.output_view[i] >= 0 && !value_slots_[outs[i]].empty()) {
      st.out.push_back(value_slots_[outs[i]][0]);
      continue;
    }
    const int o = new_slot(outs[i], r.out[i], st.cached ? Home::Dedicated : Home::Arena);
    if (st.cached) slots_[o].depends = st.depends;
    st.out.push_back(o);
  }
  if (!u.nodes.empty()) st.scope = g.node(u.nodes[0]).scope;
  else if (!u.members.empty() && !u.members[0].nodes.empty()) st.scope = "update group";
  DevKernel* raw = k.get();
  st.kernel = std::move(k);
  st.optimizer = u.optimizer;
  st.unit = ui;
  steps_.push_back(std::move(st));
  auto mark = [&](const Unit& m) {
    for (NodeId n : m.nodes) node_kernel_[n] = raw;
  };
  if (u.kind == UnitKind::UpdateGroup)
    for (const Unit& m : u.members) mark(m);
  else
    mark(u);
}

void CudaRunner::add_gradient_check() {
  const ir::Graph& g = *plan_.graph;
  Step st;
  std::vector<int64_t> sizes;
  std::set<ValueId> seen;
  for (const Unit& o : plan_.units.units) {
    if (!o.optimizer) continue;
    std::vector<Unit> members = o.kind == UnitKind::UpdateGroup ? o.members : std::vector<Unit>{o};
    for (const Unit& m : members)
      for (ValueId v : m.inputs) {
        OpKind p = g.producer(v).op;
        if (p == OpKind::Param || p == OpKind::State || p == OpKind::Constant || p == OpKind::RuntimeScalar) continue;
        if (numel(g.type(v).shape) != numel(m.space) || value_slots_[v].empty() || !seen.insert(v).second) continue;
        st.in.push_back(value_slots_[v][0]);
        sizes.push_back(numel(g.type(v).shape));
      }
  }
  st.kernel = make_nonfinite_check(sizes);
  st.scope = "loss scaling";
  steps_.push_back(std::move(st));
}

// The per-step casts of the master weights (an updated parameter read in
// another element type, the layout the same) run as one launch, where the
// first of them ran: nothing writes a parameter before its update, and
// place_updates(), which runs after, keeps every read of it before that.
void CudaRunner::group_weight_casts() {
  std::vector<int> casts;
  std::vector<int64_t> sizes;
  for (int i = 0; i < static_cast<int>(steps_.size()); ++i) {
    const Step& st = steps_[i];
    if (!st.cast || st.cached) continue;
    if (slots_[root(st.in[0])].home != Home::Persistent) continue;
    casts.push_back(i);
    sizes.push_back(numel(slots_[st.out[0]].shape));
  }
  if (casts.size() < 2) return;
  Step group;
  group.kernel = make_cast_group(sizes);
  group.scope = "weight casts";
  for (int i : casts) {
    group.in.push_back(steps_[i].in[0]);
    group.out.push_back(steps_[i].out[0]);
  }
  std::vector<Step> steps;
  for (int i = 0; i < static_cast<int>(steps_.size()); ++i) {
    if (i == casts[0]) steps.push_back(std::move(group));
    if (std::find(casts.begin(), casts.end(), i) == casts.end()) steps.push_back(std::move(steps_[i]));
  }
  steps_ = std::move(steps);
}

// Each update either aliases its source to the persistent tensor (the
// producing kernel writes in place) or copies at the end of the step.
void CudaRunner::place_updates() {
  const ir::Graph& g = *plan_.graph;
  std::vector<std::pair<int, int>> pairs;  // (source slot, persistent slot)
  for (const ir::StateUpdate& u : g.updates) {
    if (u.value == u.target) continue;
    const Persistent& p = persistent_[persistent_index_.at(g.producer(u.target).attrs.s("name"))];
    pairs.emplace_back(get_slot(u.value, p.fmt), p.slot);
  }
  std::vector<int> producer(slots_.size(), -1);
  for (int i = 0; i < static_cast<int>(steps_.size()); ++i)
    for (int s : steps_[i].out)
      if (s >= 0) producer[s] = i;
  std::set<int> taken;
  std::vector<std::pair<int, int>> copies;
  std::vector<bool> guarded;
  for (auto [src, sp] : pairs) {
    bool ok = slots_[src].home == Home::Arena && producer[src] >= 0 && taken.insert(src).second;
    if (ok) {
      // No kernel after the producer reads the old value; the producer itself
      // only where it reads each element just before writing it.
      const int at = producer[src];
      const Step& ps = steps_[at];
      const int j = static_cast<int>(std::find(ps.out.begin(), ps.out.end(), src) - ps.out.begin());
      for (int i = 0; i < static_cast<int>(steps_.size()) && ok; ++i)
        for (int k = 0; k < static_cast<int>(steps_[i].in.size()) && ok; ++k) {
          if (root(steps_[i].in[k]) != sp) continue;
          if (i > at || (i == at && !reads_in_place(*steps_[i].kernel, k, j))) ok = false;
        }
    }
    if (ok) {
      slots_[src].home = Home::Alias;
      slots_[src].alias_of = sp;
      ++inplace_updates_;
    } else {
      copies.emplace_back(src, sp);
      const int at = producer[root(src)] >= 0 ? producer[root(src)] : -1;
      guarded.push_back(loss_scaling_ && at >= 0 && steps_[at].optimizer);
    }
  }
  for (size_t c = 0; c < copies.size(); ++c) {
    auto [src, sp] = copies[c];
    Step st;
    st.kernel = make_copy(format_bytes(slots_[sp].shape, slots_[sp].fmt), guarded[c]);
    st.in = {src};
    st.out = {sp};
    st.scope = "state update";
    steps_.push_back(std::move(st));
    ++copied_updates_;
  }
}

void CudaRunner::liveness() {
  const int n = static_cast<int>(steps_.size());
  for (Slot& s : slots_) s.first = s.last = -1;
  for (int i = 0; i < n; ++i) {
    for (int s : steps_[i].out)
      if (s >= 0) {
        Slot& r = slots_[root(s)];
        if (r.first < 0) r.first = i;
        r.last = std::max(r.last, i);
      }
    for (int s : steps_[i].in) {
      Slot& r = slots_[root(s)];
      r.last = std::max(r.last, i);
      if (r.first < 0) r.first = i;  // read before written: only sources (not in the arena)
    }
  }
  for (const Io& o : outputs_) {
    Slot& r = slots_[root(o.slot)];
    if (r.first < 0) r.first = n;
    r.last = n;
  }
}

void CudaRunner::allocate() {
  // The arena: temporaries packed by live range (runtime/plan.cpp's packer),
  // each launched step's scratch among them, live during that step only:
  // the arena then holds at each moment what that moment needs (not the
  // largest activations plus the largest scratch), and steps on two streams
  // get scratch of their own.
  Plan packer;
  std::vector<int> arena_slots, scratch_steps;
  for (int i = 0; i < static_cast<int>(steps_.size()); ++i) {
    Step& st = steps_[i];
    st.workspace = st.cached ? 0 : st.kernel->workspace_bytes();
    if (!st.workspace) continue;
    acnn::Slot ps;
    ps.bytes = align256(st.workspace);
    ps.home = SlotHome::Arena;
    ps.first = ps.last = i;
    packer.slots.push_back(ps);
    scratch_steps.push_back(i);
  }
  for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
    const Slot& s = slots_[i];
    if (s.home != Home::Arena || s.first < 0) continue;
    acnn::Slot ps;
    ps.bytes = s.bytes;
    ps.home = SlotHome::Arena;
    ps.first = s.first;
    ps.last = s.last;
    packer.slots.push_back(ps);
    arena_slots.push_back(i);
  }
  packer.plan_arena();
  for (size_t k = 0; k < scratch_steps.size(); ++k) steps_[scratch_steps[k]].workspace_at = packer.slots[k].offset;
  for (size_t k = 0; k < arena_slots.size(); ++k)
    slots_[arena_slots[k]].offset = packer.slots[scratch_steps.size() + k].offset;
  arena_bytes_ = align256(packer.arena_bytes);
  // Persistent tensors, constants and cached conversions, kernel state.
  persist_bytes_ = dedicated_bytes_ = feed_bytes_ = out_bytes_ = 0;
  for (Slot& s : slots_) {
    if (s.home == Home::Persistent) s.offset = persist_bytes_, persist_bytes_ += s.bytes;
    if (s.home == Home::Constant || s.home == Home::Dedicated) s.offset = dedicated_bytes_, dedicated_bytes_ += s.bytes;
  }
  std::vector<size_t>& state_at = state_at_;
  state_at.assign(steps_.size(), 0);
  for (size_t i = 0; i < steps_.size(); ++i) {
    state_at[i] = dedicated_bytes_;
    dedicated_bytes_ += align256(steps_[i].kernel->state_bytes());
    if (steps_[i].cached) workspace_bytes_ = std::max(workspace_bytes_, steps_[i].kernel->workspace_bytes());
  }
  workspace_bytes_ = align256(workspace_bytes_);
  for (Io& f : feeds_) f.offset = feed_bytes_, slots_[f.slot].offset = feed_bytes_, feed_bytes_ += align256(f.bytes);
  for (Io& o : outputs_) o.offset = out_bytes_, out_bytes_ += align256(o.bytes);
  auto dmalloc = [](char** p, size_t n) { ACNN_CUDA(cudaMalloc(reinterpret_cast<void**>(p), align256(n))); };
  dmalloc(&arena_, arena_bytes_);
  dmalloc(&persist_, persist_bytes_);
  dmalloc(&dedicated_, dedicated_bytes_);
  dmalloc(&workspace_, workspace_bytes_);
  ACNN_CUDA(cudaMalloc(reinterpret_cast<void**>(&status_dev_), sizeof(AcnnStatus)));
  for (int p = 0; p < 2; ++p) {
    dmalloc(&feed_dev_[p], feed_bytes_);
    ACNN_CUDA(cudaMalloc(reinterpret_cast<void**>(&params_dev_[p]), sizeof(AcnnParams)));
    ACNN_CUDA(cudaMallocHost(reinterpret_cast<void**>(&pinned_in_[p]), align256(feed_bytes_)));
    ACNN_CUDA(cudaMallocHost(reinterpret_cast<void**>(&pinned_out_[p]), align256(out_bytes_)));
    ACNN_CUDA(cudaMallocHost(reinterpret_cast<void**>(&pinned_params_[p]), sizeof(AcnnParams)));
    ACNN_CUDA(cudaMallocHost(reinterpret_cast<void**>(&pinned_status_[p]), sizeof(AcnnStatus)));
    std::memset(pinned_params_[p], 0, sizeof(AcnnParams));
    ACNN_CUDA(cudaEventCreateWithFlags(&copied_[p], cudaEventDisableTiming));
    ACNN_CUDA(cudaEventCreateWithFlags(&consumed_[p], cudaEventDisableTiming));
    ACNN_CUDA(cudaEventCreateWithFlags(&done_[p], cudaEventDisableTiming));
    ACNN_CUDA(cudaEventCreate(&timer_[p]));
  }
  for (size_t i = 0; i < steps_.size(); ++i)
    if (steps_[i].kernel->state_bytes()) steps_[i].kernel->bind_state(dedicated_ + state_at[i]);
}

// Which steps may run side by side: every step's memory as byte ranges of
// the device blocks (operands by their root slot, its state, another
// kernel's state it reads, the status block), planned by streams.h. One
// stream when a step synchronizes with the host or ACNN_CUDA_STREAMS=1.
void CudaRunner::plan_step_streams() {
  enum Block { kArena, kPersistent, kDedicated, kFeed, kStatus };
  const char* env = std::getenv("ACNN_CUDA_STREAMS");
  const int wanted = env && *env ? std::max(1, std::atoi(env)) : 2;
  std::map<const DevKernel*, int> step_of;
  for (size_t i = 0; i < steps_.size(); ++i) step_of[steps_[i].kernel.get()] = static_cast<int>(i);
  std::vector<std::vector<MemRange>> touches(steps_.size());
  std::vector<bool> launched(steps_.size());
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Step& st = steps_[i];
    launched[i] = !st.cached;
    auto add = [&](int s, bool write) {
      if (s < 0) return;
      const Slot& r = slots_[root(s)];
      const Block b = r.home == Home::Arena ? kArena : r.home == Home::Persistent ? kPersistent
                      : r.home == Home::Feed ? kFeed : kDedicated;
      touches[i].push_back(MemRange{b, r.offset, r.offset + r.bytes, write});
    };
    for (int s : st.in) add(s, false);
    for (int s : st.out) add(s, true);
    if (size_t b = st.kernel->state_bytes()) touches[i].push_back(MemRange{kDedicated, state_at_[i], state_at_[i] + b, true});
    if (const DevKernel* k = st.kernel->reads_state_of()) {
      const int f = step_of.at(k);
      touches[i].push_back(MemRange{kDedicated, state_at_[f], state_at_[f] + k->state_bytes(), false});
    }
    if (st.kernel->uses_status()) touches[i].push_back(MemRange{kStatus, 0, sizeof(AcnnStatus), true});
    if (st.workspace) touches[i].push_back(MemRange{kArena, st.workspace_at, st.workspace_at + st.workspace, true});
  }
  streams_ = plan_streams(touches, launched, host_steps_ ? 1 : std::min(wanted, 2));
  if (streams_.streams < 2) return;
  stream_events_.assign(steps_.size(), nullptr);
  for (size_t i = 0; i < steps_.size(); ++i)
    if (streams_.record[i]) ACNN_CUDA(cudaEventCreateWithFlags(&stream_events_[i], cudaEventDisableTiming));
  ACNN_CUDA(cudaEventCreateWithFlags(&fork_, cudaEventDisableTiming));
  ACNN_CUDA(cudaEventCreateWithFlags(&join_, cudaEventDisableTiming));
  dev_->side_cudnn();  // created now: not while a graph is captured
}

void CudaRunner::bind() {
  for (int p = 0; p < 2; ++p) {
    step_in_[p].assign(steps_.size(), {});
    step_out_[p].assign(steps_.size(), {});
    for (size_t i = 0; i < steps_.size(); ++i) {
      auto dev = [&](int s) {
        DevTensor t;
        if (s < 0) return t;
        t.ptr = slot_ptr(s, p);
        t.shape = slots_[s].shape;
        t.fmt = slots_[s].fmt;
        return t;
      };
      for (int s : steps_[i].in) step_in_[p][i].push_back(dev(s));
      for (int s : steps_[i].out) step_out_[p][i].push_back(dev(s));
    }
  }
  for (size_t i = 0; i < steps_.size(); ++i) steps_[i].kernel->prepare(step_in_[0][i], step_out_[0][i], *dev_);
}

void CudaRunner::upload_initial_values() {
  const ir::Graph& g = *plan_.graph;
  for (Persistent& p : persistent_) {
    const ir::Node& n = g.producer(slots_[p.slot].value);
    Tensor t = init_persistent(n, p.type.dtype, opts_.seed);
    std::vector<uint8_t> bytes = host_from_plain(t, p.fmt);
    ACNN_CUDA(cudaMemcpy(slot_ptr(p.slot, 0), bytes.data(), bytes.size(), cudaMemcpyHostToDevice));
  }
  for (int s = 0; s < static_cast<int>(slots_.size()); ++s) {
    if (slots_[s].home != Home::Constant) continue;
    const ir::ValueType& t = g.type(slots_[s].value);
    Tensor c(t.dtype, t.shape);
    fill_constant(g.producer(slots_[s].value), c);
    std::vector<uint8_t> bytes = host_from_plain(c, slots_[s].fmt);
    ACNN_CUDA(cudaMemcpy(slot_ptr(s, 0), bytes.data(), bytes.size(), cudaMemcpyHostToDevice));
  }
  AcnnStatus st{};
  st.loss_scale = loss_scaling_ ? kInitialLossScale : 1.0f;
  ACNN_CUDA(cudaMemcpy(status_dev_, &st, sizeof st, cudaMemcpyHostToDevice));
}

CudaRunner::~CudaRunner() {
  if (dev_) {
    cudaStreamSynchronize(dev_->compute);
    cudaStreamSynchronize(dev_->side);
  }
  for (int p = 0; p < 2; ++p) {
    if (exec_[p]) cudaGraphExecDestroy(exec_[p]);
    cudaFree(feed_dev_[p]);
    cudaFree(params_dev_[p]);
    cudaFreeHost(pinned_in_[p]);
    cudaFreeHost(pinned_out_[p]);
    cudaFreeHost(pinned_params_[p]);
    cudaFreeHost(pinned_status_[p]);
    if (copied_[p]) cudaEventDestroy(copied_[p]);
    if (consumed_[p]) cudaEventDestroy(consumed_[p]);
    if (done_[p]) cudaEventDestroy(done_[p]);
    if (timer_[p]) cudaEventDestroy(timer_[p]);
  }
  for (cudaEvent_t e : step_events_) cudaEventDestroy(e);
  for (cudaEvent_t e : stream_events_)
    if (e) cudaEventDestroy(e);
  if (fork_) cudaEventDestroy(fork_);
  if (join_) cudaEventDestroy(join_);
  steps_.clear();  // kernels hold descriptors of the device's handles
  cudaFree(arena_);
  cudaFree(persist_);
  cudaFree(dedicated_);
  cudaFree(workspace_);
  cudaFree(status_dev_);
}

}  // namespace acnn::cuda
