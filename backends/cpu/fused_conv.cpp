// placeholder, replaced below
#include "backends/cpu/common.h"
namespace acnn::cpu {
bool conv_fusable(const ir::Graph&, const ir::Node&) { return false; }
std::unique_ptr<Kernel> compile_fused_conv(Compile&) { return nullptr; }
bool bn_fusable(const ir::Graph&, const ir::Node&) { return false; }
std::unique_ptr<Kernel> compile_fused_bn(Compile&) { return nullptr; }
bool bn_backward_fusable(const ir::Graph&, const ir::Node&) { return false; }
std::unique_ptr<Kernel> compile_fused_bn_backward(Compile&) { return nullptr; }
}  // namespace acnn::cpu
