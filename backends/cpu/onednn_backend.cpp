// The oneDNN backend object: which nodes it takes, dispatch of compilation to
// the family files, and layout conversions (reorders).
#include <cstdio>
#include <cstdlib>

#include "backends/cpu/common.h"
#include "backends/cpu/onednn.h"
#include "compiler/ir/op.h"

namespace acnn {

namespace cpu {
namespace {

bool all_f32(const ir::Graph& g, const ir::Node& n) {
  for (ir::ValueId v : n.inputs)
    if (g.type(v).dtype != DType::F32) return false;
  for (ir::ValueId v : n.outputs)
    if (g.type(v).dtype != DType::F32) return false;
  return true;
}

bool verbose() {
  static bool v = std::getenv("ACNN_VERBOSE") != nullptr;
  return v;
}

class OnednnBackend final : public Backend {
 public:
  std::string name() const override { return "onednn"; }

  bool supports(const ir::Graph& g, const ir::Node& n) const override {
    using ir::OpKind;
    if (n.op == OpKind::Fused) return fused_supported(g, n);
    if (!all_f32(g, n)) return false;
    auto rank = [&](int i) { return g.type(n.inputs[i]).shape.size(); };
    switch (n.op) {
      case OpKind::Neg: case OpKind::Relu: case OpKind::Sigmoid: case OpKind::Tanh: case OpKind::Exp:
      case OpKind::Log: case OpKind::Sqrt: case OpKind::Square: case OpKind::Abs: case OpKind::Scale:
      case OpKind::ReluBackward: case OpKind::SigmoidBackward: case OpKind::TanhBackward:
        return rank(0) <= DNNL_MAX_NDIMS;
      case OpKind::Add: case OpKind::Sub: case OpKind::Mul: case OpKind::Div:
      case OpKind::Maximum: case OpKind::Minimum: case OpKind::Less:
        return binary_supported(g, n) || ew_lowerable(g, n, nullptr);
      case OpKind::ReduceSum: case OpKind::ReduceMean: case OpKind::ReduceMax:
        return rank(0) >= 1 && rank(0) <= DNNL_MAX_NDIMS;
      case OpKind::Conv2d: case OpKind::Conv2dBackwardData: case OpKind::Conv2dBackwardWeight:
      case OpKind::Matmul:
      case OpKind::MaxPool2d: case OpKind::AvgPool2d: case OpKind::MaxPool2dBackward: case OpKind::AvgPool2dBackward:
        return true;
      case OpKind::BatchNormTrain: case OpKind::BatchNormInfer: case OpKind::BatchNormBackward:
        return rank(0) >= 2 && rank(0) <= 5;
      case OpKind::Softmax: case OpKind::LogSoftmax: case OpKind::SoftmaxBackward: case OpKind::LogSoftmaxBackward:
        return rank(0) >= 1;
      case OpKind::Concat: case OpKind::Transpose: case OpKind::Slice:
        return rank(0) >= 1 && rank(0) <= DNNL_MAX_NDIMS;
      case OpKind::Pad: case OpKind::PadBackward:
        return true;
      case OpKind::BroadcastTo:
        return ew_lowerable(g, n, nullptr);
      case OpKind::Fused:
        return fused_supported(g, n);
      default: return false;
    }
  }

  std::unique_ptr<Kernel> compile(CompileRequest& req) override {
    using ir::OpKind;
    Compile c{*this, req};
    try {
      switch (req.node.op) {
        case OpKind::Conv2d: case OpKind::Conv2dBackwardData: case OpKind::Conv2dBackwardWeight:
          return compile_conv(c);
        case OpKind::Matmul: return compile_matmul(c);
        case OpKind::BatchNormTrain: case OpKind::BatchNormInfer: case OpKind::BatchNormBackward:
          return compile_norm(c);
        case OpKind::MaxPool2d: case OpKind::AvgPool2d: case OpKind::MaxPool2dBackward: case OpKind::AvgPool2dBackward:
          return compile_pool(c);
        case OpKind::Add: case OpKind::Sub: case OpKind::Mul: case OpKind::Div:
        case OpKind::Maximum: case OpKind::Minimum: case OpKind::Less:
          if (binary_supported(req.graph, req.node)) {
            const std::vector<LayoutPtr> given = req.inputs;
            if (auto k = compile_binary(c)) return k;
            req.inputs = given;
          }
          return compile_ew_node(c);
        case OpKind::Softmax: case OpKind::LogSoftmax: case OpKind::SoftmaxBackward: case OpKind::LogSoftmaxBackward:
          return compile_softmax(c);
        case OpKind::ReduceSum: case OpKind::ReduceMean: case OpKind::ReduceMax: {
          const std::vector<LayoutPtr> given = req.inputs;
          try {
            if (auto k = compile_reduce(c)) return k;
          } catch (const dnnl::error&) {
          }
          req.inputs = given;  // no fast oneDNN reduction: the elementwise kernel's
          for (LayoutPtr& l : req.outputs) l = nullptr;
          return ew_lowerable(req.graph, req.node, nullptr) ? compile_ew_node(c) : nullptr;
        }
        case OpKind::Fused:
          return compile_fused(c);
        case OpKind::Slice:
          if (auto k = compile_native_slice(c)) return k;
          return compile_movement(c);
        case OpKind::Concat: case OpKind::Transpose:
          return compile_movement(c);
        case OpKind::Pad: case OpKind::PadBackward:
          return compile_pad(c);
        case OpKind::BroadcastTo:
          return compile_ew_node(c);
        default:
          return compile_eltwise(c);
      }
    } catch (const dnnl::error& e) {
      // No implementation for this configuration: the next backend takes it.
      if (verbose())
        std::fprintf(stderr, "acnn: onednn declines %s: %s\n", ir::op_name(req.node.op), e.what());
      return nullptr;
    }
  }

  std::unique_ptr<Kernel> convert(const ir::ValueType& t, const LayoutPtr& from, const LayoutPtr& to) override {
    if (t.dtype != DType::F32) return nullptr;
    auto* f = dynamic_cast<const OnednnLayout*>(from.get());
    auto* d = dynamic_cast<const OnednnLayout*>(to.get());
    if ((from && !f) || (to && !d) || (!f && !d)) return nullptr;
    if (f && d && f->md().dims() != d->md().dims()) return nullptr;  // e.g. grouped 5-d weights vs 4-d
    md_t fm = f ? f->md() : plain_md(d->md().dims());
    md_t tm = d ? d->md() : plain_md(f->md().dims());
    return make_reorder(fm, tm, "reorder " + format_name(fm) + "->" + format_name(tm));
  }
};

}  // namespace
}  // namespace cpu

std::unique_ptr<Backend> make_onednn_backend() { return std::make_unique<cpu::OnednnBackend>(); }

}  // namespace acnn
