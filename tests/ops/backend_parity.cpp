// Backend parity: every op the oneDNN backend takes, forward and backward, run
// through the Executor and compared with the reference interpreter on random
// fp32 inputs, in several attribute variants, both on plain inputs and on
// inputs that arrive in a convolution's blocked layout. The node must really
// run on oneDNN (a silent fallback fails the test), and a second run must
// reproduce the first (buffers are reused between runs). Whole small graphs
// (training steps with state updates, a mix of supported and reference-only
// ops, inference with cached weight conversions) are in executor_test.cpp.
// Without oneDNN the same checks run the Executor on the reference backend.
#include <cmath>
#include <functional>

#include "runtime/executor.h"
#include "runtime/interpreter.h"
#include "tests/catch.h"
#include "tests/ops/harness.h"
#include "tests/ops/parity.h"

using namespace acnn;
using namespace acnn::testing;
using ir::OpKind;
using ir::ValueId;
using Ints = std::vector<int64_t>;

namespace {

using Build = std::function<std::vector<ValueId>(Case&)>;

bool g_blocked = false;  // set by blocked(): the case feeds the op a blocked input

// Runs `build` as its own graph and compares executor and interpreter.
void op_case(OpKind k, const std::string& variant, const Build& build, Expect expect = Expect::Onednn,
             Tol tol = {}) {
  static uint64_t seed = 1000;
  INFO(ir::op_name(k) << ": " << variant);
  Case c(DType::F32, ++seed);
  g_blocked = false;
  std::vector<ValueId> outs = build(c);
  for (size_t i = 0; i < outs.size(); ++i) c.g.outputs.push_back({"out" + std::to_string(i), outs[i]});
  bool plain_only = k == OpKind::Transpose || k == OpKind::Slice;  // these take plain inputs
  check_parity(c.g, c.feeds, c.ctx, {k}, expect, tol, g_blocked && expect == Expect::Onednn && !plain_only);
}

// x passed through a 1x1 convolution (C -> C): on oneDNN the result is in the
// convolution's blocked layout, so the op after it gets a blocked input.
ValueId blocked(Case& c, ValueId x) {
  int64_t ch = c.g.type(x).shape[1];
  ValueId w = c.in({ch, ch, 1, 1}, -0.5, 0.5);
  g_blocked = true;
  return c.b.emit1(OpKind::Conv2d, {x, w});
}
// Same, but positive (for log and sqrt): 0.1 + y^2 stays blocked.
ValueId blocked_positive(Case& c, ValueId x) {
  ValueId y = blocked(c, x);
  return c.b.scale(c.b.emit1(OpKind::Square, {y}), 1.0, 0.1);
}

std::vector<ConvGeom> conv_geoms() {
  return {
      {"3x3 16->32 pad1 bias", {2, 16, 9, 9}, {32, 16, 3, 3}, conv_attrs({1, 1}, {1, 1, 1, 1}, {1, 1}, 1), true},
      {"3x3 C=3 (first layer)", {2, 3, 12, 12}, {16, 3, 3, 3}, conv_attrs({1, 1}, {1, 1, 1, 1}, {1, 1}, 1), false},
      {"7x7 stride2 pad3", {1, 3, 16, 16}, {16, 3, 7, 7}, conv_attrs({2, 2}, {3, 3, 3, 3}, {1, 1}, 1), true},
      {"1x1 stride2", {2, 32, 8, 8}, {16, 32, 1, 1}, conv_attrs({2, 2}, {0, 0, 0, 0}, {1, 1}, 1), false},
      {"asymmetric pad, dilation 2", {1, 16, 9, 8}, {16, 16, 3, 2}, conv_attrs({1, 2}, {2, 0, 1, 1}, {2, 1}, 1), false},
      {"groups 2", {2, 32, 7, 7}, {32, 16, 3, 3}, conv_attrs({1, 1}, {1, 1, 1, 1}, {1, 1}, 2), true},
      {"depthwise stride2", {2, 32, 8, 8}, {32, 1, 3, 3}, conv_attrs({2, 2}, {1, 1, 1, 1}, {1, 1}, 32), true},
      {"small odd channels", {2, 3, 5, 5}, {4, 3, 3, 3}, conv_attrs({1, 1}, {0, 0, 0, 0}, {1, 1}, 1), false},
  };
}

}  // namespace

