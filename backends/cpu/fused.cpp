// Fused nodes on the oneDNN backend: dispatch by the node's `kind` to the
// kind's kernel (fused_conv.cpp, fused_norm.cpp, fused_optimizer.cpp), with
// the elementwise kernel (ew_kernel.cpp) for "elementwise" bodies and as the
// fallback of any body it can lower. A fused node no kernel here takes is
// expanded back into its body by the executor (so it runs op by op on the
// fast kernels rather than on the reference backend).
#include "backends/cpu/common.h"

namespace acnn::cpu {

bool optimizer_supported(const ir::Graph& g, const ir::Node& n);
std::unique_ptr<Kernel> compile_fused_optimizer(Compile& c);
bool conv_fusable(const ir::Graph& g, const ir::Node& n);
std::unique_ptr<Kernel> compile_fused_conv(Compile& c);
bool bn_fusable(const ir::Graph& g, const ir::Node& n);
std::unique_ptr<Kernel> compile_fused_bn(Compile& c);
bool bn_backward_fusable(const ir::Graph& g, const ir::Node& n);
std::unique_ptr<Kernel> compile_fused_bn_backward(Compile& c);

bool fused_supported(const ir::Graph& g, const ir::Node& n) {
  if (!n.body) return false;
  const std::string& kind = n.attrs.s("kind");
  if (kind == "conv" && conv_fusable(g, n)) return true;
  if (kind == "batchnorm" && bn_fusable(g, n)) return true;
  if (kind == "batchnorm_backward" && bn_backward_fusable(g, n)) return true;
  if (kind == "optimizer" && optimizer_supported(g, n)) return true;
  return ew_lowerable(g, n, nullptr);
}

std::unique_ptr<Kernel> compile_fused(Compile& c) {
  const ir::Node& n = c.node();
  const std::string& kind = n.attrs.s("kind");
  const std::vector<LayoutPtr> given = c.req.inputs;
  std::unique_ptr<Kernel> k;
  if (kind == "conv" && conv_fusable(c.g(), n)) k = compile_fused_conv(c);
  else if (kind == "batchnorm" && bn_fusable(c.g(), n)) k = compile_fused_bn(c);
  else if (kind == "batchnorm_backward" && bn_backward_fusable(c.g(), n)) k = compile_fused_bn_backward(c);
  else if (kind == "optimizer" && optimizer_supported(c.g(), n)) k = compile_fused_optimizer(c);
  if (!k && ew_lowerable(c.g(), n, nullptr)) {
    c.req.inputs = given;
    for (LayoutPtr& l : c.req.outputs) l = nullptr;
    std::string label = n.attrs.s("label");
    k = compile_ew(c, *n.body, (kind.empty() ? "fused" : kind) + (label.empty() || label == kind ? "" : " " + label));
  }
  return k;
}

}  // namespace acnn::cpu
