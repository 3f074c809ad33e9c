// The elementwise kernel machinery below the executor: a body lowered to an
// ew::Program and run directly through the portable evaluator (the path a
// build without LLVM takes) and through the JIT, both against the reference
// execution of the body, over flat and static-nest specs with vector tails,
// broadcasts and reductions; and the JIT's caches: a second compile of the
// same spec is a process-cache hit, and after forgetting the process cache
// it is loaded from the disk cache (no LLVM run), giving the same results.
#ifdef ACNN_HAVE_ONEDNN
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "backends/cpu/ew_interp.h"
#include "backends/cpu/ew_lower.h"
#include "compiler/ir/builder.h"
#include "compiler/ops/fused.h"
#ifdef ACNN_HAVE_LLVM
#include "backends/cpu/jit/jit.h"
#endif
#include "tests/catch.h"

using namespace acnn;
using namespace acnn::cpu;
using ir::OpKind;
using ir::ValueId;

namespace {

// A body: out0 = relu(x * s + c) - tanh(y) / (|c| + 1), out1 = sum over (0,2,3) of out0 * y,
// with x, y full [N,C,H,W], c per-channel [1,C,1,1], s a scalar.
std::shared_ptr<ir::Graph> body(const Shape& full, bool reduce) {
  auto g = std::make_shared<ir::Graph>();
  ir::Builder b(*g);
  int index = 0;
  auto in = [&](const Shape& s) {
    return b.emit1(OpKind::Input, {}, Attrs{{"name", "in" + std::to_string(index)}, {"index", int64_t{index++}},
                                             {"dtype", std::string("f32")}, {"shape", s}});
  };
  Shape ch(full.size(), 1);
  ch[1] = full[1];
  ValueId x = in(full), y = in(full), c = in(ch), s = in({});
  ValueId t = b.emit1(OpKind::Relu, {b.add(b.mul(x, s), c)});
  ValueId d = b.div(b.emit1(OpKind::Tanh, {y}), b.scale(b.emit1(OpKind::Abs, {c}), 1.0, 1.0));
  ValueId out = b.sub(t, d);
  g->outputs.push_back({"out0", out});
  if (reduce) g->outputs.push_back({"out1", b.reduce_sum(b.mul(out, y), {0, 2, 3}, true)});
  return g;
}

std::vector<Tensor> inputs(const Shape& full, uint64_t seed) {
  Shape ch(full.size(), 1);
  ch[1] = full[1];
  std::vector<Tensor> r{Tensor(DType::F32, full), Tensor(DType::F32, full), Tensor(DType::F32, ch), Tensor(DType::F32, {})};
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::uniform_real_distribution<float> u(-2, 2);
  for (Tensor& t : r)
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return r;
}

// Runs `fn` (or the evaluator when null) over the whole spec, single-threaded.
std::vector<Tensor> run_spec(const ew::Lowered& L, const ew::Spec& spec, ew::KernelFn fn, std::vector<Tensor>& ins,
                             const ir::Graph& g) {
  std::vector<Tensor> outs;
  for (const auto& [name, v] : g.outputs) outs.emplace_back(DType::F32, g.type(v).shape);
  std::vector<float*> bufs;
  for (Tensor& t : ins) bufs.push_back(t.data<float>());
  for (Tensor& t : outs) bufs.push_back(t.data<float>());
  REQUIRE(static_cast<int>(bufs.size()) == L.prog.num_bufs);
  for (size_t k = 0; k < outs.size(); ++k) {
    const ew::BufInfo& b = L.bufs[ins.size() + k];
    if (b.reduce) outs[k].fill(0.0);  // the caller initializes reductions
  }
  int64_t range = spec.nest.flat ? spec.nest.extent[0] : spec.nest.outer_size();
  // Two calls over halves of the range, as threads would make.
  if (fn) {
    fn(bufs.data(), 0, range / 2);
    fn(bufs.data(), range / 2, range);
  } else {
    ew::interpret(spec, bufs.data(), 0, range / 2);
    ew::interpret(spec, bufs.data(), range / 2, range);
  }
  return outs;
}

// |got - want| <= 1e-6 * max(1, max|want|) + tol * |want| elementwise.
void compare(const Tensor& want, const Tensor& got, double tol) {
  REQUIRE(want.numel() == got.numel());
  double scale = 1;
  for (int64_t i = 0; i < want.numel(); ++i) scale = std::max(scale, std::abs(want.at(i)));
  double worst = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    double w = want.at(i), d = std::abs(w - got.at(i)) / (1e-6 * scale + tol * std::abs(w));
    worst = std::max(worst, std::isfinite(d) ? d : 1e9);
  }
  CHECK(worst <= 1);
}

