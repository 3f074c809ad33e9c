#include "compiler/train/train_graph.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <stdexcept>

#include "compiler/autodiff/autodiff.h"
#include "compiler/ir/builder.h"
#include "compiler/passes/pass.h"
#include "compiler/passes/pipeline.h"

namespace acnn {

using ir::OpKind;
using ir::ValueId;

TrainGraphOptions TrainGraphOptions::from(const Recipe& r) {
  TrainGraphOptions o;
  o.classes = r.data.classes;
  o.label_smoothing = r.label_smoothing;
  o.mixup = r.mixup_on();
  o.distill = r.distill.enabled();
  o.kd_temperature = r.distill.temperature;
  o.kd_weight = r.distill.weight;
  o.optimizer = r.optimizer;
  o.zero_gamma = r.zero_gamma;
  return o;
}

std::string momentum_buffer_name(const std::string& param) { return param + ".momentum"; }

namespace {

// Resolves the `zero_gamma` initializer of the last BN of residual branches.
void resolve_zero_gamma(ir::Graph& g, bool zero_gamma) {
  for (ir::Node& n : g.nodes())
    if (n.op == OpKind::Param && n.attrs.s("init") == "zero_gamma")
      n.attrs.set("init", std::string(zero_gamma ? "zeros" : "ones"));
}

ValueId network_input(const ir::Graph& g) {
  ValueId found = ir::kNoValue;
  for (const ir::Node& n : g.nodes())
    if (n.op == OpKind::Input) {
      if (found != ir::kNoValue) throw std::invalid_argument("training needs a network with exactly one input");
      found = n.outputs[0];
    }
  if (found == ir::kNoValue) throw std::invalid_argument("the network has no input");
  return found;
}

ValueId logits_of(const ir::Graph& g, int64_t classes) {
  ValueId logits = g.output("output");
  assert(logits != ir::kNoValue);
  const Shape& s = g.type(logits).shape;
  if (s.size() != 2)
    throw std::invalid_argument("the network must output logits [N, classes] to be trained, but it outputs " + shape_str(s));
  if (s[1] != classes)
    throw std::invalid_argument("the network has " + std::to_string(s[1]) + " outputs but the recipe's data set has " +
                                std::to_string(classes) + " classes; set the network's classes to match");
  return logits;
}

// The scope prefix of an inlined distillation teacher's nodes.
constexpr const char* kTeacherScope = "teacher.";

// Runs an inlined distillation teacher (nodes scoped kTeacherScope) before the
// student's forward pass rather than after it: its activations are needed
// by nothing else, so they come and go before the student's saved ones
// accumulate, and the step's peak memory is the student's alone. The teacher
// goes right after the last node it reads from outside (the input, or the
// mixed batch); everything after keeps its order.
void schedule_teacher_first(ir::Graph& g) {
  auto is_teacher = [&](ir::NodeId i) { return g.node(i).scope.rfind(kTeacherScope, 0) == 0; };
  const ir::NodeId n = static_cast<ir::NodeId>(g.num_nodes());
  ir::NodeId after = -1;
  for (ir::NodeId i = 0; i < n; ++i)
    if (is_teacher(i))
      for (ValueId v : g.node(i).inputs)
        if (!is_teacher(g.value(v).producer)) after = std::max(after, g.value(v).producer);
  std::vector<ir::NodeId> order;
  order.reserve(n);
  for (ir::NodeId i = 0; i <= after; ++i)
    if (!is_teacher(i)) order.push_back(i);
  for (ir::NodeId i = 0; i < n; ++i)
    if (is_teacher(i)) order.push_back(i);
  for (ir::NodeId i = after + 1; i < n; ++i)
    if (!is_teacher(i)) order.push_back(i);
  g.reorder(order);
}

// Mean softmax cross entropy of logits against probability targets.
ValueId mean_cross_entropy(ir::Builder& b, ValueId logits, ValueId target) {
  ValueId per_example = b.emit1(OpKind::SoftmaxCrossEntropy, {logits, target});
  return b.reduce_mean(per_example, {0}, false);
}

}  // namespace

std::unique_ptr<ir::Graph> build_train_graph(const ir::Graph& forward, const TrainGraphOptions& opts) {
  using clock = std::chrono::steady_clock;
  auto t_start = clock::now();
  auto g = forward.clone();
  g->name = forward.name + ".train";
  resolve_zero_gamma(*g, opts.zero_gamma);
  passes::lower_mode(*g, passes::Mode::Train);
  ValueId image = network_input(*g);
  ValueId logits = logits_of(*g, opts.classes);
  const ir::ValueType image_type = g->type(image);
  const int64_t n = image_type.shape[0];

  ir::Builder b(*g);
  b.scope = "loss";
  ValueId labels = b.input("labels", {DType::I32, {n}});
  Attrs hot{{"classes", opts.classes}, {"smoothing", opts.label_smoothing}};
  ValueId target = b.emit1(OpKind::OneHot, {labels}, hot);

  ValueId mixed_input = image;
  if (opts.mixup) {
    // Blend the network input with a second batch: the graph input `image`
    // becomes lambda * image + (1 - lambda) * image_b, and so do the targets.
    b.scope = "mixup";
    ValueId raw = b.input("image", image_type);  // the new graph input
    ValueId other = b.input("image_b", image_type);
    ValueId labels_b = b.input("labels_b", {DType::I32, {n}});
    ValueId lambda = b.runtime_scalar("mixup_lambda");
    ValueId one_minus = b.scale(lambda, -1.0, 1.0);
    ValueId mixed = b.add(b.mul(raw, lambda), b.mul(other, one_minus));
    mixed_input = mixed;
    ValueId target_b = b.emit1(OpKind::OneHot, {labels_b}, hot);
    target = b.add(b.mul(target, lambda), b.mul(target_b, one_minus));
    // The network's own input node turns into the mixed value.
    g->replace_uses(image, mixed);
    g->node(g->value(image).producer).dead = true;
  }

  b.scope = "loss";
  ValueId loss = mean_cross_entropy(b, logits, target);
  if (opts.distill) {
    b.scope = "distill";
    double t = opts.kd_temperature;
    auto soften = [&](ValueId logits_t) {
      return b.emit1(OpKind::Softmax, {b.scale(logits_t, 1.0 / t)}, Attrs{{"axis", int64_t{-1}}});
    };
    ValueId soft;
    if (opts.teacher) {
      // The teacher sees exactly what the student sees (mixed images included).
      ValueId student_in = ir::kNoValue;
      for (const ir::Node& n : g->nodes())
        if (!n.dead && n.op == OpKind::Input && n.attrs.s("name") == "image") student_in = n.outputs[0];
      ValueId seen = opts.mixup ? mixed_input : student_in;
      soft = soften(inline_graph(*g, *opts.teacher, seen, kTeacherScope));
    } else {
      soft = soften(b.input("teacher_logits", g->type(logits)));
      if (opts.mixup) {
        ValueId lambda = b.runtime_scalar("mixup_lambda");
        ValueId soft_b = soften(b.input("teacher_logits_b", g->type(logits)));
        soft = b.add(b.mul(soft, lambda), b.mul(soft_b, b.scale(lambda, -1.0, 1.0)));
      }
    }
    ValueId kd = mean_cross_entropy(b, b.scale(logits, 1.0 / t), soft);
    loss = b.add(loss, b.scale(kd, opts.kd_weight * t * t));
  }

  // Gradients of every parameter, then one SGD step.
  std::vector<ValueId> params;
  for (ir::NodeId id : g->persistent_nodes())
    if (g->node(id).op == OpKind::Param) params.push_back(g->node(id).outputs[0]);
  ValueId objective = loss;
  if (opts.loss_scaling) {
    b.scope = "loss";
    objective = b.mul(loss, b.runtime_scalar("loss_scale"));
  }
  auto t_ad = clock::now();
  autodiff::GradientResult grads = autodiff::differentiate(*g, objective, params);
  double autodiff_s = std::chrono::duration<double>(clock::now() - t_ad).count();

  b.scope = "optimizer";
  ValueId lr = b.runtime_scalar("lr");
  ValueId unscale = opts.loss_scaling ? b.runtime_scalar("inv_loss_scale") : ir::kNoValue;
  const Recipe::Optimizer& o = opts.optimizer;
  for (ValueId p : params) {
    auto it = grads.grads.find(p);
    if (it == grads.grads.end()) continue;  // the loss does not depend on it
    const ir::Node& pnode = g->producer(p);
    std::string name = pnode.attrs.s("name");
    bool decay = o.weight_decay > 0 && (pnode.attrs.i("decay", 1) != 0 || o.decay_bn_and_bias);
    b.scope = "optimizer." + name;
    ValueId grad = it->second;
    if (unscale != ir::kNoValue) grad = b.mul(grad, unscale);
    if (decay) grad = b.add(grad, b.scale(p, o.weight_decay));
    ValueId step = grad;
    if (o.momentum > 0) {
      ValueId buf = b.state(momentum_buffer_name(name), g->type(p), "zeros");
      ValueId new_buf = b.add(b.scale(buf, o.momentum), grad);
      g->updates.push_back({buf, new_buf});
      step = o.nesterov ? b.add(grad, b.scale(new_buf, o.momentum)) : new_buf;
    }
    ValueId new_p = b.sub(p, b.mul(step, lr));
    g->updates.push_back({p, new_p});
  }
  g->outputs.clear();
  g->outputs.push_back({"loss", loss});
  g->outputs.push_back({"logits", logits});
  g->toposort();
  passes::dce(*g);
  if (opts.distill && opts.teacher) schedule_teacher_first(*g);
  if (opts.timer) {
    opts.timer->add("train graph", std::chrono::duration<double>(clock::now() - t_start).count() - autodiff_s);
    opts.timer->add("autodiff", autodiff_s);
  }
  return g;
}

ValueId inline_graph(ir::Graph& g, const ir::Graph& sub, ValueId input, const std::string& prefix) {
  std::vector<ValueId> map(sub.num_values(), ir::kNoValue);
  ir::Builder b(g);
  for (const ir::Node& n : sub.nodes()) {
    if (n.dead) continue;
    b.scope = prefix + n.scope;
    b.loc = n.loc;
    if (n.op == OpKind::Input) {
      if (!(g.type(input) == sub.type(n.outputs[0])))
        throw std::invalid_argument("the teacher expects input " + type_str(sub.type(n.outputs[0]).dtype, sub.type(n.outputs[0]).shape) +
                                    " but the student's is " + type_str(g.type(input).dtype, g.type(input).shape));
      map[n.outputs[0]] = input;
      continue;
    }
    if (n.op == OpKind::Param || n.op == OpKind::State) {
      // Not trained: state, keeping the initializer (an unloaded teacher still runs).
      map[n.outputs[0]] = b.state(prefix + n.attrs.s("name"), sub.type(n.outputs[0]), n.attrs.s("init"));
      continue;
    }
    std::vector<ValueId> ins;
    for (ValueId v : n.inputs) ins.push_back(map[v]);
    std::vector<ValueId> outs = b.emit(n.op, ins, n.attrs);
    for (size_t i = 0; i < outs.size(); ++i) map[n.outputs[i]] = outs[i];
  }
  ValueId out = sub.output("logits");
  assert(out != ir::kNoValue);
  return map[out];
}

std::unique_ptr<ir::Graph> build_eval_graph(const ir::Graph& forward, bool with_loss, bool zero_gamma) {
  auto g = forward.clone();
  g->name = forward.name + ".eval";
  resolve_zero_gamma(*g, zero_gamma);
  passes::lower_mode(*g, passes::Mode::Eval);
  ValueId logits = g->output("output");
  g->outputs.clear();
  g->outputs.push_back({"logits", logits});
  if (with_loss) {
    ir::Builder b(*g);
    b.scope = "loss";
    const Shape& s = g->type(logits).shape;
    if (s.size() != 2) throw std::invalid_argument("evaluation needs logits [N, classes], got " + shape_str(s));
    ValueId labels = b.input("labels", {DType::I32, {s[0]}});
    ValueId target = b.emit1(OpKind::OneHot, {labels}, Attrs{{"classes", s[1]}, {"smoothing", 0.0}});
    g->outputs.push_back({"loss", mean_cross_entropy(b, logits, target)});
  }
  return g;
}

}  // namespace acnn
