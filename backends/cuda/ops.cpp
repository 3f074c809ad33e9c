// The kernel factory (make_kernel) and the kernels built on kernels.cu:
// batch-norm statistics and backward sums, reductions, softmax and cross
// entropy, pooling, plus the host fallback.
#include <sstream>
#include <stdexcept>

#include "backends/cuda/kernels.h"
#include "backends/cuda/ops.h"
#include "compiler/ir/op.h"
#include "compiler/ops/common.h"

namespace acnn::cuda {

using ir::OpKind;

namespace {

bool half_or_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }
Format f32_plain() { return Format{DType::F32, DevLayout::Plain}; }

// ---------------------------------------------------------------- batch norm

// Statistics of a training batch norm (its y is computed elementwise), and
// its factors when the unit took them in (bn_with_factors()).
class BnStats final : public DevKernel {
 public:
  BnStats(KernelRequest& r) : dev_(r.dev) {
    const Shape& xs = r.g.type(r.unit.inputs[0]).shape;
    C_ = xs[1];
    M_ = numel(xs) / C_;
    dt_ = r.in[0].dtype;
    eps_ = static_cast<float>(r.g.node(r.unit.nodes[0]).attrs.f("eps", 1e-5));
    factors_ = r.out.size() - 3;
    r.in[0] = Format{dt_, DevLayout::NHWC};
    r.in[1] = f32_plain();
    for (size_t k = 1; k < r.out.size(); ++k) r.out[k] = f32_plain();
  }
  size_t workspace_bytes() const override { return kernels::bn_workspace(M_, C_, dev_.sms); }
  void launch(const std::vector<DevTensor>& in, const std::vector<DevTensor>& out, LaunchCtx& c) override {
    if (out[0].ptr) throw std::logic_error("batch_norm_train: y should have been lowered to elementwise ops");
    kernels::BnFactors f;
    if (factors_ > 0) {
      f.gamma = static_cast<const float*>(in[1].ptr);
      f.eps = eps_;
      f.scale = static_cast<float*>(out[3].ptr);
      f.rstd = factors_ > 1 ? static_cast<float*>(out[4].ptr) : nullptr;
    }
    kernels::bn_stats(dt_, in[0].ptr, M_, C_, static_cast<float*>(out[1].ptr), static_cast<float*>(out[2].ptr), f,
                      c.workspace, dev_.sms, c.stream);
  }
  std::string describe() const override { return factors_ ? "cuda:bn_stats + factors" : "cuda:bn_stats"; }

