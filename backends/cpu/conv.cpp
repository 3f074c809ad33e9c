// Convolution forward (with bias), backward data, backward weights, and
// matmul. Convolutions let oneDNN pick the formats of a plain operand
// (format_tag::any) and take blocked operands in the layout they already have,
// so a chain of convolutions keeps one blocked activation format. Grouped
// weights are 5-d (g, O/g, I/g, kh, kw) in oneDNN; their plain form is the
// same bytes as the logical [O, I/g, kh, kw].
#include "backends/cpu/common.h"

namespace acnn::cpu {

using dnnl::algorithm;
using dnnl::prop_kind;

ConvDims conv_dims(const ir::Node& n, const Shape& x, const Shape& w, const Shape& y) {
  auto stride = n.attrs.ints("stride", {1, 1}), pad = n.attrs.ints("pad", {0, 0, 0, 0});
  auto dil = n.attrs.ints("dilation", {1, 1});
  int64_t g = n.attrs.i("groups", 1);
  ConvDims d;
  d.src = to_dims(x);
  d.dst = to_dims(y);
  d.bias = {w[0]};
  if (g > 1)
    d.wei = {g, w[0] / g, w[1], w[2], w[3]};
  else
    d.wei = to_dims(w);
  d.strides = {stride[0], stride[1]};
  d.dilation = {dil[0] - 1, dil[1] - 1};
  d.pad_l = {pad[0], pad[1]};
  d.pad_r = {pad[2], pad[3]};
  return d;
}

dnnl::convolution_forward::primitive_desc fwd_pd(const ConvDims& d, const md_t& src, const md_t& wei, const md_t* bias,
                                                 const md_t& dst, const dnnl::primitive_attr& attr) {
  using D = dnnl::convolution_forward::desc;
  D desc = bias ? D(prop_kind::forward_training, algorithm::convolution_direct, src, wei, *bias, dst, d.strides,
                    d.dilation, d.pad_l, d.pad_r)
                : D(prop_kind::forward_training, algorithm::convolution_direct, src, wei, dst, d.strides, d.dilation,
                    d.pad_l, d.pad_r);
  return dnnl::convolution_forward::primitive_desc(desc, attr, engine());
}

namespace {

std::unique_ptr<Kernel> conv_forward(Compile& c) {
  const ir::Node& n = c.node();
  ConvDims d = conv_dims(n, c.in_shape(0), c.in_shape(1), c.out_shape(0));
  bool has_bias = n.inputs.size() == 3;
  md_t bias = plain_md(d.bias);
  auto pd = fwd_pd(d, c.current_or_any(0, d.src), c.current_or_any(1, d.wei), has_bias ? &bias : nullptr,
                   any_md(d.dst), scratch_attr());
  if (is_ref(pd))  // the formats the operands have rule out the fast kernels: convert instead
    pd = fwd_pd(d, any_md(d.src), any_md(d.wei), has_bias ? &bias : nullptr, any_md(d.dst), scratch_attr());
  c.want_input(0, pd.src_desc());
  c.want_input(1, pd.weights_desc());
  if (has_bias) c.want_input(2, bias);
  c.set_output(0, pd.dst_desc());
  auto k = std::make_unique<OnednnKernel>("conv fwd");
  k->add_primitive(dnnl::convolution_forward(pd), pd);
  k->arg_input(DNNL_ARG_SRC, 0, pd.src_desc());
  k->arg_input(DNNL_ARG_WEIGHTS, 1, pd.weights_desc());
  if (has_bias) k->arg_input(DNNL_ARG_BIAS, 2, pd.bias_desc());
  k->arg_output(DNNL_ARG_DST, 0, pd.dst_desc());
  return k;
}

std::unique_ptr<Kernel> conv_backward_data(Compile& c) {
  const ir::Node& n = c.node();
  Shape x = n.attrs.ints("input_shape");
  ConvDims d = conv_dims(n, x, c.in_shape(1), c.in_shape(0));
  using Bwd = dnnl::convolution_backward_data;
  auto make = [&](const md_t& wei, const md_t& ddst) {
    auto hint = fwd_pd(d, any_md(d.src), wei, nullptr, ddst, dnnl::primitive_attr());
    Bwd::desc desc(algorithm::convolution_direct, any_md(d.src), wei, ddst, d.strides, d.dilation, d.pad_l, d.pad_r);
    return Bwd::primitive_desc(desc, scratch_attr(), engine(), hint);
  };
  // Backward data usually wants the weights in another blocking than the
  // forward (OIhw16o16i vs 16i16o): then they are reordered.
  Bwd::primitive_desc pd = make(c.current_or_any(1, d.wei), c.current_or_any(0, d.dst));
  if (is_ref(pd)) pd = make(any_md(d.wei), any_md(d.dst));
  c.want_input(0, pd.diff_dst_desc());
  c.want_input(1, pd.weights_desc());
  c.set_output(0, pd.diff_src_desc());
  auto k = std::make_unique<OnednnKernel>("conv bwd data");
  k->add_primitive(dnnl::convolution_backward_data(pd), pd);
  k->arg_input(DNNL_ARG_DIFF_DST, 0, pd.diff_dst_desc());
  k->arg_input(DNNL_ARG_WEIGHTS, 1, pd.weights_desc());
  k->arg_output(DNNL_ARG_DIFF_SRC, 0, pd.diff_src_desc());
  return k;
}

std::unique_ptr<Kernel> conv_backward_weights(Compile& c) {
  const ir::Node& n = c.node();
  Shape w = n.attrs.ints("weight_shape");
  ConvDims d = conv_dims(n, c.in_shape(0), w, c.in_shape(1));
  using Bwd = dnnl::convolution_backward_weights;
  auto make = [&](const md_t& src, const md_t& ddst) {
    auto hint = fwd_pd(d, src, any_md(d.wei), nullptr, ddst, dnnl::primitive_attr());
    Bwd::desc desc(algorithm::convolution_direct, src, any_md(d.wei), ddst, d.strides, d.dilation, d.pad_l, d.pad_r);
    return Bwd::primitive_desc(desc, scratch_attr(), engine(), hint);
  };
  Bwd::primitive_desc pd = make(c.current_or_any(0, d.src), c.current_or_any(1, d.dst));
  if (is_ref(pd)) pd = make(any_md(d.src), any_md(d.dst));
  c.want_input(0, pd.src_desc());
  c.want_input(1, pd.diff_dst_desc());
  c.set_output(0, pd.diff_weights_desc());
  auto k = std::make_unique<OnednnKernel>("conv bwd weights");
  k->add_primitive(dnnl::convolution_backward_weights(pd), pd);
  k->arg_input(DNNL_ARG_SRC, 0, pd.src_desc());
  k->arg_input(DNNL_ARG_DIFF_DST, 1, pd.diff_dst_desc());
  k->arg_output(DNNL_ARG_DIFF_WEIGHTS, 0, pd.diff_weights_desc());
  return k;
}

}  // namespace

std::unique_ptr<Kernel> compile_conv(Compile& c) {
  switch (c.node().op) {
    case ir::OpKind::Conv2d: return conv_forward(c);
    case ir::OpKind::Conv2dBackwardData: return conv_backward_data(c);
    case ir::OpKind::Conv2dBackwardWeight: return conv_backward_weights(c);
    default: assert(false); return nullptr;
  }
}

// Matmul on plain matrices; transposed operands are strided views.
std::unique_ptr<Kernel> compile_matmul(Compile& c) {
  const ir::Node& n = c.node();
  const Shape &sa = c.in_shape(0), &sb = c.in_shape(1);
  bool ta = n.attrs.i("transpose_a", 0), tb = n.attrs.i("transpose_b", 0);
  int64_t m = ta ? sa[1] : sa[0], k = ta ? sa[0] : sa[1], nn = tb ? sb[0] : sb[1];
  md_t a(dims_t{m, k}, memory::data_type::f32, ta ? dims_t{1, m} : dims_t{k, 1});
  md_t b(dims_t{k, nn}, memory::data_type::f32, tb ? dims_t{1, k} : dims_t{nn, 1});
  md_t dst = plain_md({m, nn});
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, dst), scratch_attr(), engine());
  c.req.inputs = {nullptr, nullptr};
  c.req.outputs = {nullptr};
  auto kern = std::make_unique<OnednnKernel>("matmul");
  kern->add_primitive(dnnl::matmul(pd), pd);
  kern->arg_input(DNNL_ARG_SRC, 0, a);
  kern->arg_input(DNNL_ARG_WEIGHTS, 1, b);
  kern->arg_output(DNNL_ARG_DST, 0, dst);
  return kern;
}

}  // namespace acnn::cpu
