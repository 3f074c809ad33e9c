// Elementwise ops: one-input activations (eltwise primitive, in whatever layout
// the input has, so they never force a reorder), the activations' backward
// forms, and two-input binary ops with numpy broadcasting (binary primitive).
// oneDNN 2.6 broadcasts only its second source: an op whose first operand is
// the broadcast one is swapped when it commutes and otherwise left to the
// reference backend. A full-size second operand is asked for in the first's
// layout; a broadcast one stays plain when the first's descriptor has the
// logical dims (activations), and must be a single element otherwise (grouped
// 5-d weights).
#include "backends/cpu/common.h"

namespace acnn::cpu {

namespace {

using dnnl::algorithm;
using dnnl::prop_kind;
using EltFwd = dnnl::eltwise_forward;
using EltBwd = dnnl::eltwise_backward;

struct EltSpec {
  algorithm alg;
  float alpha = 0, beta = 0;
  const char* name;
};

EltSpec spec_of(const ir::Node& n) {
  using ir::OpKind;
  switch (n.op) {
    case OpKind::Neg: return {algorithm::eltwise_linear, -1.f, 0.f, "neg"};
    case OpKind::Relu: return {algorithm::eltwise_relu, 0.f, 0.f, "relu"};
    case OpKind::Sigmoid: return {algorithm::eltwise_logistic, 0.f, 0.f, "sigmoid"};
    case OpKind::Tanh: return {algorithm::eltwise_tanh, 0.f, 0.f, "tanh"};
    case OpKind::Exp: return {algorithm::eltwise_exp, 0.f, 0.f, "exp"};
    case OpKind::Log: return {algorithm::eltwise_log, 0.f, 0.f, "log"};
    case OpKind::Sqrt: return {algorithm::eltwise_sqrt, 0.f, 0.f, "sqrt"};
    case OpKind::Square: return {algorithm::eltwise_square, 0.f, 0.f, "square"};
    case OpKind::Abs: return {algorithm::eltwise_abs, 0.f, 0.f, "abs"};
    case OpKind::Scale:
      return {algorithm::eltwise_linear, static_cast<float>(n.attrs.f("alpha", 1.0)),
              static_cast<float>(n.attrs.f("beta", 0.0)), "scale"};
    case OpKind::ReluBackward: return {algorithm::eltwise_relu, 0.f, 0.f, "relu bwd"};
    case OpKind::SigmoidBackward: return {algorithm::eltwise_logistic_use_dst_for_bwd, 0.f, 0.f, "sigmoid bwd"};
    case OpKind::TanhBackward: return {algorithm::eltwise_tanh_use_dst_for_bwd, 0.f, 0.f, "tanh bwd"};
    default: assert(false); return {algorithm::undef, 0, 0, "?"};
  }
}

std::unique_ptr<Kernel> eltwise_forward(Compile& c, const EltSpec& s) {
  md_t data = c.current_any(0, to_dims(c.in_shape(0))), flat = flat_if_dense(data);
  EltFwd::primitive_desc pd(EltFwd::desc(prop_kind::forward_training, s.alg, flat, s.alpha, s.beta), scratch_attr(),
                            engine());
  c.want_input(0, data);
  c.set_output(0, data);
  auto k = std::make_unique<OnednnKernel>(s.name);
  k->add_primitive(EltFwd(pd), pd);
  k->arg_input(DNNL_ARG_SRC, 0, flat);
  k->arg_output(DNNL_ARG_DST, 0, flat);
  k->allow_inplace(0);
  return k;
}

// (dy, x) for relu, (dy, y) for sigmoid and tanh.
std::unique_ptr<Kernel> eltwise_backward(Compile& c, const EltSpec& s) {
  dims_t d = to_dims(c.in_shape(0));
  const md_t* a = c.in_md_any(1);
  const md_t* b = c.in_md_any(0);
  md_t data = a ? *a : b ? *b : plain_md(d), flat = flat_if_dense(data);
  bool use_dst = s.alg != algorithm::eltwise_relu;
  EltFwd::primitive_desc hint(EltFwd::desc(prop_kind::forward_training, s.alg, flat, s.alpha, s.beta), engine());
  EltBwd::primitive_desc pd(EltBwd::desc(s.alg, flat, flat, s.alpha, s.beta), scratch_attr(), engine(), hint);
  c.want_input(0, data);
  c.want_input(1, data);
  c.set_output(0, data);
  auto k = std::make_unique<OnednnKernel>(s.name);
  k->add_primitive(EltBwd(pd), pd);
  k->arg_input(DNNL_ARG_DIFF_DST, 0, flat);
  k->arg_input(use_dst ? DNNL_ARG_DST : DNNL_ARG_SRC, 1, flat);
  k->arg_output(DNNL_ARG_DIFF_SRC, 0, flat);
  k->allow_inplace(0);  // diff_src over diff_dst
  return k;
}

// ---------------------------------------------------------------- binary

bool commutes(ir::OpKind k) {
  return k == ir::OpKind::Add || k == ir::OpKind::Mul || k == ir::OpKind::Maximum || k == ir::OpKind::Minimum;
}

algorithm binary_alg(ir::OpKind k) {
  using ir::OpKind;
  switch (k) {
    case OpKind::Add: return algorithm::binary_add;
    case OpKind::Sub: return algorithm::binary_sub;
    case OpKind::Mul: return algorithm::binary_mul;
    case OpKind::Div: return algorithm::binary_div;
    case OpKind::Maximum: return algorithm::binary_max;
    case OpKind::Minimum: return algorithm::binary_min;
    case OpKind::Less: return algorithm::binary_lt;
    default: assert(false); return algorithm::undef;
  }
}

// Dims of `s` right-aligned to `rank` (numpy broadcasting).
dims_t padded(const Shape& s, size_t rank) {
  dims_t d(rank, 1);
  for (size_t i = 0; i < s.size(); ++i) d[rank - s.size() + i] = s[i];
  return d;
}

// Which input is oneDNN's src0 (the full-size one); -1 if neither may be.
int first_operand(const ir::Graph& g, const ir::Node& n) {
  const Shape& out = g.type(n.outputs[0]).shape;
  if (g.type(n.inputs[0]).shape == out) return 0;
  if (g.type(n.inputs[1]).shape == out && commutes(n.op)) return 1;
  return -1;
}

std::unique_ptr<Kernel> binary(Compile& c) {
  const ir::Node& n = c.node();
  int i0 = first_operand(c.g(), n), i1 = 1 - i0;
  const Shape& out = c.out_shape(0);
  dims_t d0 = to_dims(out);
  const Shape& s1 = c.in_shape(i1);
  const md_t* l0 = c.in_md_any(i0);
  const md_t* l1 = s1 == out ? c.in_md_any(i1) : nullptr;
  md_t src0 = l0 ? *l0 : l1 ? *l1 : plain_md(d0);  // a full-size operand's blocked layout wins
  md_t src1;
  if (s1 == out) {
    src1 = src0;  // same layout as the first operand
  } else if (src0.dims() == d0) {
    src1 = plain_md(padded(s1, d0.size()));
  } else if (numel(s1) == 1) {
    src1 = plain_md(dims_t(src0.dims().size(), 1));
  } else {
    src0 = plain_md(d0);  // broadcasting against an odd blocked layout: use plain
    src1 = plain_md(padded(s1, d0.size()));
  }
  // Same-layout operands, or a single-element second one: a flat vector.
  md_t x0 = src0, x1 = src1;
  bool same = s1 == out;
  if (same || numel(s1) == 1) {
    x0 = flat_if_dense(src0);
    if (x0 != src0) x1 = same ? x0 : plain_md({1});
  }
  dnnl::binary::primitive_desc pd(dnnl::binary::desc(binary_alg(n.op), x0, x1, x0), scratch_attr(), engine());
  if (is_ref(pd)) return nullptr;  // e.g. a [1,C,H,W] mask over a blocked batch: the elementwise kernels do it
  c.want_input(i0, src0);
  c.want_input(i1, src1);
  c.set_output(0, src0);
  auto k = std::make_unique<OnednnKernel>(std::string(ir::op_name(n.op)));
  k->add_primitive(dnnl::binary(pd), pd);
  k->arg_input(DNNL_ARG_SRC_0, i0, x0);
  k->arg_input(DNNL_ARG_SRC_1, i1, x1);
  k->arg_output(DNNL_ARG_DST, 0, x0);
  k->allow_inplace(i0);  // dst over src0 (same layout)
  return k;
}

}  // namespace

bool binary_supported(const ir::Graph& g, const ir::Node& n) {
  return first_operand(g, n) >= 0 && g.type(n.outputs[0]).shape.size() <= DNNL_MAX_NDIMS;
}

std::unique_ptr<Kernel> compile_binary(Compile& c) { return binary(c); }

std::unique_ptr<Kernel> compile_eltwise(Compile& c) {
  EltSpec s = spec_of(c.node());
  switch (c.node().op) {
    case ir::OpKind::ReluBackward:
    case ir::OpKind::SigmoidBackward:
    case ir::OpKind::TanhBackward: return eltwise_backward(c, s);
    default: return eltwise_forward(c, s);
  }
}

}  // namespace acnn::cpu
