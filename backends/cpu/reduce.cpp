// Reductions (sum, mean, max over a set of axes; the reduction primitive,
// reading the input in whatever layout it has, e.g. a global average pool of a
// blocked activation, and writing a plain result whose keepdims form has the
// same bytes as the squeezed one) and data movement: concat (in the inputs'
// layouts, output format chosen by oneDNN), transpose and slice (reorders
// between a strided or offset view of the plain input and a plain output).
#include "backends/cpu/common.h"
#include "compiler/ops/common.h"

namespace acnn::cpu {

namespace {

// A reduction over the two spatial axes of [N,C,H,W] (global pooling) as a
// pooling primitive in the input's layout, then a reorder of the small
// [N,C,1,1] result to plain that also scales it (by H*W for a sum).
std::unique_ptr<Kernel> global_pool(Compile& c, const dims_t& src_d) {
  using ir::OpKind;
  const ir::Node& n = c.node();
  md_t src = c.current(0, src_d);
  dims_t dst_d{src_d[0], src_d[1], 1, 1};
  bool max = n.op == OpKind::ReduceMax;
  using PoolFwd = dnnl::pooling_forward;
  PoolFwd::primitive_desc pool(
      PoolFwd::desc(dnnl::prop_kind::forward_inference,
                    max ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding, src,
                    same_format(src, dst_d), {1, 1}, {src_d[2], src_d[3]}, {0, 0}, {0, 0}),
      scratch_attr(), engine());
  dnnl::primitive_attr attr = scratch_attr();
  attr.set_output_scales(0, {n.op == OpKind::ReduceSum ? static_cast<float>(src_d[2] * src_d[3]) : 1.f});
  dnnl::reorder::primitive_desc to_plain(engine(), pool.dst_desc(), engine(), plain_md(dst_d), attr);
  c.want_input(0, src);
  c.req.outputs = {nullptr};
  auto k = std::make_unique<OnednnKernel>(std::string(ir::op_name(n.op)) + " (global pool)");
  k->add_primitive(PoolFwd(pool), pool);
  k->arg_input(DNNL_ARG_SRC, 0, src);
  void* tmp = k->arg_owned(DNNL_ARG_DST, pool.dst_desc());
  k->add_primitive(dnnl::reorder(to_plain), to_plain);
  k->arg_fixed(DNNL_ARG_FROM, pool.dst_desc(), tmp);
  k->arg_output(DNNL_ARG_TO, 0, plain_md(dst_d));
  return k;
}

}  // namespace

// oneDNN 2.6's reduction primitive has fast kernels only for some shapes;
// where it would run its reference code the node is declined (the reference
// backend's loop is as good and needs no reorder).
std::unique_ptr<Kernel> compile_reduce(Compile& c) {
  using ir::OpKind;
  const ir::Node& n = c.node();
  const Shape& s = c.in_shape(0);
  dims_t src_d = to_dims(s), dst_d = src_d;
  std::vector<bool> reduced(s.size(), false);
  for (int64_t a : n.attrs.ints("axes")) {
    int64_t ax;
    if (!ops::normalize_axis(a, s.size(), &ax)) return nullptr;
    dst_d[ax] = 1;
    reduced[ax] = true;
  }
  if (src_d == dst_d) return nullptr;  // nothing reduced: a copy, left to the reference
  if (s.size() == 4 && !reduced[0] && !reduced[1] && reduced[2] && reduced[3]) return global_pool(c, src_d);
  dnnl::algorithm alg = n.op == OpKind::ReduceSum    ? dnnl::algorithm::reduction_sum
                        : n.op == OpKind::ReduceMean ? dnnl::algorithm::reduction_mean
                                                     : dnnl::algorithm::reduction_max;
  md_t src = c.current(0, src_d), dst = plain_md(dst_d);
  dnnl::reduction::primitive_desc pd(dnnl::reduction::desc(alg, src, dst, 0.f, 0.f), scratch_attr(), engine());
  if (is_ref(pd) && !is_plain(src))  // try the plain layout before giving up
    pd = dnnl::reduction::primitive_desc(dnnl::reduction::desc(alg, src = plain_md(src_d), dst, 0.f, 0.f),
                                         scratch_attr(), engine());
  if (is_ref(pd)) return nullptr;
  c.want_input(0, src);
  c.req.outputs = {nullptr};
  auto k = std::make_unique<OnednnKernel>(ir::op_name(n.op));
  k->add_primitive(dnnl::reduction(pd), pd);
  k->arg_input(DNNL_ARG_SRC, 0, src);
  k->arg_output(DNNL_ARG_DST, 0, dst);
  return k;
}

namespace {

std::unique_ptr<Kernel> concat(Compile& c) {
  const ir::Node& n = c.node();
  int64_t axis;
  if (!ops::normalize_axis(n.attrs.i("axis", 1), c.in_shape(0).size(), &axis)) return nullptr;
  if (n.inputs.size() == 1) return nullptr;
  std::vector<md_t> srcs;
  for (size_t i = 0; i < n.inputs.size(); ++i) srcs.push_back(c.current(static_cast<int>(i), to_dims(c.in_shape(i))));
  dnnl::concat::primitive_desc pd(any_md(to_dims(c.out_shape(0))), static_cast<int>(axis), srcs, engine(),
                                  scratch_attr());
  auto k = std::make_unique<OnednnKernel>("concat");
  k->add_primitive(dnnl::concat(pd), pd);
  for (size_t i = 0; i < srcs.size(); ++i) {
    c.want_input(static_cast<int>(i), srcs[i]);
    k->arg_input(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), static_cast<int>(i), srcs[i]);
  }
  c.set_output(0, pd.dst_desc());
  k->arg_output(DNNL_ARG_DST, 0, pd.dst_desc());
  return k;
}

std::unique_ptr<Kernel> transpose(Compile& c) {
  const Shape& in = c.in_shape(0);
  std::vector<int64_t> perm = c.node().attrs.ints("perm");
  std::vector<int64_t> st = ops::strides_of(in);
  dims_t out_d = to_dims(c.out_shape(0)), view_strides(in.size());
  for (size_t k = 0; k < in.size(); ++k) view_strides[k] = st[perm[k]];
  if (in.empty()) return nullptr;
  md_t view(out_d, memory::data_type::f32, view_strides);
  c.req.inputs = {nullptr};
  c.req.outputs = {nullptr};
  return make_reorder(view, plain_md(out_d), "transpose");
}

std::unique_ptr<Kernel> slice(Compile& c) {
  const ir::Node& n = c.node();
  const Shape& in = c.in_shape(0);
  int64_t axis;
  if (!ops::normalize_axis(n.attrs.i("axis"), in.size(), &axis)) return nullptr;
  dims_t offsets(in.size(), 0);
  offsets[axis] = n.attrs.i("begin");
  dims_t out_d = to_dims(c.out_shape(0));
  md_t view = plain_md(to_dims(in)).submemory_desc(out_d, offsets);
  c.req.inputs = {nullptr};
  c.req.outputs = {nullptr};
  return make_reorder(view, plain_md(out_d), "slice");
}

}  // namespace

std::unique_ptr<Kernel> compile_movement(Compile& c) {
  switch (c.node().op) {
    case ir::OpKind::Concat: return concat(c);
    case ir::OpKind::Transpose: return transpose(c);
    case ir::OpKind::Slice: return slice(c);
    default: assert(false); return nullptr;
  }
}

}  // namespace acnn::cpu
