// Shared machinery of the oneDNN backend: the engine and stream, the physical
// layout type (a oneDNN memory descriptor), helpers that build plain and
// "current layout" descriptors, and OnednnKernel, the base of every kernel: a
// list of primitives executed in order, each with its arguments bound once
// (memory objects created at compile time; run() only swaps data handles, so a
// step allocates nothing). Scratchpads are user-managed: the executor's shared
// scratch buffer. Each family file (conv, norm, pool, eltwise, softmax,
// reduce) exposes one compile function per op group.
#pragma once

#include <dnnl.hpp>

#include <cassert>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"

namespace acnn::cpu {

using dnnl::memory;
using md_t = dnnl::memory::desc;
using dims_t = dnnl::memory::dims;

dnnl::engine& engine();
dnnl::stream& stream();

// A oneDNN memory descriptor as a PhysicalLayout.
class OnednnLayout final : public PhysicalLayout {
 public:
  OnednnLayout(const Backend& owner, md_t md) : owner_(owner), md_(std::move(md)) {}
  const Backend& owner() const override { return owner_; }
  size_t bytes() const override { return md_.get_size(); }
  std::string describe() const override;
  bool same_as(const PhysicalLayout& o) const override;
  const md_t& md() const { return md_; }

 private:
  const Backend& owner_;
  md_t md_;
};

// Logical dims of a shape (a scalar is {1}).
dims_t to_dims(const Shape& s);
// Dense row-major f32 descriptor.
md_t plain_md(const dims_t& d);
md_t any_md(const dims_t& d);
// Whether md is dense row-major over its own dims.
bool is_plain(const md_t& md);
// A format tag name ("nChw16c") when md matches a common one, else "blocked".
std::string format_name(const md_t& md);
// md's format applied to other dims of the same rank (e.g. pooling input from
// its output's format); plain when md's format is not a common tag.
md_t same_format(const md_t& md, const dims_t& d);

// What the backend's compile functions see.
struct Compile {
  const Backend& backend;
  CompileRequest& req;
  const ir::Graph& g() const { return req.graph; }
  const ir::Node& node() const { return req.node; }
  const Shape& in_shape(int i) const { return req.graph.type(req.node.inputs[i]).shape; }
  const Shape& out_shape(int i) const { return req.graph.type(req.node.outputs[i]).shape; }
  // The oneDNN descriptor input i currently has, when it is one of ours with dims d.
  const md_t* in_md(int i, const dims_t& d) const;
  // The oneDNN descriptor input i has, whatever its dims (a grouped weight's
  // descriptor is 5-d): for layout-agnostic elementwise ops.
  const md_t* in_md_any(int i) const;
  // in_md(i, d) or plain_md(d).
  md_t current(int i, const dims_t& d) const;
  // in_md_any(i) or plain_md(d).
  md_t current_any(int i, const dims_t& d) const;
  // in_md(i, d) or any_md(d): lets a primitive pick the format of a plain input.
  md_t current_or_any(int i, const dims_t& d) const;
  // Answers: null for a plain descriptor, else a layout owned by this backend.
  LayoutPtr layout(const md_t& md) const;
  void want_input(int i, const md_t& md) { req.inputs[i] = layout(md); }
  void set_output(int i, const md_t& md) { req.outputs[i] = layout(md); }
};

class OnednnKernel : public Kernel {
 public:
  explicit OnednnKernel(std::string what) : what_(std::move(what)) {}
  void run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs, ExecContext& ctx) override;
  std::string describe() const override;
  size_t scratch_bytes() const override { return scratch_bytes_; }
  void bind_scratch(void* scratch) override;
  bool can_overwrite_input(int input) const override {
    return input >= 0 && input < 64 && (inplace_ >> input & 1);
  }
  // The primitives stay correct when output 0 shares input `input`'s buffer.
  void allow_inplace(int input) { inplace_ |= uint64_t{1} << input; }

  // Building, at compile time. Primitives run in the order they are added.
  void add_primitive(const dnnl::primitive& p, const dnnl::primitive_desc_base& pd);
  void arg_input(int arg, int input, const md_t& md);
  void arg_output(int arg, int output, const md_t& md);
  // An argument in memory the kernel owns (allocated now) or is given.
  void* arg_owned(int arg, const md_t& md);
  void arg_fixed(int arg, const md_t& md, void* data);

