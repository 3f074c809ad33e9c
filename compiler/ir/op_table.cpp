// The op table: one row per line of ops.def, pointing at the functions each
// family file defines.
#include <cassert>
#include <map>

#include "compiler/ir/graph.h"
#include "compiler/ops/families.h"

namespace acnn::ir {

namespace {
const OpDef kOps[] = {
#define ACNN_OP(E, name, min_in, max_in, n_out, family) \
  {name, min_in, max_in, n_out, OpFamily::family, &ops::infer_##E, &ops::grad_##E, &ops::ref_##E},
#include "compiler/ir/ops.def"
#undef ACNN_OP
};
static_assert(sizeof(kOps) / sizeof(kOps[0]) == static_cast<size_t>(OpKind::kCount));
}  // namespace

const OpDef& op_def(OpKind k) {
  assert(static_cast<size_t>(k) < static_cast<size_t>(OpKind::kCount));
  return kOps[static_cast<size_t>(k)];
}

bool find_op(const std::string& name, OpKind* out) {
  static const std::map<std::string, OpKind> by_name = [] {
    std::map<std::string, OpKind> m;
    for (size_t i = 0; i < static_cast<size_t>(OpKind::kCount); ++i) m[kOps[i].name] = static_cast<OpKind>(i);
    return m;
  }();
  auto it = by_name.find(name);
  if (it == by_name.end()) return false;
  *out = it->second;
  return true;
}

std::vector<std::string> all_op_names() {
  std::vector<std::string> names;
  for (const OpDef& d : kOps) names.push_back(d.name);
  return names;
}

bool is_elementwise(OpKind k) {
  OpFamily f = op_def(k).family;
  return (f == OpFamily::Unary || f == OpFamily::Binary) && k != OpKind::Cast;
}

}  // namespace acnn::ir
