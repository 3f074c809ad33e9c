#include "compiler/ir/builder.h"
#include "compiler/ir/printer.h"
#include "tests/catch.h"

using namespace acnn;
using namespace acnn::ir;

TEST_CASE("builder infers conv2d output shapes", "[unit]") {
  Graph g;
  Builder b(g);
  ValueId x = b.input("x", {DType::F32, {2, 3, 32, 32}});
  ValueId w = b.param("conv.weight", {DType::F32, {16, 3, 3, 3}}, "kaiming_normal", true);
  ValueId y = b.emit1(OpKind::Conv2d, {x, w}, Attrs{{"stride", std::vector<int64_t>{2, 2}}, {"pad", std::vector<int64_t>{1, 1, 1, 1}}});
  CHECK(g.type(y).shape == Shape{2, 16, 16, 16});
  CHECK(verify(g).empty());
  REQUIRE_THROWS_AS(b.emit1(OpKind::Conv2d, {y, w}), ShapeError);
}
