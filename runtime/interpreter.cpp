#include "runtime/interpreter.h"

#include <cassert>
#include <cmath>
#include <functional>
#include <stdexcept>

#include "compiler/ir/op.h"

namespace acnn {

namespace {

// Standard normal from two counter-hash uniforms (Box-Muller).
double normal_at(uint64_t seed, uint64_t stream, int64_t i) {
  double u1 = (static_cast<double>(counter_hash(seed, 0, stream, 2 * i) >> 11) + 0.5) / 9007199254740992.0;
  double u2 = static_cast<double>(counter_hash(seed, 0, stream, 2 * i + 1) >> 11) / 9007199254740992.0;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace

Tensor init_persistent(const ir::Node& node, DType dtype, uint64_t seed) {
  Shape shape = node.attrs.ints("shape");
  Tensor t(dtype, shape);
  std::string init = node.attrs.s("init");
  uint64_t stream = std::hash<std::string>{}(node.attrs.s("name"));
  int64_t n = t.numel();
  // fan_out = O * kh * kw for conv weights [O, I, kh, kw] (PyTorch's
  // kaiming_normal_(mode="fan_out") used by torchvision ResNets); fan_in for linear.
  auto fan = [&](bool out) -> double {
    if (shape.size() < 2) return static_cast<double>(shape.empty() ? 1 : shape[0]);
    int64_t receptive = 1;
    for (size_t i = 2; i < shape.size(); ++i) receptive *= shape[i];
    return static_cast<double>((out ? shape[0] : shape[1]) * receptive);
  };
  if (init == "zeros" || init.empty()) return t;
  if (init == "ones" || init == "zero_gamma") {  // zero_gamma: the trainer rewrites it to zeros when the recipe asks
    t.fill(1.0);
  } else if (init == "kaiming_normal") {
    double std = std::sqrt(2.0 / fan(true));
    for (int64_t i = 0; i < n; ++i) t.set(i, std * normal_at(seed, stream, i));
  } else if (init == "kaiming_uniform") {
    // PyTorch's default for Linear/Conv: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights.
    double bound = 1.0 / std::sqrt(fan(false));
    for (int64_t i = 0; i < n; ++i) t.set(i, bound * (2.0 * uniform01(counter_hash(seed, 0, stream, i)) - 1.0));
  } else if (init.rfind("normal:", 0) == 0) {
    double std = std::stod(init.substr(7));
    for (int64_t i = 0; i < n; ++i) t.set(i, std * normal_at(seed, stream, i));
  } else if (init.rfind("uniform:", 0) == 0) {
    double a = std::stod(init.substr(8));
    for (int64_t i = 0; i < n; ++i) t.set(i, a * (2.0 * uniform01(counter_hash(seed, 0, stream, i)) - 1.0));
  } else {
    throw std::runtime_error("unknown initializer `" + init + "` for " + node.attrs.s("name"));
  }
  return t;
}

InterpreterResult interpret(const ir::Graph& g, const std::map<std::string, Tensor>& feeds, ExecContext& ctx,
                            bool keep_all) {
  std::vector<Tensor> values(g.num_values());
  std::vector<int> remaining_uses(g.num_values(), 0);
  for (const ir::Node& n : g.nodes())
    if (!n.dead)
      for (ir::ValueId v : n.inputs) ++remaining_uses[v];
  for (const auto& [name, v] : g.outputs) remaining_uses[v] += 1 << 20;
  for (const ir::StateUpdate& u : g.updates) remaining_uses[u.value] += 1 << 20;

  for (const ir::Node& n : g.nodes()) {
    if (n.dead) continue;
    const ir::OpDef& def = ir::op_def(n.op);
    if (n.op == ir::OpKind::Input || n.op == ir::OpKind::Param || n.op == ir::OpKind::State) {
      const std::string& name = n.attrs.s("name");
      auto it = feeds.find(name);
      const ir::ValueType& t = g.type(n.outputs[0]);
      if (it != feeds.end()) {
        if (it->second.shape() != t.shape || it->second.dtype() != t.dtype)
          throw std::runtime_error("feed `" + name + "` is " + type_str(it->second.dtype(), it->second.shape()) +
                                   " but the graph expects " + type_str(t.dtype, t.shape));
        values[n.outputs[0]] = it->second;
      } else if (n.op == ir::OpKind::Input) {
        throw std::runtime_error("no value fed for input `" + name + "`");
      } else {
        values[n.outputs[0]] = init_persistent(n, t.dtype, ctx.seed);
      }
      continue;
    }
    std::vector<const Tensor*> ins;
    for (ir::ValueId v : n.inputs) ins.push_back(&values[v]);
    std::vector<Tensor> outs;
    std::vector<Tensor*> out_ptrs;
    for (ir::ValueId v : n.outputs) outs.emplace_back(g.type(v).dtype, g.type(v).shape);
    for (Tensor& t : outs) out_ptrs.push_back(&t);
    def.ref(n, ins, out_ptrs, ctx);
    for (size_t i = 0; i < n.outputs.size(); ++i) values[n.outputs[i]] = std::move(outs[i]);
    if (!keep_all)
      for (ir::ValueId v : n.inputs)
        if (--remaining_uses[v] == 0) values[v] = Tensor();
  }
  InterpreterResult r;
  for (const auto& [name, v] : g.outputs) r.outputs[name] = values[v];
  for (const ir::StateUpdate& u : g.updates) r.updated_state[g.producer(u.target).attrs.s("name")] = values[u.value];
  if (keep_all) r.values = std::move(values);
  return r;
}

}  // namespace acnn