 private:
  Device& dev_;
  int64_t M_, C_;
  DType dt_;
  float eps_ = 0;
  size_t factors_ = 0;  // 0, 1 (scale) or 2 (scale, rstd)
};

// batch_norm_backward (dy, x, gamma, mean, var) and batch_norm_relu_backward
// (dy, x, gamma, beta, mean, var): the channel sums; dx is elementwise. With
// a prologue (bn_backward_with_prologue()), dy is made here first from
// (a, b, m) and written: inputs a, b, m, x, gamma, mean, var.
class BnBackwardSums final : public DevKernel {
 public:
  BnBackwardSums(KernelRequest& r) : dev_(r.dev) {
    prologue_ = bn_backward_with_prologue(r.g, r.unit);
    const ir::Node& n = r.g.node(r.unit.nodes.back());
    relu_ = n.op == OpKind::BatchNormReluBackward;
    x_ = prologue_ ? 3 : 1;
    const Shape& xs = r.g.type(r.unit.inputs[x_]).shape;
    C_ = xs[1];
    M_ = numel(xs) / C_;
    eps_ = static_cast<float>(n.attrs.f("eps", 1e-5));
    dt_ = r.in[x_].dtype;
    const Format act{dt_, DevLayout::NHWC};
    for (size_t k = 0; k < r.in.size(); ++k) r.in[k] = k <= x_ ? act : f32_plain();
    const size_t sums = r.out.size() - 2;  // dgamma, dbeta
    for (size_t k = 0; k < r.out.size(); ++k) r.out[k] = k >= sums ? f32_plain() : act;
  }
  size_t workspace_bytes() const override { return kernels::bn_workspace(M_, C_, dev_.sms); }
  void launch(const std::vector<DevTensor>& in, const std::vector<DevTensor>& out, LaunchCtx& c) override {
    const size_t dx = prologue_ ? 1 : 0;
    if (out[dx].ptr) throw std::logic_error("batch_norm_backward: dx should have been lowered to elementwise ops");
    auto f32 = [&](size_t k) { return static_cast<const float*>(in[k].ptr); };
    float *dgamma = static_cast<float*>(out[dx + 1].ptr), *dbeta = static_cast<float*>(out[dx + 2].ptr);
    if (prologue_) {
      kernels::bn_backward_sums_add_relu(dt_, in[0].ptr, in[1].ptr, in[2].ptr, out[0].ptr, in[3].ptr, M_, C_, f32(5),
                                         f32(6), eps_, dgamma, dbeta, c.workspace, dev_.sms, c.stream);
      return;
    }
    const size_t mean = relu_ ? 4 : 3;
    kernels::bn_backward_sums(dt_, in[0].ptr, in[1].ptr, M_, C_, f32(mean), f32(mean + 1), eps_, relu_ ? f32(2) : nullptr,
                              relu_ ? f32(3) : nullptr, dgamma, dbeta, c.workspace, dev_.sms, c.stream);
  }
  std::string describe() const override {
    return prologue_ ? "cuda:bn_backward_sums + add relu_backward" : relu_ ? "cuda:bn_relu_backward_sums" : "cuda:bn_backward_sums";
  }

 private:
  Device& dev_;
  int64_t M_, C_;
  float eps_;
  DType dt_;
  bool relu_ = false, prologue_ = false;
  size_t x_ = 1;
};

// ---------------------------------------------------------------- reductions

class ReduceKernel final : public DevKernel {
 public:
  ReduceKernel(KernelRequest& r) : dev_(r.dev) {
    const ir::Node& n = r.g.node(r.unit.nodes[0]);
    kind_ = n.op == OpKind::ReduceSum ? kernels::Reduce::Sum : n.op == OpKind::ReduceMean ? kernels::Reduce::Mean : kernels::Reduce::Max;
    if (!half_or_float(r.in[0].dtype)) r.in[0] = Format{DType::F32, r.in[0].layout};
    dt_ = r.in[0].dtype;
    const Shape& xs = r.g.type(n.inputs[0]).shape;
    const size_t rank = xs.size();
    const DevLayout l = canonical(r.in[0].layout, xs);
    three_ = reduce_runs(xs, n.attrs.ints("axes"), l, &outer_, &R_, &inner_);
    if (!three_) {
      const std::vector<bool> red = reduced_axes(n.attrs.ints("axes"), rank);
      const std::vector<int64_t> st = logical_strides(xs, l);
      for (size_t a = 0; a < rank; ++a) {
        if (xs[a] == 1) continue;
        if (red[a]) {
          if (strided_.nr == 8) throw std::runtime_error("reduce: more than 8 reduced axes");
          strided_.rsize[strided_.nr] = xs[a], strided_.rstride[strided_.nr++] = st[a];
        } else {
          if (strided_.nk == 8) throw std::runtime_error("reduce: more than 8 kept axes");
          strided_.ksize[strided_.nk] = xs[a], strided_.kstride[strided_.nk++] = st[a];
        }
      }
    }
    r.out[0] = f32_plain();
  }
  size_t workspace_bytes() const override { return three_ ? kernels::reduce3_workspace(outer_, R_, inner_, dev_.sms) : 0; }
  void launch(const std::vector<DevTensor>& in, const std::vector<DevTensor>& out, LaunchCtx& c) override {
    if (three_)
      kernels::reduce3(kind_, dt_, in[0].ptr, static_cast<float*>(out[0].ptr), outer_, R_, inner_, c.workspace, dev_.sms,
                       c.stream);
    else
      kernels::reduce_strided(kind_, dt_, in[0].ptr, static_cast<float*>(out[0].ptr), strided_, c.stream);
  }
  std::string describe() const override {
    return three_ ? "cuda:reduce [" + std::to_string(outer_) + "," + std::to_string(R_) + "," + std::to_string(inner_) + "]"
                  : "cuda:reduce_strided";
  }