TEST_CASE("parity: conv2d forward and backward", "[backend]") {
  for (const ConvGeom& cg : conv_geoms()) {
    op_case(OpKind::Conv2d, cg.name, [&](Case& c) {
      std::vector<ValueId> in{c.in(cg.x), c.in(cg.w, -0.3, 0.3)};
      if (cg.bias) in.push_back(c.in({cg.w[0]}));
      return c.b.emit(OpKind::Conv2d, in, cg.a);
    });
    Shape y = conv_out(cg);
    op_case(OpKind::Conv2dBackwardData, cg.name, [&](Case& c) {
      Attrs a = cg.a;
      a.set("input_shape", cg.x);
      return c.b.emit(OpKind::Conv2dBackwardData, {c.in(y), c.in(cg.w)}, a);
    });
    op_case(OpKind::Conv2dBackwardWeight, cg.name, [&](Case& c) {
      Attrs a = cg.a;
      a.set("weight_shape", cg.w);
      return c.b.emit(OpKind::Conv2dBackwardWeight, {c.in(cg.x), c.in(y)}, a);
    });
  }
  // A chain: the second convolution takes the first's blocked output, and the
  // backward forms take blocked dy.
  op_case(OpKind::Conv2d, "conv after conv", [&](Case& c) {
    ValueId h = blocked(c, c.in({2, 16, 8, 8}));
    return c.b.emit(OpKind::Conv2d, {h, c.in({16, 16, 3, 3}, -0.3, 0.3)}, conv_attrs({2, 2}, {1, 1, 1, 1}, {1, 1}, 1));
  });
  op_case(OpKind::Conv2dBackwardData, "blocked dy", [&](Case& c) {
    ValueId dy = blocked(c, c.in({2, 16, 8, 8}));
    return c.b.emit(OpKind::Conv2dBackwardData, {dy, c.in({16, 8, 3, 3})},
                    Attrs{{"pad", Ints{1, 1, 1, 1}}, {"input_shape", Ints{2, 8, 8, 8}}});
  });
  op_case(OpKind::Conv2dBackwardWeight, "blocked x and dy", [&](Case& c) {
    ValueId x = blocked(c, c.in({2, 16, 8, 8}));
    ValueId dy = blocked(c, c.in({2, 16, 8, 8}));
    return c.b.emit(OpKind::Conv2dBackwardWeight, {x, dy},
                    Attrs{{"pad", Ints{1, 1, 1, 1}}, {"weight_shape", Ints{16, 16, 3, 3}}});
  });
}

TEST_CASE("parity: matmul", "[backend]") {
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      op_case(OpKind::Matmul, "transpose " + std::to_string(ta) + std::to_string(tb), [&](Case& c) {
        Shape a = ta ? Shape{7, 5} : Shape{5, 7}, b = tb ? Shape{3, 7} : Shape{7, 3};
        return c.b.emit(OpKind::Matmul, {c.in(a), c.in(b)}, Attrs{{"transpose_a", int64_t{ta}}, {"transpose_b", int64_t{tb}}});
      });
}

TEST_CASE("parity: batch norm train, infer, backward", "[backend]") {
  struct V {
    std::string name;
    Shape x;
    bool after_conv;
  };
  for (const V& v : {V{"4d", {4, 16, 5, 5}, false}, V{"odd channels", {3, 3, 4, 4}, false}, V{"2d", {6, 10}, false},
                     V{"after conv", {2, 16, 6, 6}, true}}) {
    int64_t ch = v.x[1];
    auto x_of = [&](Case& c) { return v.after_conv ? blocked(c, c.in(v.x)) : c.in(v.x, -2, 3); };
    Attrs eps{{"eps", 1e-3}};
    op_case(OpKind::BatchNormTrain, v.name, [&](Case& c) {
      return c.b.emit(OpKind::BatchNormTrain, {x_of(c), c.in({ch}, 0.5, 1.5), c.in({ch})}, eps);
    });
    op_case(OpKind::BatchNormInfer, v.name, [&](Case& c) {
      return c.b.emit(OpKind::BatchNormInfer,
                      {x_of(c), c.in({ch}, 0.5, 1.5), c.in({ch}), c.in({ch}), c.in({ch}, 0.5, 2.0)}, eps);
    });
    op_case(OpKind::BatchNormBackward, v.name, [&](Case& c) {
      // Statistics from a real forward, so that the backward sees consistent inputs.
      ValueId x = x_of(c), gamma = c.in({ch}, 0.5, 1.5);
      auto fwd = c.b.emit(OpKind::BatchNormTrain, {x, gamma, c.in({ch})}, eps);
      ValueId dy = v.after_conv ? blocked(c, c.in(v.x)) : c.in(v.x);
      return c.b.emit(OpKind::BatchNormBackward, {dy, x, gamma, fwd[1], fwd[2]}, eps);
    }, Expect::Onednn, Tol{2e-4, 2e-5});
  }
}