 private:
  enum class Source : uint8_t { Input, Output };
  struct Bind {
    size_t mem;  // index into Exec::mems
    Source source;
    int index;
  };
  struct Exec {
    dnnl::primitive prim;
    md_t scratch_md;
    std::vector<memory> mems;
    std::vector<int> arg_ids;
    std::vector<Bind> binds;
    std::vector<dnnl_exec_arg_t> c_args;  // built by bind_scratch / first run
  };
  void finalize();
  std::string what_, impl_;
  std::vector<Exec> execs_;
  std::vector<std::shared_ptr<void>> owned_;
  size_t scratch_bytes_ = 0;
  bool final_ = false;
  uint64_t inplace_ = 0;
};

// A reorder between two descriptors of the same logical data (one input, one output).
std::unique_ptr<Kernel> make_reorder(const md_t& from, const md_t& to, const std::string& what);
dnnl::primitive_attr scratch_attr();
// Whether oneDNN fell back to its slow reference implementation.
bool is_ref(const dnnl::primitive_desc_base& pd);
// Elementwise ops may treat a dense (unpadded) buffer in any format as a flat
// vector: the descriptor to use for md, which is md itself when it is plain
// or padded (blocked channels that are not a multiple of the block).
md_t flat_if_dense(const md_t& md);

// Convolution geometry of a conv2d node as oneDNN dims (grouped weights 5-d),
// and its forward primitive descriptor (conv.cpp).
struct ConvDims {
  dims_t src, wei, dst, bias;
  dims_t strides, dilation, pad_l, pad_r;
};
ConvDims conv_dims(const ir::Node& n, const Shape& x, const Shape& w, const Shape& y);
dnnl::convolution_forward::primitive_desc fwd_pd(const ConvDims& d, const md_t& src, const md_t& wei, const md_t* bias,
                                                 const md_t& dst, const dnnl::primitive_attr& attr);

// Family compile functions: each returns null to decline (the node then runs
// on the next backend).
std::unique_ptr<Kernel> compile_conv(Compile& c);      // Conv2d, Conv2dBackwardData, Conv2dBackwardWeight
std::unique_ptr<Kernel> compile_matmul(Compile& c);    // Matmul
std::unique_ptr<Kernel> compile_norm(Compile& c);      // BatchNormTrain, BatchNormInfer, BatchNormBackward
std::unique_ptr<Kernel> compile_pool(Compile& c);      // MaxPool2d, AvgPool2d and backward
std::unique_ptr<Kernel> compile_eltwise(Compile& c);   // unary ops and activation backward forms
std::unique_ptr<Kernel> compile_binary(Compile& c);    // Add .. Less
bool binary_supported(const ir::Graph& g, const ir::Node& n);
std::unique_ptr<Kernel> compile_softmax(Compile& c);   // Softmax, LogSoftmax and backward
std::unique_ptr<Kernel> compile_reduce(Compile& c);    // ReduceSum, ReduceMean, ReduceMax
std::unique_ptr<Kernel> compile_movement(Compile& c);  // Concat, Transpose, Slice
// Elementwise kernels (ew_kernel.cpp): a body, or the node itself, lowered to
// an ew::Program; JIT-compiled when LLVM is built.
bool ew_lowerable(const ir::Graph& g, const ir::Node& n, std::string* why);
std::unique_ptr<Kernel> compile_ew(Compile& c, const ir::Graph& body, const std::string& what);
std::unique_ptr<Kernel> compile_ew_node(Compile& c);
// Native data movement (native.cpp): pad and pad_backward in plain or
// channel-blocked layouts; slices of whole channel blocks (null: not such a slice).
std::unique_ptr<Kernel> compile_pad(Compile& c);
std::unique_ptr<Kernel> compile_native_slice(Compile& c);
// Fused nodes by kind (fused.cpp).
bool fused_supported(const ir::Graph& g, const ir::Node& n);
std::unique_ptr<Kernel> compile_fused(Compile& c);

}  // namespace acnn::cpu