struct Built {
  std::shared_ptr<ir::Graph> g;
  ew::Lowered L;
  ew::Spec spec;
};

Built build(const Shape& full, bool reduce, bool flat) {
  Built r;
  r.g = body(full, reduce);
  std::string why;
  REQUIRE(ew::lower_body(*r.g, 4, &r.L, &why));
  r.spec.prog = r.L.prog;
  std::vector<bool> in_main(r.L.bufs.size(), false);
  for (size_t b = 0; b < r.L.bufs.size(); ++b) in_main[b] = !r.L.bufs[b].reduce && r.L.bufs[b].shape == r.L.space;
  r.spec.nest = flat ? ew::flat_nest(r.L) : ew::make_nest(r.L, ew::plain_dims(r.L.space), in_main);
  return r;
}

std::vector<Tensor> reference(const ir::Graph& g, std::vector<Tensor>& ins) {
  std::vector<Tensor> outs;
  for (const auto& [name, v] : g.outputs) outs.emplace_back(DType::F32, g.type(v).shape);
  std::vector<const Tensor*> ip;
  for (Tensor& t : ins) ip.push_back(&t);
  std::vector<Tensor*> op;
  for (Tensor& t : outs) op.push_back(&t);
  ExecContext ctx;
  ops::run_body_reference(g, ip, op, ctx);
  return outs;
}

}  // namespace

TEST_CASE("elementwise programs: the portable evaluator matches the reference (no-LLVM path)", "[unit]") {
  for (const Shape& full : std::vector<Shape>{{2, 5, 3, 7}, {3, 16, 1, 33}, {1, 1, 1, 1}})
    for (bool reduce : {false, true}) {
      Built b = build(full, reduce, false);
      INFO(shape_str(full) << " reduce " << reduce << ": " << b.spec.serialize());
      CHECK(b.spec.nest.flat == (numel(full) == 1));
      auto ins = inputs(full, 5);
      auto want = reference(*b.g, ins);
      auto got = run_spec(b.L, b.spec, nullptr, ins, *b.g);
      for (size_t k = 0; k < want.size(); ++k) compare(want[k], got[k], k ? 2e-4 : 1e-5);
    }
}