TEST_CASE("parity: pooling forward and backward", "[backend]") {
  struct V {
    std::string name;
    Ints kernel, stride, pad;
  };
  for (const V& v : {V{"2x2", {2, 2}, {2, 2}, {0, 0, 0, 0}}, V{"3x3 s2 p1", {3, 3}, {2, 2}, {1, 1, 1, 1}},
                     V{"3x2 s1 asymmetric pad", {3, 2}, {1, 1}, {1, 0, 2, 1}}}) {
    for (bool after_conv : {false, true}) {
      std::string name = v.name + (after_conv ? " after conv" : "");
      Shape xs{2, 16, 9, 8};
      Attrs a{{"kernel", v.kernel}, {"stride", v.stride}, {"pad", v.pad}};
      auto x_of = [&](Case& c) { return after_conv ? blocked(c, c.in(xs)) : c.in(xs); };
      op_case(OpKind::MaxPool2d, name, [&](Case& c) { return c.b.emit(OpKind::MaxPool2d, {x_of(c)}, a); });
      for (int64_t include : {0, 1}) {
        Attrs aa = a;
        aa.set("count_include_pad", include);
        std::string n2 = name + (include ? " include pad" : " exclude pad");
        op_case(OpKind::AvgPool2d, n2, [&](Case& c) { return c.b.emit(OpKind::AvgPool2d, {x_of(c)}, aa); });
        op_case(OpKind::AvgPool2dBackward, n2, [&](Case& c) {
          ValueId y = c.b.emit1(OpKind::AvgPool2d, {x_of(c)}, aa);  // for the shape and layout of dy
          ValueId dy = c.b.mul(y, c.in(c.g.type(y).shape));
          Attrs ab = aa;
          ab.set("input_shape", xs);
          return c.b.emit(OpKind::AvgPool2dBackward, {dy}, ab);
        });
      }
      // Max pool backward alone (recomputes the forward) and after its forward
      // (reads the forward's workspace).
      op_case(OpKind::MaxPool2dBackward, name + " alone", [&](Case& c) {
        ValueId x = x_of(c);
        Shape ys = c.g.type(c.b.emit1(OpKind::MaxPool2d, {c.in(xs)}, a)).shape;
        return c.b.emit(OpKind::MaxPool2dBackward, {c.in(ys), x}, a);
      });
      op_case(OpKind::MaxPool2dBackward, name + " with forward", [&](Case& c) {
        ValueId x = x_of(c);
        ValueId y = c.b.emit1(OpKind::MaxPool2d, {x}, a);
        ValueId dy = c.b.mul(y, c.in(c.g.type(y).shape));
        return std::vector<ValueId>{y, c.b.emit1(OpKind::MaxPool2dBackward, {dy, x}, a)};
      });
    }
  }
}

TEST_CASE("parity: eltwise and activation backward", "[backend]") {
  Shape s{2, 16, 5, 6};
  struct U {
    OpKind op;
    bool positive;
    Attrs a;
  };
  for (const U& u : {U{OpKind::Neg, false, {}}, U{OpKind::Relu, false, {}}, U{OpKind::Sigmoid, false, {}},
                     U{OpKind::Tanh, false, {}}, U{OpKind::Exp, false, {}}, U{OpKind::Log, true, {}},
                     U{OpKind::Sqrt, true, {}}, U{OpKind::Square, false, {}}, U{OpKind::Abs, false, {}},
                     U{OpKind::Scale, false, Attrs{{"alpha", -0.7}, {"beta", 0.25}}}}) {
    op_case(u.op, "plain", [&](Case& c) {
      return c.b.emit(u.op, {u.positive ? c.in(s, 0.05, 3) : c.in(s, -3, 3)}, u.a);
    });
    op_case(u.op, "after conv", [&](Case& c) {
      ValueId x = c.in(s);
      return c.b.emit(u.op, {u.positive ? blocked_positive(c, x) : blocked(c, x)}, u.a);
    });
    op_case(u.op, "scalar and vector", [&](Case& c) {
      auto y = c.b.emit(u.op, {u.positive ? c.in({}, 0.1, 2) : c.in({})}, u.a);
      auto z = c.b.emit(u.op, {u.positive ? c.in({7}, 0.1, 2) : c.in({7})}, u.a);
      return std::vector<ValueId>{y[0], z[0]};
    });
  }
  // Backward forms: relu_backward reads x, sigmoid/tanh_backward read y.
  for (OpKind k : {OpKind::ReluBackward, OpKind::SigmoidBackward, OpKind::TanhBackward}) {
    OpKind fwd = k == OpKind::ReluBackward ? OpKind::Relu : k == OpKind::SigmoidBackward ? OpKind::Sigmoid : OpKind::Tanh;
    for (bool after_conv : {false, true})
      op_case(k, after_conv ? "after conv" : "plain", [&](Case& c) {
        ValueId x = after_conv ? blocked(c, c.in(s)) : c.in(s, -3, 3);
        ValueId saved = k == OpKind::ReluBackward ? x : c.b.emit1(fwd, {x});
        return c.b.emit(k, {c.in(s), saved});
      });
  }
}

