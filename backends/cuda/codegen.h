// CUDA C source for the kernels the backend generates per graph and compiles
// with NVRTC at compile time: elementwise regions (chains of unary/binary ops,
// casts, broadcasts, inlined runtime scalars and counter-based random numbers,
// Fused "elementwise" bodies), multi-tensor update groups (the SGD step of all
// parameters in one launch), format conversions (dtype and NCHW<->NHWC), and
// the data-movement ops expressed as gathers (transpose, slice, concat, pad,
// pad_backward, upsampling and their adjoints, one_hot). Each generator
// returns one extern "C" __global__ function; shapes are baked in as
// constants, so index arithmetic is strength-reduced by the compiler, and
// every value is computed in fp32 whatever its storage type. Kernels take
// (const AcnnParams*, AcnnStatus*, inputs..., outputs...) and run a
// grid-stride loop over `elements` threads. Pure text: no CUDA headers, so
// tests check it (and compile it with NVRTC) on machines without a GPU.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "backends/cuda/lowering.h"
#include "compiler/ir/graph.h"

namespace acnn::cuda {

struct GenKernel {
  std::string name;    // the extern "C" symbol
  std::string source;  // the __global__ function (needs prelude())
  int64_t elements = 0;  // grid-stride loop count (UpdateGroup: chunks, one block each)
  bool chunked = false;  // UpdateGroup: launch one block per chunk
};

// Runtime scalar name -> index into AcnnParams::scalars. The names
// "loss_scale" and "inv_loss_scale" read the dynamic fp16 loss scale instead.
using ScalarIndex = std::map<std::string, int>;

// Helpers every generated kernel uses (the ABI structs, loads and stores of
// each storage type, counter_hash).
std::string prelude();

// A Region or FusedRegion unit: `in`/`out` are the formats of u.inputs and
// u.outputs as they are in memory.
// `skip_on_overflow`: return when AcnnStatus::overflow is set (fp16 optimizer).
GenKernel gen_region(const ir::Graph& g, const Unit& u, const std::vector<Format>& in,
                     const std::vector<Format>& out, const ScalarIndex& sc, const std::string& name,
                     bool skip_on_overflow = false);

// One launch for every member of an UpdateGroup: the kernel reads an
// AcnnItem table (per member: its input then output pointers, element count)
// and an AcnnChunk table (one block per chunk of kUpdateChunk elements).
// `skip_on_overflow`: return when AcnnStatus::overflow is set (fp16).
constexpr int64_t kUpdateChunk = 4096;
GenKernel gen_update_group(const ir::Graph& g, const Unit& member, const std::vector<Format>& in,
                           const std::vector<Format>& out, const ScalarIndex& sc, bool skip_on_overflow,
                           const std::string& name);
// An update group whose members have several codes (the optimizer's
// formulas: weights with decay, parameters without, gradients of another
// element type): one case per code, each table item running the case its
// AcnnItem::pad names (the index in `codes`); `in`/`out` are the formats of
// that code's representative member, which every member of the code shares.
struct UpdateCode {
  const Unit* member;
  std::vector<Format> in, out;
};
GenKernel gen_update_group(const ir::Graph& g, const std::vector<UpdateCode>& codes, const ScalarIndex& sc,
                           bool skip_on_overflow, const std::string& name);
// The codes of an update group: per distinct member code key, its first
// member. `in`/`out` are all members' operand formats (unit_inputs and
// unit_outputs order); each member's are made its code's element types, in
// its own output's layout (where they differ, the runner converts the
// operand), and each code gets its first member's. (*code_of)[m] is member
// m's code.
std::vector<UpdateCode> update_codes(const ir::Graph& g, const Unit& group, std::vector<Format>* in,
                                     std::vector<Format>* out, std::vector<int>* code_of);
// The code of an update region with names and sizes left out, or "" when it
// cannot run flat (an input neither full-size in the output layout nor a
// scalar). Members with equal keys share one multi-tensor kernel.
std::string update_key(const ir::Graph& g, const Unit& u, const std::vector<Format>& in, const std::vector<Format>& out);
// update_key() with the formats of a FormatPlan (what form_units() takes).
std::string update_key_planned(const ir::Graph& g, const Unit& u, const FormatPlan& f);

// A ReducingRegion's reduction as [outer, R, inner] runs of its space (in
// u.space_layout's memory order), cut into `chunks` runs of `rows` rows of R
// so that about kReduceThreads threads share the work (enough loads in
// flight to keep an H100's memory busy), each over 8 rows or more.
struct ReduceShape {
  int64_t outer = 1, R = 1, inner = 1, chunks = 1, rows = 1;
  int64_t partials() const { return outer * chunks * inner; }  // floats the first launch writes
};
constexpr int64_t kReduceThreads = int64_t{1} << 19;
ReduceShape reduce_shape(const ir::Graph& g, const Unit& u);
// The first of a ReducingRegion's two launches (codegen_reduce.cpp): thread
// t = (o * chunks + k) * inner / V + j / V computes the region at rows
// [k * rows, (k + 1) * rows) of the V elements (o, ., j..j+V-1) (V: 8 bf16
// or 4 fp32 lanes of 16-byte loads where the operands allow, else 1),
// stores its outputs but the last and sums the reduced value (times 1/R for
// a mean) into the floats partial[(o * chunks + k) * inner + j + l], which
// are the result itself when chunks == 1. The kernel's last parameter is
// `partial`. The second launch sums the partials over k (reduce3).
GenKernel gen_reducing_region(const ir::Graph& g, const Unit& u, const std::vector<Format>& in,
                              const std::vector<Format>& out, const ScalarIndex& sc, const std::string& name);

// Copies a tensor of logical shape `s` between two formats.
GenKernel gen_convert(const Shape& s, const Format& from, const Format& to, const std::string& name);

// Data-movement ops as gathers over their output.
bool gather_op(ir::OpKind k);
// Whether a unit's kernel leaves outputs nobody reads unwritten (dedicated
// kernels take a null pointer for them); generated kernels (regions, update
// groups, gathers) store every output, which then needs memory.
bool skips_unread_outputs(const ir::Graph& g, const Unit& u);
GenKernel gen_gather(const ir::Graph& g, const ir::Node& n, const std::vector<Format>& in, const Format& out,
                     const std::string& name);

// A float literal that CUDA C reads back exactly ("1.5f", "__int_as_float(0x7f800000)").
std::string float_literal(double v);

}  // namespace acnn::cuda
