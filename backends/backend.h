// The backend interface. A backend says which nodes it supports and compiles
// each supported node into a Kernel once, ahead of execution; the executor runs
// kernels in plan order. Nodes a backend does not support run on the reference
// backend, so a new op works everywhere at once and gets fast where a backend
// takes it over. Layouts are negotiated at compile time: the executor tells
// compile() the physical layout each input currently has (PhysicalLayout, null
// = Layout::Plain), the backend answers with the layout it wants each input in
// and the layout it writes each output in, and the executor inserts conversion
// kernels (made by the backend that owns the non-plain layout) where they
// differ. Reference kernels only ever see plain tensors.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "runtime/tensor.h"

namespace acnn {

class Backend;

// A backend-specific physical layout of one value (e.g. oneDNN's nChw16c).
// Values in such a layout are Tensors with Layout::Backend whose storage holds
// bytes() bytes; only the owning backend interprets them.
class PhysicalLayout {
 public:
  virtual ~PhysicalLayout() = default;
  virtual const Backend& owner() const = 0;
  virtual size_t bytes() const = 0;
  virtual std::string describe() const = 0;  // "nChw16c"
  virtual bool same_as(const PhysicalLayout& other) const = 0;
};
using LayoutPtr = std::shared_ptr<const PhysicalLayout>;  // null: Layout::Plain

inline bool same_layout(const LayoutPtr& a, const LayoutPtr& b) {
  if (!a || !b) return !a && !b;
  return &a->owner() == &b->owner() && a->same_as(*b);
}
inline std::string layout_name(const LayoutPtr& l) { return l ? l->describe() : "plain"; }

class Kernel {
 public:
  virtual ~Kernel() = default;
  // Output tensors are allocated by the executor in the layouts compile()
  // chose, before run() is called; they hold no meaningful data (buffers are
  // reused), so a kernel writes every element of its outputs.
  virtual void run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs,
                   ExecContext& ctx) = 0;
  // Short description for dumps and profiles ("onednn:conv fwd jit:avx512", "ref:pad").
  virtual std::string describe() const = 0;
  // Temporary memory the kernel needs during run(). The executor binds one
  // buffer, shared by all kernels (they run one at a time), before the first run.
  virtual size_t scratch_bytes() const { return 0; }
  virtual void bind_scratch(void* scratch) {}
  // Whether run() stays correct when output 0 is given the same buffer as
  // input `input` (same type and layout). The executor asks only for nodes the
  // in-place pass marked (attr `inplace`); kernels that read every element of
  // that input before writing the same element of the output say yes.
  virtual bool can_overwrite_input(int input) const { return false; }
};

// What compile() sees besides the node, and where it answers.
struct CompileRequest {
  const ir::Graph& graph;
  const ir::Node& node;
  // In: the layout each input currently has. Out: the layout the kernel
  // wants it in (the executor converts when they differ).
  std::vector<LayoutPtr> inputs;
  // Out: the layout each output is written in (null = plain).
  std::vector<LayoutPtr> outputs;
  // The kernel of an earlier node in plan order (null when it has none or
  // runs later), e.g. so a pooling backward can read its forward's workspace.
  std::function<Kernel*(ir::NodeId)> kernel_of;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual bool supports(const ir::Graph& g, const ir::Node& node) const = 0;
  // Compiles a supported node. req.inputs/outputs are sized by the caller.
  virtual std::unique_ptr<Kernel> compile(CompileRequest& req) = 0;
  // A one-input, one-output kernel converting a value of type `t` between two
  // layouts, at least one of them owned by this backend.
  virtual std::unique_ptr<Kernel> convert(const ir::ValueType& t, const LayoutPtr& from, const LayoutPtr& to) {
    return nullptr;
  }
};

// The reference backend: every op, plain loops, fp32/fp64.
std::unique_ptr<Backend> make_reference_backend();

// Backends by name ("onednn", "reference"), in priority order; names of
// backends not built in are skipped. The reference backend is always appended.
std::vector<std::unique_ptr<Backend>> make_backends(const std::vector<std::string>& names);
// The names make_backends() knows in this build, fastest first.
std::vector<std::string> available_backends();

}  // namespace acnn