 private:
  Device& dev_;
  kernels::Reduce kind_;
  DType dt_;
  int64_t outer_, R_, inner_;
  bool three_ = true;
  kernels::StridedReduce strided_;
};

// ---------------------------------------------------------------- softmax family

void axis_split(const Shape& s, int64_t axis, int64_t* outer, int64_t* K, int64_t* inner) {
  int64_t ax;
  ops::normalize_axis(axis, s.size(), &ax);
  *outer = 1, *inner = 1, *K = s[ax];
  for (int64_t a = 0; a < ax; ++a) *outer *= s[a];
  for (size_t a = ax + 1; a < s.size(); ++a) *inner *= s[a];
}

class SoftmaxKernel final : public DevKernel {
 public:
  SoftmaxKernel(KernelRequest& r) {
    const ir::Node& n = r.g.node(r.unit.nodes[0]);
    op_ = n.op;
    const Shape& s = r.g.type(n.inputs[op_ == OpKind::SoftmaxCrossEntropyBackward ? 1 : 0]).shape;
    axis_split(s, n.attrs.i("axis", -1), &outer_, &K_, &inner_);
    for (Format& f : r.in) f = f32_plain();
    r.out[0] = f32_plain();
  }
  void launch(const std::vector<DevTensor>& in, const std::vector<DevTensor>& out, LaunchCtx& c) override {
    auto f = [&](const std::vector<DevTensor>& v, int i) { return static_cast<float*>(v[i].ptr); };
    switch (op_) {
      case OpKind::Softmax:
      case OpKind::LogSoftmax:
        kernels::softmax(op_ == OpKind::LogSoftmax, f(in, 0), f(out, 0), outer_, K_, inner_, c.stream);
        break;
      case OpKind::SoftmaxBackward:
      case OpKind::LogSoftmaxBackward:
        kernels::softmax_backward(op_ == OpKind::LogSoftmaxBackward, f(in, 0), f(in, 1), f(out, 0), outer_, K_, inner_, c.stream);
        break;
      case OpKind::SoftmaxCrossEntropy:
        kernels::softmax_xent(f(in, 0), f(in, 1), f(out, 0), outer_, K_, c.stream);
        break;
      default:
        kernels::softmax_xent_backward(f(in, 0), f(in, 1), f(in, 2), f(out, 0), outer_, K_, c.stream);
        break;
    }
  }
  std::string describe() const override { return std::string("cuda:") + ir::op_name(op_); }

