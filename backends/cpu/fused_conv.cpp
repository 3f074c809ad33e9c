// The "conv" fused kind as one oneDNN convolution with post-ops: the bias
// (the conv's own, or a per-channel add that follows it) is the primitive's
// bias; batch_norm_infer becomes a per-channel multiply and add (binary
// post-ops, scale = gamma / sqrt(var + eps) and shift = beta - mean * scale
// computed from the operands each run: C values); relus are eltwise post-ops;
// the residual add is a binary post-op reading the residual in the
// convolution's output layout, or, where oneDNN has no fast kernel for that,
// a sum post-op over an output pre-filled with the residual (no copy when the
// executor gives the output the residual's buffer: in-place reuse).
#include <cmath>
#include <cstring>

#include "backends/cpu/common.h"
#include "backends/cpu/fused_match.h"

namespace acnn::cpu {

namespace {

using dnnl::algorithm;

class FusedConvKernel final : public Kernel {
 public:
  FusedConvKernel(std::unique_ptr<OnednnKernel> prim, const ConvMatch& m, int64_t channels, bool sum, size_t dst_bytes)
      : prim_(std::move(prim)), m_(m), c_(channels), sum_(sum), dst_bytes_(dst_bytes) {}

  void set_bn_buffers(float* scale, float* shift) { scale_ = scale, shift_ = shift; }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, ExecContext& ctx) override {
    if (m_.gamma >= 0) {
      const float *g = in[m_.gamma]->data<float>(), *b = in[m_.beta]->data<float>();
      const float *mu = in[m_.mean]->data<float>(), *var = in[m_.var]->data<float>();
      const float eps = static_cast<float>(m_.eps);
      for (int64_t c = 0; c < c_; ++c) {
        scale_[c] = g[c] / std::sqrt(var[c] + eps);
        shift_[c] = b[c] - mu[c] * scale_[c];
      }
    }
    if (sum_ && out[0]->raw() != in[m_.residual]->raw())
      std::memcpy(out[0]->raw(), in[m_.residual]->raw(), dst_bytes_);
    prim_->run(in, out, ctx);
  }
  std::string describe() const override { return prim_->describe(); }
  size_t scratch_bytes() const override { return prim_->scratch_bytes(); }
  void bind_scratch(void* s) override { prim_->bind_scratch(s); }
  // Only the sum post-op may share the residual's buffer: oneDNN convolutions
  // can write partial sums to dst before the post-ops run (input-channel
  // blocking), so a binary-add post-op or a binary primitive after the conv
  // would read a residual already overwritten.
  bool can_overwrite_input(int i) const override { return sum_ && i == m_.residual; }

 private:
  std::unique_ptr<OnednnKernel> prim_;
  ConvMatch m_;
  int64_t c_;
  bool sum_;
  size_t dst_bytes_;
  float *scale_ = nullptr, *shift_ = nullptr;
};

}  // namespace

bool conv_fusable(const ir::Graph& g, const ir::Node& n) {
  ConvMatch m;
  return match_conv(g, n, &m);
}

