// The portable evaluator of ew::Spec (ew_spec.h), used when the LLVM JIT is not
// built or fails: it walks the spec's iteration space like a compiled kernel,
// but evaluates the program one instruction at a time over blocks of up to
// 1024 points of the innermost dimension (one switch per instruction and block,
// tight loops inside), so there is no per-element dispatch.
#pragma once

#include <cstdint>

#include "backends/cpu/ew_spec.h"

namespace acnn::cpu::ew {

// Same contract as a compiled kernel: evaluates points [begin, end) of the
// flat dimension, or of the collapsed outer dimensions of a static nest.
void interpret(const Spec& spec, float* const* bufs, int64_t begin, int64_t end);

}  // namespace acnn::cpu::ew