#ifdef ACNN_HAVE_LLVM
TEST_CASE("elementwise programs: JIT kernels match the reference, flat and nested, with tails", "[unit]") {
  for (const Shape& full : std::vector<Shape>{{2, 5, 3, 7}, {3, 16, 1, 33}, {1, 1, 1, 1}, {2, 32, 4, 4}})
    for (bool reduce : {false, true}) {
      Built b = build(full, reduce, false);
      INFO(shape_str(full) << " reduce " << reduce << ": " << b.spec.serialize());
      std::string err;
      ew::KernelFn fn = jit::compile(b.spec, &err);
      INFO(err);
      REQUIRE(fn);
      auto ins = inputs(full, 6);
      auto want = reference(*b.g, ins);
      auto got = run_spec(b.L, b.spec, fn, ins, *b.g);
      for (size_t k = 0; k < want.size(); ++k) compare(want[k], got[k], k ? 2e-4 : 2e-5);  // sums: another order
      auto interp = run_spec(b.L, b.spec, nullptr, ins, *b.g);
      for (size_t k = 0; k < want.size(); ++k) compare(interp[k], got[k], k ? 2e-4 : 2e-5);
    }
  // A flat spec (every operand full-size or a single element) serves any size.
  Shape s{1, 1, 1, 1037};
  auto g = std::make_shared<ir::Graph>();
  ir::Builder bb(*g);
  ValueId x = bb.emit1(OpKind::Input, {}, Attrs{{"name", "in0"}, {"index", int64_t{0}}, {"dtype", std::string("f32")}, {"shape", s}});
  ValueId y = bb.emit1(OpKind::Input, {}, Attrs{{"name", "in1"}, {"index", int64_t{1}}, {"dtype", std::string("f32")}, {"shape", Shape{}}});
  g->outputs.push_back({"out0", bb.emit1(OpKind::Sigmoid, {bb.mul(x, y)})});
  g->outputs.push_back({"out1", bb.reduce_sum(bb.emit1(OpKind::Exp, {x}), {0, 1, 2, 3}, false)});
  ew::Lowered L;
  REQUIRE(ew::lower_body(*g, 2, &L, nullptr));
  ew::Spec spec{L.prog, ew::flat_nest(L)};
  REQUIRE(spec.nest.flat);
  ew::KernelFn fn = jit::compile(spec);
  REQUIRE(fn);
  std::vector<Tensor> ins{Tensor(DType::F32, s), Tensor(DType::F32, {})};
  for (int64_t i = 0; i < ins[0].numel(); ++i) ins[0].data<float>()[i] = std::sin(0.1f * i) * 3;
  ins[1].data<float>()[0] = 1.5f;
  auto want = reference(*g, ins);
  auto got = run_spec(L, spec, fn, ins, *g);
  compare(want[0], got[0], 2e-5);
  compare(want[1], got[1], 1e-4);
}

TEST_CASE("JIT cache: process hits, then disk hits after forgetting, same code", "[unit]") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("acnn_jit_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string saved = jit::cache_dir();
  jit::set_cache_dir(dir.string());
  // A spec no other test compiles (its constant is unique to this test).
  Built b = build({2, 16, 3, 5}, true, false);
  b.spec.prog.code.push_back({ew::Op::Const, -1, -1, -1, 12345.f, 0.f});
  jit::Stats s0 = jit::stats();
  ew::KernelFn f1 = jit::compile(b.spec);
  REQUIRE(f1);
  jit::Stats s1 = jit::stats();
  CHECK(s1.compiled == s0.compiled + 1);
  CHECK(fs::exists(dir));
  int files = 0;
  for (auto& e : fs::directory_iterator(dir)) files += e.path().extension() == ".o";
  CHECK(files == 1);
  ew::KernelFn f2 = jit::compile(b.spec);
  jit::Stats s2 = jit::stats();
  CHECK(f2 == f1);
  CHECK(s2.memory_hits == s1.memory_hits + 1);
  CHECK(s2.compiled == s1.compiled);
  jit::forget_memory_cache();
  ew::KernelFn f3 = jit::compile(b.spec);
  jit::Stats s3 = jit::stats();
  REQUIRE(f3);
  CHECK(s3.disk_hits == s2.disk_hits + 1);
  CHECK(s3.compiled == s2.compiled);
  auto ins = inputs({2, 16, 3, 5}, 9);
  auto a = run_spec(b.L, b.spec, f1, ins, *b.g), c = run_spec(b.L, b.spec, f3, ins, *b.g);
  for (size_t k = 0; k < a.size(); ++k) CHECK(std::memcmp(a[k].raw(), c[k].raw(), a[k].bytes()) == 0);
  // A corrupted key file is a miss, not a wrong kernel.
  jit::forget_memory_cache();
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".key") std::ofstream(e.path()) << "something else";
  REQUIRE(jit::compile(b.spec));
  CHECK(jit::stats().compiled == s3.compiled + 1);
  jit::set_cache_dir(saved);
  fs::remove_all(dir);
}
#endif
#endif
