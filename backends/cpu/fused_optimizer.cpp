// The "optimizer" fused kind: every SGD update chain of a training step (weight
// decay, momentum, Nesterov, learning-rate scaling, the subtraction) in one
// kernel. The body is split into its connected components (one per parameter;
// inputs, constants and runtime scalars such as the learning rate are shared
// freely), each lowered to a flat elementwise program. Chains of one structure
// (e.g. "decayed with momentum") share one compiled kernel whatever their
// sizes; at run time the concatenation of all chains' elements is split
// evenly among the threads, so tiny bias updates cost no parallel region of
// their own. Each chain runs in the layout its gradient (or parameter)
// arrives in; the executor then keeps the parameter and its momentum buffer
// in that layout between steps.
#include <omp.h>

#include <map>
#include <numeric>

#include "backends/cpu/common.h"
#include "backends/cpu/ew_interp.h"
#include "backends/cpu/ew_lower.h"
#include "compiler/ir/op.h"

namespace acnn::cpu {

ew::KernelFn ew_code(const ew::Spec& spec);

namespace {

using ir::OpKind;

bool free_node(OpKind k) { return k == OpKind::Input || k == OpKind::Constant || k == OpKind::RuntimeScalar; }

// One parameter's chain: a standalone body whose Inputs index the fused
// node's inputs through `inputs` (local index -> fused input index).
struct Chain {
  std::shared_ptr<ir::Graph> body;
  std::vector<int> inputs;   // local -> fused input
  std::vector<int> outputs;  // local -> fused output
};

std::vector<Chain> split_chains(const ir::Graph& body) {
  const size_t nn = body.num_nodes();
  std::vector<int> parent(nn);
  std::iota(parent.begin(), parent.end(), 0);
  auto find = [&](int x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  for (ir::NodeId id = 0; id < static_cast<ir::NodeId>(nn); ++id) {
    const ir::Node& n = body.node(id);
    if (n.dead || free_node(n.op)) continue;
    for (ir::ValueId v : n.inputs) {
      ir::NodeId p = body.value(v).producer;
      if (!free_node(body.node(p).op)) parent[find(p)] = find(id);
    }
  }
  std::map<int, size_t> index;  // component root -> chain
  std::vector<Chain> chains;
  std::vector<std::map<ir::ValueId, ir::ValueId>> maps;
  std::vector<std::map<ir::ValueId, int>> input_local;
  for (ir::NodeId id = 0; id < static_cast<ir::NodeId>(nn); ++id) {
    const ir::Node& n = body.node(id);
    if (n.dead || free_node(n.op)) continue;
    int root = find(id);
    if (!index.count(root)) {
      index[root] = chains.size();
      chains.push_back({std::make_shared<ir::Graph>(), {}, {}});
      maps.emplace_back();
    }
    size_t c = index[root];
    ir::Graph& cb = *chains[c].body;
    auto& map = maps[c];
    std::vector<ir::ValueId> ins;
    for (ir::ValueId v : n.inputs) {
      if (!map.count(v)) {  // a free node: copy it into this chain
        const ir::Node& src = body.producer(v);
        Attrs attrs = src.attrs;
        if (src.op == OpKind::Input) {
          int local = static_cast<int>(chains[c].inputs.size());
          chains[c].inputs.push_back(static_cast<int>(src.attrs.i("index")));
          attrs.set("index", int64_t{local});
        }
        ir::NodeId k = cb.add_node(src.op, {}, {body.type(v)}, attrs);
        map[v] = cb.node(k).outputs[0];
      }
      ins.push_back(map[v]);
    }
    std::vector<ir::ValueType> types;
    for (ir::ValueId v : n.outputs) types.push_back(body.type(v));
    ir::NodeId k = cb.add_node(n.op, ins, types, n.attrs);
    for (size_t i = 0; i < n.outputs.size(); ++i) map[n.outputs[i]] = cb.node(k).outputs[i];
  }
  for (size_t o = 0; o < body.outputs.size(); ++o) {
    ir::ValueId v = body.outputs[o].second;
    for (size_t c = 0; c < chains.size(); ++c) {
      if (!maps[c].count(v) || free_node(body.producer(v).op)) continue;
      chains[c].body->outputs.push_back({"out" + std::to_string(chains[c].outputs.size()), maps[c][v]});
      chains[c].outputs.push_back(static_cast<int>(o));
      break;
    }
  }
  return chains;
}

struct Part {
  ew::Lowered L;
  ew::Spec spec;
  ew::KernelFn fn;
  std::vector<int> inputs, outputs;
  int64_t size;
  std::vector<float> scalar_values;  // one slot per buffer (runtime scalars)
  std::vector<float*> ptrs;
};

class OptimizerKernel final : public Kernel {
 public:
  OptimizerKernel(std::vector<Part> parts, std::string what, int kernels)
      : parts_(std::move(parts)), what_(std::move(what)), kernels_(kernels) {
    for (const Part& p : parts_) total_ += p.size;
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, ExecContext& ctx) override {
    for (Part& p : parts_) {
      for (size_t b = 0; b < p.L.bufs.size(); ++b) {
        ew::BufInfo& bi = p.L.bufs[b];
        switch (bi.kind) {
          case ew::BufKind::Input: p.ptrs[b] = static_cast<float*>(in[p.inputs[bi.index]]->raw()); break;
          case ew::BufKind::Output: p.ptrs[b] = static_cast<float*>(out[p.outputs[bi.index]]->raw()); break;
          case ew::BufKind::Constant: p.ptrs[b] = bi.values.data(); break;
          case ew::BufKind::Scalar:
            p.scalar_values[b] = ctx.scalar(bi.name);
            p.ptrs[b] = &p.scalar_values[b];
            break;
        }
      }
    }
    int T = total_ < 32768 ? 1 : omp_get_max_threads();
    if (T == 1) {
      range(0, total_);
      return;
    }
#pragma omp parallel num_threads(T)
    {
      int t = omp_get_thread_num();
      int64_t b = std::min(total_, (total_ * t / T + 15) / 16 * 16);
      int64_t e = t + 1 == T ? total_ : std::min(total_, (total_ * (t + 1) / T + 15) / 16 * 16);
      range(b, e);
    }
  }

  std::string describe() const override {
    return std::string(parts_.empty() || parts_[0].fn ? "jit:" : "interp:") + what_ + " (" +
           std::to_string(parts_.size()) + " chains, " + std::to_string(kernels_) + " kernels)";
  }

 private:
  // Elements [b, e) of the concatenation of all chains.
  void range(int64_t b, int64_t e) {
    int64_t base = 0;
    for (Part& p : parts_) {
      int64_t lo = std::max(b, base), hi = std::min(e, base + p.size);
      if (lo < hi) {
        if (p.fn) p.fn(p.ptrs.data(), lo - base, hi - base);
        else ew::interpret(p.spec, p.ptrs.data(), lo - base, hi - base);
      }
      base += p.size;
      if (base >= e) break;
    }
  }

  std::vector<Part> parts_;
  std::string what_;
  int kernels_;
  int64_t total_ = 0;
};

}  // namespace

bool optimizer_supported(const ir::Graph& g, const ir::Node& n) {
  if (!n.body) return false;
  std::vector<Chain> chains = split_chains(*n.body);
  size_t exported = 0;
  for (const Chain& ch : chains) exported += ch.outputs.size();
  if (exported != n.body->outputs.size()) return false;  // e.g. an input passed straight through
  for (const Chain& ch : chains) {
    ew::Lowered L;
    if (!ew::lower_body(*ch.body, ch.inputs.size(), &L, nullptr)) return false;
    if (!ew::all_small_single(L)) return false;
    for (const ew::BufInfo& b : L.bufs)
      if (b.reduce) return false;
  }
  return true;
}

std::unique_ptr<Kernel> compile_fused_optimizer(Compile& c) {
  const ir::Node& n = c.node();
  std::vector<Part> parts;
  std::map<std::string, ew::KernelFn> code;
  std::vector<bool> input_set(n.inputs.size(), false);
  const std::vector<LayoutPtr> given = c.req.inputs;
  auto given_md = [&](int i) -> const md_t* {
    auto* l = dynamic_cast<const OnednnLayout*>(given[i].get());
    return l ? &l->md() : nullptr;
  };
  for (LayoutPtr& l : c.req.inputs) l = nullptr;  // scalars and unclaimed inputs: plain
  for (Chain& ch : split_chains(*n.body)) {
    Part p;
    if (!ew::lower_body(*ch.body, ch.inputs.size(), &p.L, nullptr) || !ew::all_small_single(p.L)) return nullptr;
    p.inputs = ch.inputs;
    p.outputs = ch.outputs;
    p.size = ew::space_points(p.L);
    // The chain's layout: the first full-size input already in a oneDNN layout.
    const md_t* main = nullptr;
    auto full = [&](const ew::BufInfo& b) { return b.kind != ew::BufKind::Constant && b.kind != ew::BufKind::Scalar && b.shape == p.L.space; };
    for (const ew::BufInfo& b : p.L.bufs)
      if (!main && b.kind == ew::BufKind::Input && full(b)) main = given_md(p.inputs[b.index]);
    if (main) {
      int64_t count = 1;
      for (int64_t x : main->dims()) count *= x;
      if (main->get_size() != static_cast<size_t>(count) * sizeof(float)) main = nullptr;  // padded: plain
    }
    LayoutPtr l = main ? c.layout(*main) : nullptr;
    for (const ew::BufInfo& b : p.L.bufs) {
      if (b.kind == ew::BufKind::Input && full(b)) {
        int i = p.inputs[b.index];
        if (input_set[i] && !same_layout(c.req.inputs[i], l)) return nullptr;  // shared by chains in other layouts
        input_set[i] = true;
        c.req.inputs[i] = l;
      }
      if (b.kind == ew::BufKind::Output) c.req.outputs[p.outputs[b.index]] = l;
    }
    p.spec.prog = p.L.prog;
    p.spec.nest = ew::flat_nest(p.L);
    std::string key = p.spec.serialize();
    if (!code.count(key)) code[key] = ew_code(p.spec);
    p.fn = code[key];
    p.scalar_values.assign(p.L.bufs.size(), 0.f);
    p.ptrs.assign(p.L.bufs.size(), nullptr);
    parts.push_back(std::move(p));
  }
  return std::make_unique<OptimizerKernel>(std::move(parts), "optimizer " + n.attrs.s("label"), static_cast<int>(code.size()));
}

}  // namespace acnn::cpu
