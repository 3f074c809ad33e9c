// The backend interface. A backend says which nodes it supports and compiles
// each supported node into a Kernel once, ahead of execution; the executor runs
// kernels in plan order. Nodes a backend does not support run on the reference
// backend (with conversion to the plain layout at the boundary), so a new op
// works everywhere at once and gets fast where a backend takes it over.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "runtime/tensor.h"

namespace acnn {

class Kernel {
 public:
  virtual ~Kernel() = default;
  // Output tensors are allocated by the executor (plain layout, or whatever
  // output_layout() asked for) before run() is called.
  virtual void run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs,
                   ExecContext& ctx) = 0;
  // Short description for dumps and profiles ("onednn:conv fwd", "ref:pad").
  virtual std::string describe() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual bool supports(const ir::Graph& g, const ir::Node& node) const = 0;
  virtual std::unique_ptr<Kernel> compile(const ir::Graph& g, const ir::Node& node) = 0;
};

// The reference backend: every op, plain loops, fp32/fp64.
std::unique_ptr<Backend> make_reference_backend();

}  // namespace acnn