std::unique_ptr<Kernel> compile_fused_conv(Compile& c) {
  ConvMatch m;
  if (!match_conv(c.g(), c.node(), &m)) return nullptr;
  const ir::Graph& body = *c.node().body;
  const ir::Node& conv = *m.conv;
  const Shape& xs = body.type(conv.inputs[0]).shape;
  const Shape& ws = body.type(conv.inputs[1]).shape;
  const Shape& ys = body.type(conv.outputs[0]).shape;
  ConvDims d = conv_dims(conv, xs, ws, ys);
  const int64_t C = ys[1];
  md_t bias = plain_md({C}), chan = plain_md({1, C, 1, 1});

  // Post-ops. Residual: 0 none (the convolution stops before it), 1 a binary
  // add reading `res` (a defined layout), 2 a sum into the pre-filled output.
  auto attr_for = [&](int residual, const md_t* res) {
    dnnl::post_ops po;
    if (m.gamma >= 0) {
      po.append_binary(algorithm::binary_mul, chan);
      po.append_binary(algorithm::binary_add, chan);
    }
    if (m.relu1) po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
    if (residual == 1) po.append_binary(algorithm::binary_add, *res);
    if (residual == 2) po.append_sum(1.f);
    if (residual && m.relu2) po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
    dnnl::primitive_attr a = scratch_attr();
    a.set_post_ops(po);
    return a;
  };
  const md_t* bias_md = m.bias >= 0 ? &bias : nullptr;
  // Formats first without the residual (it is read in the output's format).
  auto pd = fwd_pd(d, c.current_or_any(m.x, d.src), c.current_or_any(m.w, d.wei), bias_md, any_md(d.dst), attr_for(0, nullptr));
  if (is_ref(pd)) pd = fwd_pd(d, any_md(d.src), any_md(d.wei), bias_md, any_md(d.dst), attr_for(0, nullptr));
  int residual = 0;  // how the convolution applies the residual (0: a binary primitive after it)
  if (m.residual >= 0) {
    md_t dst = pd.dst_desc();
    for (int mode : {1, 2}) {
      try {
        auto full = fwd_pd(d, pd.src_desc(), pd.weights_desc(), bias_md, dst, attr_for(mode, &dst));
        if (is_ref(full)) continue;
        pd = full, residual = mode;
        break;
      } catch (const dnnl::error&) {
      }
    }
  }
  for (LayoutPtr& l : c.req.inputs) l = nullptr;
  c.want_input(m.x, pd.src_desc());
  c.want_input(m.w, pd.weights_desc());
  if (m.residual >= 0) c.want_input(m.residual, pd.dst_desc());
  c.set_output(0, pd.dst_desc());

  std::string what = "conv fwd";
  if (m.gamma >= 0) what += "+bn";
  if (m.relu1) what += "+relu";
  if (m.residual >= 0) what += residual == 2 ? "+sum" : residual == 1 ? "+add" : ", add";
  if (m.relu2) what += "+relu";
  auto k = std::make_unique<OnednnKernel>(what);
  k->add_primitive(dnnl::convolution_forward(pd), pd);
  k->arg_input(DNNL_ARG_SRC, m.x, pd.src_desc());
  k->arg_input(DNNL_ARG_WEIGHTS, m.w, pd.weights_desc());
  if (m.bias >= 0) k->arg_input(DNNL_ARG_BIAS, m.bias, bias);
  k->arg_output(DNNL_ARG_DST, 0, pd.dst_desc());
  float *scale = nullptr, *shift = nullptr;
  int idx = 0;
  if (m.gamma >= 0) {
    scale = static_cast<float*>(k->arg_owned(DNNL_ARG_ATTR_MULTIPLE_POST_OP(idx++) | DNNL_ARG_SRC_1, chan));
    shift = static_cast<float*>(k->arg_owned(DNNL_ARG_ATTR_MULTIPLE_POST_OP(idx++) | DNNL_ARG_SRC_1, chan));
  }
  if (m.relu1) ++idx;
  if (residual == 1) k->arg_input(DNNL_ARG_ATTR_MULTIPLE_POST_OP(idx) | DNNL_ARG_SRC_1, m.residual, pd.dst_desc());
  if (m.residual >= 0 && residual == 0) {
    // The residual add (and relu) as a binary primitive over the output, in place.
    md_t flat = flat_if_dense(pd.dst_desc());
    dnnl::primitive_attr a = scratch_attr();
    if (m.relu2) {
      dnnl::post_ops po;
      po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
      a.set_post_ops(po);
    }
    dnnl::binary::primitive_desc add(dnnl::binary::desc(algorithm::binary_add, flat, flat, flat), a, engine());
    k->add_primitive(dnnl::binary(add), add);
    k->arg_output(DNNL_ARG_SRC_0, 0, flat);
    k->arg_input(DNNL_ARG_SRC_1, m.residual, flat);
    k->arg_output(DNNL_ARG_DST, 0, flat);
  }
  auto fk = std::make_unique<FusedConvKernel>(std::move(k), m, C, residual == 2, pd.dst_desc().get_size());
  fk->set_bn_buffers(scale, shift);
  return fk;
}

}  // namespace acnn::cpu
