// LLVM IR generation for ew::Spec kernels (see jit.h for the engine around
// it). The function is  void name(ptr bufs, i64 begin, i64 end)  and works on
// explicit <vf x float> vectors: flat kernels run a vector loop over
// [begin, end) and finish with one masked vector; static nests decompose each
// outer index, run constant-trip loops over the middle dimensions and a
// vector loop plus a constant-masked tail over the innermost one. Broadcast
// operands (stride 0) are scalar loads splat across lanes (hoisted by LICM),
// other strides use gathers/scatters. Sum/max reductions whose buffer does not
// move along the innermost dimension accumulate in vector registers and are
// reduced horizontally once per row. Reduction buffers are given alias scopes
// that say they overlap no other buffer, so LLVM can keep them in registers.
// Internal to backends/cpu/jit: includes LLVM headers.
#pragma once

#include <memory>
#include <string>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include "backends/cpu/ew_spec.h"

namespace acnn::cpu::jit {

// A module with one external function `name` computing `spec` at vector width `vf`.
std::unique_ptr<llvm::Module> generate(llvm::LLVMContext& ctx, const ew::Spec& spec, const std::string& name, int vf);

}  // namespace acnn::cpu::jit
