// Native CPU kernels for data movement (backends/cpu/native.cpp) against the
// reference: pad and pad_backward, zeros and reflect, on plain tensors of
// several ranks and on channel-blocked activations (spatial pads, and channel
// pads of whole blocks, which keep the blocked layout), and channel slices of
// blocked activations.
#include "tests/catch.h"
#include "tests/ops/harness.h"
#include "tests/ops/parity.h"

using namespace acnn;
using namespace acnn::testing;
using ir::OpKind;
using ir::ValueId;
using Ints = std::vector<int64_t>;

namespace {

ValueId blocked(Case& c, ValueId x) {
  int64_t ch = c.g.type(x).shape[1];
  return c.b.emit1(OpKind::Conv2d, {x, c.in({ch, ch, 1, 1}, -0.5, 0.5)});
}

void pad_case(const Shape& s, const Ints& pads, const std::string& mode, bool block, bool backward, bool expect_blocked) {
  static uint64_t seed = 4000;
  Case c(DType::F32, ++seed);
  ValueId x = c.in(s);
  if (block) x = blocked(c, x);
  Attrs a{{"pads", pads}, {"mode", mode}};
  ValueId y = c.b.emit1(OpKind::Pad, {x}, a);
  c.g.outputs = {{"y", y}};
  std::set<OpKind> ops{OpKind::Pad};
  if (backward) {
    // dy arrives in the layout the padded value has (after a 1x1 conv when blocked).
    ValueId dy = c.in(c.g.type(y).shape);
    if (block) dy = blocked(c, dy);
    c.g.outputs.push_back({"dx", c.b.emit1(OpKind::PadBackward, {dy}, a)});
    ops.insert(OpKind::PadBackward);
  }
  INFO("shape " << shape_str(s) << " pads " << shape_str(pads) << " " << mode << " blocked " << block);
  check_parity(c.g, c.feeds, c.ctx, ops, Expect::Onednn, {}, expect_blocked);
}

}  // namespace

TEST_CASE("native pad and pad_backward, plain and blocked", "[backend]") {
  for (std::string mode : {"zeros", "reflect"}) {
    pad_case({7}, {2, 3}, mode, false, true, false);
    pad_case({3, 5}, {1, 2, 2, 1}, mode, false, true, false);
    pad_case({2, 3, 6, 5}, {0, 0, 1, 2, 0, 0, 2, 1}, mode, false, true, false);
    pad_case({2, 16, 9, 9}, {0, 0, 1, 1, 0, 0, 1, 1}, mode, true, true, true);
    pad_case({4, 32, 5, 6}, {0, 0, 2, 0, 0, 0, 1, 3}, mode, true, true, true);
  }
  // Channel pads: whole blocks stay blocked, partial ones go plain.
  pad_case({2, 16, 3, 3}, {0, 16, 0, 0, 0, 16, 0, 0}, "zeros", true, true, true);
  pad_case({2, 16, 3, 3}, {0, 3, 0, 0, 0, 5, 0, 0}, "zeros", true, true, false);
  pad_case({2, 3, 4, 4}, {1, 2, 1, 0, 0, 1, 0, 2}, "zeros", false, true, false);
}

TEST_CASE("native channel slices of blocked activations", "[backend]") {
  for (auto [b, e] : std::vector<std::pair<int64_t, int64_t>>{{0, 16}, {16, 48}, {32, 64}, {3, 20}}) {
    Case c(DType::F32, 4100 + b);
    ValueId x = blocked(c, c.in({2, 64, 5, 5}));
    ValueId y = c.b.emit1(OpKind::Slice, {x}, Attrs{{"axis", int64_t{1}}, {"begin", b}, {"end", e}});
    c.g.outputs = {{"y", c.b.emit1(OpKind::Relu, {y})}};
    INFO("slice " << b << ".." << e);
    check_parity(c.g, c.feeds, c.ctx, {OpKind::Slice}, Expect::Onednn, {}, b % 16 == 0 && e % 16 == 0);
  }
}
