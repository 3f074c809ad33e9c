// Executor runs, state updates, the persistent-tensor API and profiling.
#include <omp.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstring>
#include <iomanip>
#include <map>
#include <sstream>
#include <stdexcept>

#include "compiler/ir/op.h"
#include "runtime/executor.h"

namespace acnn {

void Executor::bind_run_slots(const std::map<std::string, Tensor>& feeds) {
  for (int i : rebind_) {
    const Slot& s = plan_.slots[i];
    Tensor& t = slot_tensors_[i];
    if (s.home == SlotHome::Feed) {
      auto it = feeds.find(s.name);
      if (it == feeds.end()) throw std::runtime_error("no value fed for input `" + s.name + "`");
      const Tensor& f = it->second;
      if (f.dtype() != s.type.dtype || f.shape() != s.type.shape)
        throw std::runtime_error("feed `" + s.name + "` is " + type_str(f.dtype(), f.shape()) + " but the graph expects " +
                                 type_str(s.type.dtype, s.type.shape));
      if (!f.defined() || f.layout() != Layout::Plain || f.storage()->device)
        throw std::runtime_error("feed `" + s.name + "` must be a plain host tensor");
      t.set_storage(f.storage(), f.offset());
    } else if (s.home == SlotHome::Persistent) {
      const Tensor& p = persistent_[persistent_index_.at(s.name)].tensor;
      t.set_storage(p.storage(), p.offset());
    } else {
      assert(s.home == SlotHome::Alias);
      const Tensor& r = slot_tensors_[s.alias_of];
      t.set_storage(r.storage(), r.offset());
    }
  }
}

namespace {

bool has_nan(const Tensor& t) {
  if (!t.defined() || t.dtype() != DType::F32) return false;
  const float* p = static_cast<const float*>(t.raw());
  for (size_t i = 0, n = t.bytes() / sizeof(float); i < n; ++i)
    if (p[i] != p[i]) return true;
  return false;
}

}  // namespace

void Executor::check_poisoned_step(const Step& st) const {
  size_t i = &st - plan_.steps.data();
  for (const Tensor* in : step_inputs_[i])
    if (in && has_nan(*in)) return;  // NaN in, NaN out: an earlier step is at fault
  for (const Tensor* out : step_outputs_[i]) {
    if (!out || !has_nan(*out)) continue;
    std::string what = st.kind == StepKind::RuntimeScalar ? "scalar " + st.scalar_name : st.kernel->describe();
    if (st.node >= 0) {
      const ir::Node& n = graph_->node(st.node);
      what += " (node %" + std::to_string(st.node) + " " + ir::op_name(n.op) + " in " + n.scope + ")";
    }
    throw std::runtime_error("poisoned run: step " + std::to_string(i) + " " + what +
                             " wrote NaN from NaN-free inputs (it read memory no kernel wrote, or left part of its output unwritten)");
  }
}

void Executor::use_threads(int threads) {
  if (threads <= 0 || threads == threads_set_) return;
  omp_set_num_threads(threads);
  threads_set_ = threads;
}

void Executor::run_step(Step& st, ExecContext& ctx) {
  size_t i = &st - plan_.steps.data();
  if (st.kind == StepKind::RuntimeScalar) {
    auto it = ctx.scalars.find(st.scalar_name);
    if (it == ctx.scalars.end()) throw std::runtime_error("runtime scalar `" + st.scalar_name + "` not given");
    slot_tensors_[st.outputs[0]].set(0, it->second);
    return;
  }
  st.kernel->run(step_inputs_[i], step_outputs_[i], ctx);
}

std::map<std::string, Tensor> Executor::run(const std::map<std::string, Tensor>& feeds, ExecContext& ctx) {
  if (opts_.plan_only) throw std::logic_error("this executor was compiled for its plan only (plan_only)");
  use_threads(ctx.threads);
  bind_run_slots(feeds);
  if (opts_.poison) {
    std::memset(arena_->data, 0xff, plan_.arena_bytes);
    std::memset(scratch_->data, 0xff, plan_.scratch_bytes);
  }
  using clock = std::chrono::steady_clock;
  for (Step& st : plan_.steps) {
    if (st.cached) {
      int64_t v = 0;
      for (int p : st.versions_of) v += persistent_[p].version;
      if (v == st.cached_version) continue;
      st.cached_version = v;
    }
    if (opts_.profile) {
      auto t0 = clock::now();
      run_step(st, ctx);
      st.seconds += std::chrono::duration<double>(clock::now() - t0).count();
    } else {
      run_step(st, ctx);
    }
    if (opts_.poison) check_poisoned_step(st);
    ++st.calls;
  }
  std::map<std::string, Tensor> result;
  for (const auto& [name, s] : outputs_) result[name] = slot_tensors_[s].clone();
  apply_updates();
  return result;
}

void Executor::apply_updates() {
  // Copies first: they read slots the swaps are about to exchange.
  for (const Update& u : updates_) {
    if (u.swap) continue;
    Persistent& p = persistent_[u.persistent];
    const Tensor& src = slot_tensors_[u.source];
    size_t n = p.layout ? p.layout->bytes() : p.tensor.bytes();
    if (src.raw() != p.tensor.raw()) std::memmove(p.tensor.raw(), src.raw(), n);
  }
  for (const Update& u : updates_) {
    if (!u.swap) continue;
    Persistent& p = persistent_[u.persistent];
    Tensor& src = slot_tensors_[u.source];
    std::shared_ptr<Storage> mine = p.tensor.storage();
    size_t off = p.tensor.offset();
    p.tensor.set_storage(src.storage(), src.offset());
    src.set_storage(std::move(mine), off);
  }
}

int Executor::copied_updates() const {
  int n = 0;
  for (const Update& u : updates_) n += !u.swap;
  return n;
}

// ---------------------------------------------------------------- persistent tensors

Kernel& Executor::api_converter(const std::string& name, bool to_backend) const {
  auto key = std::make_pair(name, to_backend);
  auto it = api_converters_.find(key);
  if (it != api_converters_.end()) return *it->second;
  const Persistent& p = persistent_[persistent_index_.at(name)];
  assert(p.layout);
  Backend* owner = nullptr;
  for (auto& b : backends_)
    if (b.get() == &p.layout->owner()) owner = b.get();
  assert(owner);
  std::unique_ptr<Kernel> k = to_backend ? owner->convert(p.type, nullptr, p.layout) : owner->convert(p.type, p.layout, nullptr);
  if (!k) throw std::runtime_error("cannot convert `" + name + "` to " + layout_name(p.layout));
  if (size_t n = k->scratch_bytes()) {
    auto s = alloc_tensor({DType::U8, {static_cast<int64_t>(n)}}, nullptr).storage();
    k->bind_scratch(s->data);
    api_scratch_.push_back(std::move(s));
  }
  return *(api_converters_[key] = std::move(k));
}

std::vector<std::string> Executor::persistent_names() const {
  std::vector<std::string> r;
  for (const Persistent& p : persistent_) r.push_back(p.name);
  return r;
}

bool Executor::has_persistent(const std::string& name) const { return persistent_index_.count(name) != 0; }

Tensor Executor::get_persistent(const std::string& name) const {
  if (opts_.plan_only) throw std::logic_error("this executor was compiled for its plan only (plan_only)");
  auto it = persistent_index_.find(name);
  if (it == persistent_index_.end()) throw std::runtime_error("no parameter or state named `" + name + "`");
  const Persistent& p = persistent_[it->second];
  if (!p.layout) return p.tensor.clone();
  Tensor out(p.type.dtype, p.type.shape);
  std::vector<const Tensor*> in{&p.tensor};
  std::vector<Tensor*> outs{&out};
  ExecContext ctx;
  api_converter(name, false).run(in, outs, ctx);
  return out;
}

void Executor::set_persistent(const std::string& name, const Tensor& value) {
  if (opts_.plan_only) throw std::logic_error("this executor was compiled for its plan only (plan_only)");
  auto it = persistent_index_.find(name);
  if (it == persistent_index_.end()) throw std::runtime_error("no parameter or state named `" + name + "`");
  Persistent& p = persistent_[it->second];
  if (value.dtype() != p.type.dtype || value.shape() != p.type.shape)
    throw std::runtime_error("`" + name + "` is " + type_str(p.type.dtype, p.type.shape) + ", got " +
                             type_str(value.dtype(), value.shape()));
  if (value.layout() != Layout::Plain) throw std::runtime_error("set_persistent: `" + name + "` must be plain");
  if (!p.layout) {
    std::memcpy(p.tensor.raw(), value.raw(), value.bytes());
  } else {
    std::vector<const Tensor*> in{&value};
    std::vector<Tensor*> outs{&p.tensor};
    ExecContext ctx;
    api_converter(name, true).run(in, outs, ctx);
  }
  ++p.version;
}

std::map<std::string, Tensor> Executor::persistent() const {
  std::map<std::string, Tensor> r;
  for (const Persistent& p : persistent_) r[p.name] = get_persistent(p.name);
  return r;
}

// ---------------------------------------------------------------- profiling

std::vector<KernelTime> Executor::kernel_times() const {
  std::vector<KernelTime> r;
  for (const Step& st : plan_.steps) {
    KernelTime t;
    t.kernel = st.kind == StepKind::RuntimeScalar ? "scalar:" + st.scalar_name : st.kernel->describe();
    t.node = st.node;
    if (st.kind == StepKind::Convert) {
      t.op = "reorder";
    } else if (st.node >= 0) {
      t.op = ir::op_name(graph_->node(st.node).op);
    }
    if (st.node >= 0) t.scope = graph_->node(st.node).scope;
    t.calls = st.calls;
    t.seconds = st.seconds;
    r.push_back(std::move(t));
  }
  return r;
}

void Executor::reset_times() {
  for (Step& st : plan_.steps) st.seconds = 0, st.calls = 0;
}

std::string Executor::time_report(int top) const {
  std::vector<KernelTime> ts = kernel_times();
  double total = 0;
  std::map<std::string, std::pair<double, int64_t>> per_op;
  for (const KernelTime& t : ts) {
    total += t.seconds;
    auto& e = per_op[t.op];
    e.first += t.seconds;
    e.second += t.calls;
  }
  std::stable_sort(ts.begin(), ts.end(), [](const KernelTime& a, const KernelTime& b) { return a.seconds > b.seconds; });
  std::ostringstream os;
  os << std::fixed << std::setprecision(3);
  os << "total " << total * 1e3 << " ms over " << ts.size() << " steps\n";
  int n = top > 0 ? std::min<int>(top, ts.size()) : ts.size();
  for (int i = 0; i < n; ++i) {
    const KernelTime& t = ts[i];
    os << std::setw(10) << t.seconds * 1e3 << " ms " << std::setw(6) << (total > 0 ? 100 * t.seconds / total : 0)
       << "%  " << t.op << (t.scope.empty() ? "" : " " + t.scope) << "  [" << t.kernel << "] x" << t.calls << "\n";
  }
  std::vector<std::pair<std::string, std::pair<double, int64_t>>> ops(per_op.begin(), per_op.end());
  std::sort(ops.begin(), ops.end(), [](auto& a, auto& b) { return a.second.first > b.second.first; });
  os << "per op:\n";
  for (auto& [op, e] : ops)
    os << std::setw(10) << e.first * 1e3 << " ms " << std::setw(6) << (total > 0 ? 100 * e.first / total : 0) << "%  "
       << (op.empty() ? "(other)" : op) << " x" << e.second << "\n";
  return os.str();
}

}  // namespace acnn
