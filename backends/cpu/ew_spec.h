// The elementwise kernel spec: what the LLVM JIT (backends/cpu/jit) compiles
// and the portable fallback (ew_interp.cpp) evaluates for fused elementwise
// chains, the optimizer's update chains and the single elementwise ops oneDNN
// cannot run. A Program is straight-line SSA code over f32 values at one point
// of an iteration space: Load reads buffer `buf` at that point, each other
// instruction's result is register = its index; Sinks store a register into a
// full-size output, or accumulate it (sum or max) into a reduction buffer. A
// Nest says how points map to memory: every buffer has an element stride per
// dimension (0 = broadcast, or a reduced dimension of a reduction buffer).
// Two iteration shapes exist: `flat` (one dimension whose range is a kernel
// argument, strides 0 or 1: the same code serves every tensor size) and a
// static nest whose leading `outer` dimensions are collapsed into the kernel's
// [begin, end) range (the unit of thread splitting). Kernels have the C
// signature  void (float* const* bufs, int64_t begin, int64_t end);  reduction
// buffers are accumulated into (the caller initializes and combines them).
// Header-only plain C++, shared with the JIT library (which sees no oneDNN).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace acnn::cpu::ew {

enum class Op : uint8_t {
  Load, Const,
  Neg, Relu, Sigmoid, Tanh, Exp, Log, Sqrt, Square, Abs, Affine,  // Affine: c0 * a + c1
  ReluBwd, SigmoidBwd, TanhBwd,                                    // (dy, x or y)
  Add, Sub, Mul, Div, Max, Min, Less,
};

inline const char* op_name(Op op) {
  static const char* names[] = {"load", "const", "neg", "relu", "sigmoid", "tanh", "exp", "log", "sqrt", "square", "abs",
                                "affine", "relu_bwd", "sigmoid_bwd", "tanh_bwd", "add", "sub", "mul", "div", "max",
                                "min", "less"};
  return names[static_cast<int>(op)];
}
inline int arity(Op op) {
  if (op == Op::Load || op == Op::Const) return 0;
  if (op >= Op::ReluBwd) return 2;
  return 1;
}

struct Instr {
  Op op;
  int a = -1, b = -1;  // operand registers
  int buf = -1;        // Load
  float c0 = 0, c1 = 0;  // Const: c0; Affine: c0 * a + c1
};

enum class Red : uint8_t { None, Sum, Max };

struct Sink {
  int reg;
  int buf;
  Red red = Red::None;  // None: store; Sum/Max: accumulate into the buffer
};

struct Program {
  std::vector<Instr> code;
  std::vector<Sink> sinks;
  int num_bufs = 0;
};

struct Nest {
  bool flat = true;
  std::vector<int64_t> extent;               // static nest: outermost first; flat: {points} (not part of the key)
  std::vector<std::vector<int64_t>> stride;  // [buf][dim] in elements
  int outer = 1;                             // static nest: dims [0, outer) form the [begin, end) range
  int64_t outer_size() const {
    int64_t n = 1;
    for (int d = 0; d < outer && d < static_cast<int>(extent.size()); ++d) n *= extent[d];
    return n;
  }
};

struct Spec {
  Program prog;
  Nest nest;

  // A canonical text form: equal strings mean interchangeable kernels (the
  // JIT's cache key).
  std::string serialize() const {
    std::string s = nest.flat ? "flat" : "nest";
    char tmp[64];
    s += ";bufs=" + std::to_string(prog.num_bufs) + ";code=";
    for (const Instr& i : prog.code) {
      s += op_name(i.op);
      if (i.op == Op::Load) s += "#" + std::to_string(i.buf);
      if (i.op == Op::Const || i.op == Op::Affine) {
        std::snprintf(tmp, sizeof tmp, "(%a,%a)", static_cast<double>(i.c0), static_cast<double>(i.c1));
        s += tmp;
      }
      if (arity(i.op) >= 1) s += " " + std::to_string(i.a);
      if (arity(i.op) >= 2) s += " " + std::to_string(i.b);
      s += ",";
    }
    s += ";sinks=";
    for (const Sink& k : prog.sinks)
      s += std::to_string(k.reg) + ">" + std::to_string(k.buf) + ":" + std::to_string(static_cast<int>(k.red)) + ",";
    if (!nest.flat) {
      s += ";extent=";
      for (int64_t e : nest.extent) s += std::to_string(e) + ",";
      s += ";outer=" + std::to_string(nest.outer);
    }
    s += ";strides=";
    for (const auto& v : nest.stride) {
      for (int64_t e : v) s += std::to_string(e) + ",";
      s += "|";
    }
    return s;
  }
};

using KernelFn = void (*)(float* const* bufs, int64_t begin, int64_t end);

}  // namespace acnn::cpu::ew