 private:
  OpKind op_;
  int64_t outer_, K_, inner_;
};

// ---------------------------------------------------------------- pooling

class PoolKernel final : public DevKernel {
 public:
  PoolKernel(KernelRequest& r) {
    const ir::Node& n = r.g.node(r.unit.nodes[0]);
    op_ = n.op;
    const bool backward = op_ == OpKind::MaxPool2dBackward || op_ == OpKind::AvgPool2dBackward;
    // x: the pooled tensor ([N,C,H,W]); y: the pooled result.
    Shape xs = op_ == OpKind::MaxPool2dBackward ? r.g.type(n.inputs[1]).shape
               : op_ == OpKind::AvgPool2dBackward ? r.g.type(n.outputs[0]).shape
                                                  : r.g.type(n.inputs[0]).shape;
    Shape ys = backward ? r.g.type(n.inputs[0]).shape : r.g.type(n.outputs[0]).shape;
    auto k = n.attrs.ints("kernel"), s = n.attrs.ints("stride", k), p = n.attrs.ints("pad", {0, 0, 0, 0});
    g_ = kernels::PoolGeom{xs[0], xs[1], xs[2], xs[3], ys[2], ys[3], k[0], k[1], s[0], s[1], p[0], p[1], false,
                           n.attrs.i("count_include_pad", 0) != 0};
    // The layout comes from x (forward, max-pool backward) or from the
    // gradient's destination (avg-pool backward); the other operands follow.
    Format f = op_ == OpKind::MaxPool2dBackward ? r.in[1] : op_ == OpKind::AvgPool2dBackward ? r.out[0] : r.in[0];
    if (!half_or_float(f.dtype)) f.dtype = DType::F32;
    if (op_ == OpKind::AvgPool2dBackward) f.dtype = half_or_float(r.in[0].dtype) ? r.in[0].dtype : DType::F32;
    g_.nhwc = canonical(f.layout, xs) == DevLayout::NHWC;
    f.layout = g_.nhwc ? DevLayout::NHWC : DevLayout::Plain;
    dt_ = f.dtype;
    for (Format& in : r.in) in = f;
    r.out[0] = f;
    if (op_ == OpKind::MaxPool2d && k[0] * k[1] <= 127) argmax_bytes_ = static_cast<size_t>(numel(ys));
    if (op_ == OpKind::MaxPool2dBackward) {
      // The forward of this x with the same geometry keeps the argmax.
      for (ir::NodeId id = 0; id < r.unit.nodes[0]; ++id) {
        const ir::Node& m = r.g.node(id);
        if (m.dead || m.op != OpKind::MaxPool2d || m.inputs[0] != n.inputs[1]) continue;
        if (m.attrs.ints("kernel") != n.attrs.ints("kernel") || m.attrs.ints("stride", k) != s ||
            m.attrs.ints("pad", {0, 0, 0, 0}) != p)
          continue;
        if (auto* fk = dynamic_cast<PoolKernel*>(r.kernel_of ? r.kernel_of(id) : nullptr))
          if (fk->argmax_bytes_ && fk->g_.nhwc == g_.nhwc) forward_ = fk;
      }
    }
  }
  size_t state_bytes() const override { return argmax_bytes_; }
  void bind_state(void* p) override { argmax_ = static_cast<int8_t*>(p); }
  const DevKernel* reads_state_of() const override { return forward_; }
  void launch(const std::vector<DevTensor>& in, const std::vector<DevTensor>& out, LaunchCtx& c) override {
    switch (op_) {
      case OpKind::MaxPool2d: kernels::max_pool(dt_, in[0].ptr, out[0].ptr, argmax_, g_, c.stream); break;
      case OpKind::MaxPool2dBackward:
        kernels::max_pool_backward(dt_, in[0].ptr, in[1].ptr, forward_ ? forward_->argmax_ : nullptr, out[0].ptr, g_, c.stream);
        break;
      case OpKind::AvgPool2d: kernels::avg_pool(dt_, in[0].ptr, out[0].ptr, g_, c.stream); break;
      default: kernels::avg_pool_backward(dt_, in[0].ptr, out[0].ptr, g_, c.stream); break;
    }
  }
  std::string describe() const override {
    return std::string("cuda:") + ir::op_name(op_) + (g_.nhwc ? " nhwc" : " nchw") + (forward_ ? " (saved argmax)" : "");
  }