TEST_CASE("parity: binary ops with broadcasting", "[backend]") {
  struct B {
    std::string name;
    Shape a, b;
    bool onednn;  // false: oneDNN's binary primitive cannot broadcast it (the CPU backend's elementwise kernels do)
  };
  std::vector<B> shapes = {
      {"same shape", {2, 16, 5, 5}, {2, 16, 5, 5}, true},
      {"per channel", {2, 16, 5, 5}, {16, 1, 1}, true},
      {"per sample and channel", {2, 16, 5, 5}, {2, 16, 1, 1}, true},
      {"matrix + row", {3, 4}, {4}, true},
      {"scalar", {3, 4}, {}, true},
      {"scalar and scalar", {}, {}, true},
      {"first operand broadcasts", {16, 1, 1}, {2, 16, 5, 5}, false},
      {"both broadcast", {3, 1}, {1, 4}, false},
  };
  for (OpKind k : {OpKind::Add, OpKind::Sub, OpKind::Mul, OpKind::Div, OpKind::Maximum, OpKind::Minimum, OpKind::Less}) {
    bool commutes = k == OpKind::Add || k == OpKind::Mul || k == OpKind::Maximum || k == OpKind::Minimum;
    for (const B& sh : shapes) {
      (void)commutes;
      Expect e = Expect::Onednn;  // every broadcast runs on the CPU backend (elementwise kernels when oneDNN cannot)
      op_case(k, sh.name, [&](Case& c) {
        ValueId b = k == OpKind::Div ? c.in(sh.b, 0.5, 2) : c.in(sh.b);
        return c.b.emit(k, {c.in(sh.a), b});
      }, e);
    }
    op_case(k, "blocked, per channel", [&](Case& c) {
      ValueId b = k == OpKind::Div ? c.in({1, 16, 1, 1}, 0.5, 2) : c.in({1, 16, 1, 1});
      return c.b.emit(k, {blocked(c, c.in({2, 16, 4, 4})), b});
    });
    op_case(k, "blocked and plain", [&](Case& c) {
      ValueId x = c.in({2, 16, 4, 4});  // a divisor far from 0
      return c.b.emit(k, {c.in({2, 16, 4, 4}), k == OpKind::Div ? blocked_positive(c, x) : blocked(c, x)});
    });
  }
}

TEST_CASE("parity: softmax and log-softmax", "[backend]") {
  for (OpKind k : {OpKind::Softmax, OpKind::LogSoftmax})
    for (int64_t axis : {-1, 0}) {
      Attrs a{{"axis", axis}};
      op_case(k, "axis " + std::to_string(axis), [&](Case& c) { return c.b.emit(k, {c.in({6, 10}, -4, 4)}, a); });
      OpKind bwd = k == OpKind::Softmax ? OpKind::SoftmaxBackward : OpKind::LogSoftmaxBackward;
      op_case(bwd, "axis " + std::to_string(axis), [&](Case& c) {
        ValueId y = c.b.emit1(k, {c.in({6, 10}, -4, 4)}, a);
        return c.b.emit(bwd, {c.in({6, 10}), y}, a);
      });
    }
  op_case(OpKind::Softmax, "4d over channels", [&](Case& c) {
    return c.b.emit(OpKind::Softmax, {c.in({2, 5, 3, 3})}, Attrs{{"axis", int64_t{1}}});
  });
}

