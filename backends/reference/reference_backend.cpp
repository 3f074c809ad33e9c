// The reference backend: every node runs its op's reference kernel (ref_<Op>
// in compiler/ops/) on plain tensors. It supports every op, so the executor
// can always fall back to it; it never asks for a non-plain layout.
#include <cassert>

#include "backends/backend.h"
#include "compiler/ir/op.h"

namespace acnn {

namespace {

class ReferenceKernel final : public Kernel {
 public:
  explicit ReferenceKernel(const ir::Node& node) : node_(node), fn_(ir::op_def(node.op).ref) {}
  void run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs,
           ExecContext& ctx) override {
    for ([[maybe_unused]] const Tensor* t : inputs) assert(t->layout() == Layout::Plain);
    fn_(node_, inputs, outputs, ctx);
  }
  std::string describe() const override { return std::string("ref:") + ir::op_name(node_.op); }
  // Elementwise kernels read element i of each operand before writing element
  // i; a fused body is computed into temporaries and copied out at the end.
  bool can_overwrite_input(int) const override { return ir::is_elementwise(node_.op) || node_.op == ir::OpKind::Fused; }

 private:
  ir::Node node_;
  ir::RefFn fn_;
};

class ReferenceBackend final : public Backend {
 public:
  std::string name() const override { return "reference"; }
  bool supports(const ir::Graph&, const ir::Node& node) const override { return ir::op_def(node.op).ref != nullptr; }
  std::unique_ptr<Kernel> compile(CompileRequest& req) override {
    for (LayoutPtr& l : req.inputs) l = nullptr;
    for (LayoutPtr& l : req.outputs) l = nullptr;
    return std::make_unique<ReferenceKernel>(req.node);
  }
};

}  // namespace

std::unique_ptr<Backend> make_reference_backend() { return std::make_unique<ReferenceBackend>(); }

}  // namespace acnn