 private:
  OpKind op_;
  kernels::PoolGeom g_;
  DType dt_;
  size_t argmax_bytes_ = 0;
  int8_t* argmax_ = nullptr;
  PoolKernel* forward_ = nullptr;
};

// ---------------------------------------------------------------- host fallback

class HostFallback final : public DevKernel {
 public:
  HostFallback(KernelRequest& r) : node_(r.g.node(r.unit.nodes[0])) {
    for (size_t i = 0; i < r.in.size(); ++i) {
      const ir::ValueType& t = r.g.type(node_.inputs[i]);
      r.in[i] = Format{t.dtype, DevLayout::Plain};
      in_.emplace_back(t.dtype, t.shape);
    }
    for (size_t i = 0; i < r.out.size(); ++i) {
      const ir::ValueType& t = r.g.type(node_.outputs[i]);
      r.out[i] = Format{t.dtype, DevLayout::Plain};
      out_.emplace_back(t.dtype, t.shape);
    }
  }
  bool host_sync() const override { return true; }
  void launch(const std::vector<DevTensor>& in, const std::vector<DevTensor>& out, LaunchCtx& c) override {
    ACNN_CUDA(cudaStreamSynchronize(c.stream));
    std::vector<const Tensor*> ins;
    std::vector<Tensor*> outs;
    for (size_t i = 0; i < in.size(); ++i) {
      ACNN_CUDA(cudaMemcpy(in_[i].raw(), in[i].ptr, in_[i].bytes(), cudaMemcpyDeviceToHost));
      ins.push_back(&in_[i]);
    }
    for (Tensor& t : out_) outs.push_back(&t);
    ExecContext none;
    ir::op_def(node_.op).ref(node_, ins, outs, c.host ? *c.host : none);
    // On the step's stream (a plain cudaMemcpy from pageable memory may return
    // before the copy lands, and the compute stream does not wait for the
    // legacy stream), then wait: out_ is reused by the next launch.
    for (size_t i = 0; i < out.size(); ++i)
      if (out[i].ptr)
        ACNN_CUDA(cudaMemcpyAsync(out[i].ptr, out_[i].raw(), out_[i].bytes(), cudaMemcpyHostToDevice, c.stream));
    ACNN_CUDA(cudaStreamSynchronize(c.stream));
  }
  std::string describe() const override { return std::string("host:") + ir::op_name(node_.op); }

 private:
  ir::Node node_;
  std::vector<Tensor> in_, out_;
};

}  // namespace

std::unique_ptr<DevKernel> make_host_fallback(KernelRequest& r) {
  const ir::Node& n = r.g.node(r.unit.nodes[0]);
  for (ir::ValueId v : n.inputs)
    if (!is_float(r.g.type(v).dtype) && r.g.type(v).dtype != DType::I32)
      throw std::runtime_error(std::string("the CUDA backend cannot run ") + ir::op_name(n.op) + " on " +
                               dtype_name(r.g.type(v).dtype) + " tensors");
  return std::make_unique<HostFallback>(r);
}

std::unique_ptr<DevKernel> make_kernel(KernelRequest& r) {
  const Unit& u = r.unit;
  if (u.kind != UnitKind::Node) return make_generated(r);
  const ir::Node& n = r.g.node(u.nodes[0]);
  if (gather_op(n.op)) return make_generated(r);
  if (bn_backward_with_prologue(r.g, u)) return std::make_unique<BnBackwardSums>(r);
  auto rank_ok = [&](ir::ValueId v) {
    size_t rk = r.g.type(v).shape.size();
    return rk == 2 || rk == 4;
  };
  switch (n.op) {
    case OpKind::Conv2d:
    case OpKind::Conv2dBackwardData:
    case OpKind::Conv2dBackwardWeight:
      return make_conv(r);
    case OpKind::Matmul:
      return make_matmul(r);
    case OpKind::BatchNormTrain:
      if (rank_ok(n.inputs[0]) && half_or_float(r.in[0].dtype)) return std::make_unique<BnStats>(r);
      break;
    case OpKind::BatchNormBackward:
    case OpKind::BatchNormReluBackward:
      if (rank_ok(n.inputs[1]) && half_or_float(r.in[1].dtype)) return std::make_unique<BnBackwardSums>(r);
      break;
    case OpKind::ReduceSum:
    case OpKind::ReduceMean:
    case OpKind::ReduceMax:
      return std::make_unique<ReduceKernel>(r);
    case OpKind::Softmax:
    case OpKind::LogSoftmax:
    case OpKind::SoftmaxBackward:
    case OpKind::LogSoftmaxBackward:
    case OpKind::SoftmaxCrossEntropy:
    case OpKind::SoftmaxCrossEntropyBackward:
      return std::make_unique<SoftmaxKernel>(r);
    case OpKind::MaxPool2d:
    case OpKind::MaxPool2dBackward:
    case OpKind::AvgPool2d:
    case OpKind::AvgPool2dBackward:
      return std::make_unique<PoolKernel>(r);
    default:
      break;
  }
  return make_host_fallback(r);
}

}  // namespace acnn::cuda