TEST_CASE("parity: reductions", "[backend]") {
  struct R {
    std::string name;
    Shape s;
    Ints axes;
    int64_t keep;
    Expect e = Expect::Onednn;
  };
  for (OpKind k : {OpKind::ReduceSum, OpKind::ReduceMean, OpKind::ReduceMax}) {
    for (const R& r : {R{"spatial", {2, 16, 5, 5}, {2, 3}, 0}, R{"spatial keepdims", {2, 16, 5, 5}, {2, 3}, 1},
                       R{"batch", {4, 7}, {0}, 0, Expect::Any}, R{"last, negative", {3, 4, 5}, {-1}, 1},
                       R{"everything", {3, 4, 5}, {0, 1, 2}, 0}})
      op_case(k, r.name, [&](Case& c) {
        return c.b.emit(k, {c.in(r.s)}, Attrs{{"axes", r.axes}, {"keepdims", r.keep}});
      }, r.e);
    op_case(k, "global pool of a blocked activation", [&](Case& c) {
      return c.b.emit(k, {blocked(c, c.in({2, 16, 5, 5}))}, Attrs{{"axes", Ints{2, 3}}, {"keepdims", int64_t{0}}});
    });
  }
}

TEST_CASE("parity: concat, transpose, slice", "[backend]") {
  op_case(OpKind::Concat, "channels", [&](Case& c) {
    return c.b.emit(OpKind::Concat, {c.in({2, 3, 4, 4}), c.in({2, 5, 4, 4})}, Attrs{{"axis", int64_t{1}}});
  });
  op_case(OpKind::Concat, "axis 0, three inputs", [&](Case& c) {
    return c.b.emit(OpKind::Concat, {c.in({2, 6}), c.in({1, 6}), c.in({3, 6})}, Attrs{{"axis", int64_t{0}}});
  });
  op_case(OpKind::Concat, "blocked channels", [&](Case& c) {
    ValueId a = blocked(c, c.in({2, 16, 4, 4})), b = blocked(c, c.in({2, 32, 4, 4}));
    return c.b.emit(OpKind::Concat, {a, b}, Attrs{{"axis", int64_t{1}}});
  });
  op_case(OpKind::Concat, "blocked and plain", [&](Case& c) {
    ValueId a = blocked(c, c.in({2, 16, 4, 4}));
    return c.b.emit(OpKind::Concat, {a, c.in({2, 3, 4, 4})}, Attrs{{"axis", int64_t{1}}});
  });
  op_case(OpKind::Transpose, "3d", [&](Case& c) {
    return c.b.emit(OpKind::Transpose, {c.in({2, 3, 4})}, Attrs{{"perm", Ints{2, 0, 1}}});
  });
  op_case(OpKind::Transpose, "nchw to nhwc of a blocked input", [&](Case& c) {
    return c.b.emit(OpKind::Transpose, {blocked(c, c.in({2, 16, 3, 5}))}, Attrs{{"perm", Ints{0, 2, 3, 1}}});
  });
  op_case(OpKind::Slice, "channels", [&](Case& c) {
    return c.b.emit(OpKind::Slice, {c.in({2, 6, 3, 3})}, Attrs{{"axis", int64_t{1}}, {"begin", int64_t{1}}, {"end", int64_t{4}}});
  });
  op_case(OpKind::Slice, "rows of a blocked input", [&](Case& c) {
    return c.b.emit(OpKind::Slice, {blocked(c, c.in({2, 16, 5, 5}))},
                    Attrs{{"axis", int64_t{2}}, {"begin", int64_t{2}}, {"end", int64_t{5}}});
  });
}

TEST_CASE("parity: max pool backward reads its forward's workspace", "[backend]") {
  if (!onednn_built()) return;
  for (bool with_forward : {true, false}) {
    Case c(DType::F32, 7);
    Attrs a{{"kernel", Ints{3, 3}}, {"stride", Ints{2, 2}}, {"pad", Ints{1, 1, 1, 1}}};
    ValueId x = blocked(c, c.in({2, 16, 8, 8}));
    ValueId y = c.b.emit1(OpKind::MaxPool2d, {with_forward ? x : c.in({2, 16, 8, 8})}, a);
    ValueId dx = c.b.emit1(OpKind::MaxPool2dBackward, {c.b.mul(y, c.in(c.g.type(y).shape)), x}, a);
    c.g.outputs = {{"y", y}, {"dx", dx}};
    Executor ex(c.g);
    for (const Step& st : ex.plan().steps)
      if (st.kind == StepKind::Kernel && c.g.node(st.node).op == OpKind::MaxPool2dBackward) {
        INFO(st.kernel->describe());
        CHECK((st.kernel->describe().find("recompute") == std::string::npos) == with_forward);
      }
    compare_maps(interpret(c.g, c.feeds, c.ctx).outputs, ex.run(c.feeds, c.ctx), Tol{});
  }
}
