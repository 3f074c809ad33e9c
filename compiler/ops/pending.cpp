// TEMPORARY: gradient rules and reference kernels not yet written. Each family
// file takes its ops' functions over and this file goes away.
#include <cstdio>
#include <cstdlib>

#include "compiler/ops/families.h"

namespace acnn::ops {

#define ACNN_OP(E, name, min_in, max_in, n_out, family)                                                \
  void grad_##E(GradContext&) {                                                                      \
    std::fprintf(stderr, "internal error: no gradient rule for %s yet\n", name);                    \
    std::abort();                                                                                    \
  }                                                                                                  \
  void ref_##E(const Node&, const std::vector<const Tensor*>&, const std::vector<Tensor*>&, ExecContext&) { \
    std::fprintf(stderr, "internal error: no reference kernel for %s yet\n", name);                 \
    std::abort();                                                                                    \
  }
#include "compiler/ir/ops.def"
#undef ACNN_OP

}  // namespace acnn::ops
