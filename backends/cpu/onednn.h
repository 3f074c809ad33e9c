// The oneDNN CPU backend (oneDNN 2.6, v2 C++ API): convolutions, batch norm,
// pooling, eltwise, binary, matmul, softmax, reductions, concat, transpose and
// slice in fp32, forward and backward. Primitives are created once at compile
// time; activations stay in the blocked formats convolutions prefer through
// chains of layout-agnostic ops, and are reordered only where an op needs the
// plain layout. Built when CMake finds oneDNN (ACNN_HAVE_ONEDNN).
#pragma once

#include <memory>

#include "backends/backend.h"

namespace acnn {

std::unique_ptr<Backend> make_onednn_backend();

}  // namespace acnn
