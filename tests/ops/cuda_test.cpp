// The CUDA backend on a GPU, against the reference interpreter. Every test
// tagged [cuda] skips (with the reason cudaGetDeviceCount gives) on machines
// without a usable GPU; scripts/device-check.sh runs them on the lent one.
//  - every op (and, for differentiable ops, the gradients of its inputs:
//    this exercises every backward kernel) in fp32 with tight tolerances,
//    and 4-D cases again in mixed bf16/fp16 with tolerances of those types;
//  - Fused nodes (elementwise, optimizer, batchnorm, conv) against the same
//    graph unfused;
//  - the runner: CUDA graph replay equals eager launches, two steps in
//    flight equal one at a time, persistent tensors round-trip;
//  - training: a Fashion-sized network on synthetic data, whose loss tracks
//    the CPU run step by step in fp32 and falls over a few hundred bf16 and
//    fp16 (loss-scaled) steps.
// Device selection without a GPU is tested here too, as [unit].
#include <cmath>
#include <cstring>
#include <functional>
#include <regex>
#include <set>

#include "compiler/autodiff/autodiff.h"
#include "compiler/elaborate/model_file.h"
#include "compiler/ir/op.h"
#include "compiler/train/train_graph.h"
#include "runtime/interpreter.h"
#include "runtime/runner.h"
#include "tests/catch.h"
#include "tests/ops/harness.h"
#include "tests/ops/cuda_cases.h"
#include "tests/ops/parity.h"
#include "tests/paths.h"
#include "tests/scoped_env.h"

using namespace acnn;
using namespace acnn::testing;
using ir::OpKind;
using ir::ValueId;
using Ints = std::vector<int64_t>;

#define REQUIRE_GPU()                                              \
  do {                                                             \
    std::string why_;                                              \
    if (!cuda_usable(&why_)) ACNN_SKIP("no CUDA device: " + why_); \
  } while (0)

namespace {

using acnn::testing::ScopedEnv;

std::unique_ptr<Runner> gpu_runner(const ir::Graph& g, const std::string& precision, bool graphs = true,
                                   uint64_t seed = 0) {
  RunnerOptions o;
  o.device = "cuda";
  o.precision = precision;
  o.cuda_graphs = graphs;
  o.seed = seed;
  return make_runner(g, o);
}

void check_op_cases(const std::string& precision, Tol tol, bool only_4d) {
  for (const OpCase& oc : op_cases()) {
    Case c(DType::F32, 11);
    c.ctx.seed = 5;
    c.ctx.step = 3;
    c.ctx.scalars["lr"] = 0.25f;
    build_case(c, oc);
    if (only_4d) {
      bool any4 = false;
      for (const Case::Input& in : c.inputs) any4 = any4 || c.g.type(in.v).shape.size() == 4;
      if (!any4) continue;
    }
    INFO(oc.name << " (" << precision << ")");
    std::map<std::string, Tensor> want = interpret(c.g, c.feeds, c.ctx).outputs;
    auto r = gpu_runner(c.g, precision);
    INFO(r->dump_plan());
    ExecContext ctx = c.ctx;
    std::map<std::string, Tensor> got = r->run(c.feeds, ctx);
    const double k = precision == "fp32" ? 1.0 : oc.half_tol;
    compare_maps(want, got, Tol{tol.rtol * k, tol.atol * k});
  }
}

}  // namespace

TEST_CASE("device selection without a GPU: auto means the CPU, cuda explains", "[unit]") {
  std::string why;
  if (cuda_usable(&why)) {
    CHECK(resolve_device("auto") == "cuda");
    CHECK(resolve_device("cuda") == "cuda");
  } else {
    CHECK(resolve_device("auto") == "cpu");
    try {
      resolve_device("cuda");
      FAIL("resolve_device(\"cuda\") should throw without a GPU");
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()).rfind("no CUDA device: ", 0) == 0);
      if (cuda_built()) CHECK(std::string(e.what()).find("cudaGetDeviceCount says") != std::string::npos);
    }
  }
  CHECK(resolve_device("cpu") == "cpu");
  CHECK_THROWS(resolve_device("tpu"));
}

TEST_CASE("CUDA: every op and its gradients match the reference in fp32", "[cuda]") {
  REQUIRE_GPU();
  check_op_cases("fp32", Tol{2e-4, 2e-5}, false);
}

TEST_CASE("CUDA: 4-D ops in mixed bf16 and fp16 match the reference within their precision", "[cuda]") {
  REQUIRE_GPU();
  check_op_cases("mixed_bf16", Tol{4e-2, 4e-2}, true);
  check_op_cases("mixed_fp16", Tol{5e-3, 5e-3}, true);
}

TEST_CASE("CUDA: random_uniform draws the CPU's numbers bit for bit", "[cuda]") {
  REQUIRE_GPU();
  ir::Graph g;
  ir::Builder b(g);
  ValueId r = b.emit1(OpKind::RandomUniform, {}, Attrs{{"shape", Ints{3, 5, 6, 7}}, {"dtype", std::string("f32")}, {"stream", int64_t{3}}});
  g.outputs.push_back({"r", r});
  ExecContext ctx;
  ctx.seed = 42;
  ctx.step = 1234567;
  Tensor want = interpret(g, {}, ctx).outputs.at("r");
  Tensor got = gpu_runner(g, "fp32")->run({}, ctx).at("r");
  REQUIRE(want.numel() == got.numel());
  CHECK(std::memcmp(want.raw(), got.raw(), want.bytes()) == 0);
}

// ---------------------------------------------------------------- fused nodes

namespace {

}  // namespace

TEST_CASE("CUDA: fused nodes of every kind match the same graph unfused", "[cuda]") {
  REQUIRE_GPU();
  auto g = small_train_graph();
  auto fused = g->clone();
  // elementwise: every relu(add(...)); optimizer: each parameter's update
  // chain; batchnorm: bn_train with its add and relu; conv: conv + following op.
  int made = 0;
  for (bool again = true; again;) {
    again = false;
    std::vector<std::vector<ir::NodeId>> users = fused->users();
    for (ir::NodeId id = 0; id < static_cast<ir::NodeId>(fused->num_nodes()); ++id) {
      const ir::Node& n = fused->node(id);
      if (n.dead || n.op != OpKind::Relu) continue;
      ir::NodeId p = fused->value(n.inputs[0]).producer;
      if (fused->node(p).op != OpKind::Add || users[fused->node(p).outputs[0]].size() != 1) continue;
      fuse(*fused, {p, id}, "elementwise");
      ++made, again = true;
      break;
    }
  }
  std::vector<std::string> params;  // by name: fusing renumbers the graph
  for (ir::NodeId id : fused->persistent_nodes())
    if (fused->node(id).op == OpKind::Param) params.push_back(fused->node(id).attrs.s("name"));
  for (const std::string& name : params) {
    // The update chain: nodes in the optimizer scope of this parameter.
    std::vector<ir::NodeId> chain;
    for (ir::NodeId id = 0; id < static_cast<ir::NodeId>(fused->num_nodes()); ++id) {
      const ir::Node& n = fused->node(id);
      if (!n.dead && n.scope == "optimizer." + name && ir::is_elementwise(n.op)) chain.push_back(id);
    }
    if (chain.size() > 1) {
      fuse(*fused, chain, "optimizer");
      ++made;
    }
  }
  for (ir::NodeId id = 0; id < static_cast<ir::NodeId>(fused->num_nodes()); ++id) {
    const ir::Node& n = fused->node(id);
    if (n.dead || n.op != OpKind::Conv2d) continue;
    fuse(*fused, {id}, "conv");
    ++made;
    break;
  }
  for (ir::NodeId id = 0; id < static_cast<ir::NodeId>(fused->num_nodes()); ++id) {
    const ir::Node& n = fused->node(id);
    if (n.dead || n.op != OpKind::BatchNormTrain) continue;
    fuse(*fused, {id}, "batchnorm");
    ++made;
    break;
  }
  REQUIRE(made >= 4);
  auto feeds = small_feeds();
  ExecContext ctx;
  ctx.scalars["lr"] = 0.1f;
  ctx.seed = 0;
  std::map<std::string, Tensor> want = interpret(*g, feeds, ctx).outputs;
  for (const char* precision : {"fp32", "mixed_bf16"}) {
    INFO(precision);
    auto plain = gpu_runner(*g, precision), fz = gpu_runner(*fused, precision);
    INFO(fz->dump_plan());
    ExecContext c1 = ctx, c2 = ctx;
    auto a = plain->run(feeds, c1), b = fz->run(feeds, c2);
    Tol tol = std::string(precision) == "fp32" ? Tol{2e-4, 2e-5} : Tol{4e-2, 4e-2};
    compare_maps(want, b, tol);
    compare_maps(a, b, tol);
    for (const std::string& name : plain->persistent_names())
      compare_tensors(name, plain->get_persistent(name), fz->get_persistent(name), tol);
  }
}

// ---------------------------------------------------------------- the runner

TEST_CASE("CUDA runner: graph replay, two steps in flight and eager launches agree", "[cuda]") {
  REQUIRE_GPU();
  auto g = small_train_graph();
  auto feeds = small_feeds();
  // Measured cuDNN searches even for these small problems (by default,
  // problems under 100 MFLOP take the heuristics).
  std::unique_ptr<Runner> eager, replay, piped;
  {
    ScopedEnv measure_all("ACNN_CUDNN_FIND_MIN_MFLOP", "0");
    eager = gpu_runner(*g, "mixed_bf16", /*graphs=*/false);
    replay = gpu_runner(*g, "mixed_bf16", true);
    piped = gpu_runner(*g, "mixed_bf16", true);
  }
  ExecContext ctx;
  ctx.scalars["lr"] = 0.05f;
  std::vector<float> le, lr, lp;
  for (int s = 0; s < 6; ++s) {
    ctx.step = s;
    le.push_back(eager->run(feeds, ctx).at("loss").data<float>()[0]);
    lr.push_back(replay->run(feeds, ctx).at("loss").data<float>()[0]);
  }
  for (int s = 0; s < 6; ++s) {
    ctx.step = s;
    piped->submit(feeds, ctx);
    if (s > 0) lp.push_back(piped->wait().at("loss").data<float>()[0]);
  }
  lp.push_back(piped->wait().at("loss").data<float>()[0]);
  CHECK(le == lr);  // same kernels, same order: bit for bit
  CHECK(le == lp);
  // The compile report: a later runner of the graph takes every convolution
  // algorithm from the first one's choices, which were measured (now or in
  // an earlier run, from the disk cache).
  auto counts = [](const std::string& report) {
    std::smatch m;
    REQUIRE(std::regex_search(report, m, std::regex(R"(\((\d+) problems searched, (\d+) from the disk cache, (\d+) shared, (\d+) small ones by heuristics\))")));
    return std::vector<int>{std::stoi(m[1]), std::stoi(m[2]), std::stoi(m[3]), std::stoi(m[4])};
  };
  INFO(eager->compile_report() << "\n" << replay->compile_report());
  const std::vector<int> first = counts(eager->compile_report()), later = counts(replay->compile_report());
  CHECK(later[0] + later[1] + later[3] == 0);
  CHECK(later[2] == first[0] + first[1] + first[2] + first[3]);
  CHECK(later[2] >= 3);
  CHECK(first[3] == 0);

  // Profiling times every kernel of the steps after the first and sets each
  // kind against the plan's floor.
  RunnerOptions po;
  po.device = "cuda";
  po.precision = "mixed_bf16";
  po.profile = true;
  auto profiled = make_runner(*g, po);
  CHECK(profiled->time_report(5).find("no per-kernel times") != std::string::npos);
  for (int s = 0; s < 3; ++s) {
    ctx.step = s;
    profiled->run(feeds, ctx);
  }
  const std::string report = profiled->time_report(5);
  INFO(report);
  CHECK(report.find("per step ") != std::string::npos);
  CHECK(report.find("x floor") != std::string::npos);
  CHECK(report.find("generated elementwise") != std::string::npos);
  CHECK(report.find("weight casts (one launch)") != std::string::npos);
  CHECK(report.find("slowest kernels") != std::string::npos);
  CHECK(le.back() < le.front());
  for (const std::string& name : eager->persistent_names())
    compare_tensors(name, eager->get_persistent(name), replay->get_persistent(name), Tol{0, 0});
}

TEST_CASE("CUDA runner: persistent tensors round-trip and changes reach the next step", "[cuda]") {
  REQUIRE_GPU();
  auto g = small_train_graph();
  auto r = gpu_runner(*g, "mixed_bf16");
  for (const std::string& name : r->persistent_names()) {
    Tensor t = r->get_persistent(name);
    for (int64_t i = 0; i < t.numel(); ++i) t.set(i, 0.01 * static_cast<double>(i % 17) - 0.05);
    r->set_persistent(name, t);
    compare_tensors(name, t, r->get_persistent(name), Tol{0, 0});
  }
  // The CPU and the GPU start from the same weights: the first loss agrees.
  RunnerOptions co;
  co.device = "cpu";
  auto cpu = make_runner(*g, co);
  for (const std::string& name : r->persistent_names()) cpu->set_persistent(name, r->get_persistent(name));
  auto feeds = small_feeds();
  ExecContext ctx;
  ctx.scalars["lr"] = 0.05f;
  double a = cpu->run(feeds, ctx).at("loss").at(0), b = r->run(feeds, ctx).at("loss").at(0);
  CHECK(std::fabs(a - b) < 2e-2 * std::max(1.0, std::fabs(a)));
}

TEST_CASE("CUDA runner: a 20 MB feed arrives whole (staged into pinned memory on several threads)", "[cuda]") {
  REQUIRE_GPU();
  // Over 16 MB a feed is copied in 4 MB chunks in parallel; 20 MB + 12 bytes
  // leaves a short last chunk.
  ir::Graph g;
  ir::Builder b(g);
  const int64_t n = 5 * 1024 * 1024 + 3;
  ValueId x = b.input("x", {DType::F32, {n}});
  g.outputs.push_back({"y", b.scale(x, 1.0, 1.0)});
  Tensor feed(DType::F32, {n});
  for (int64_t i = 0; i < n; ++i) feed.set(i, static_cast<double>(i % 1000003));
  auto r = gpu_runner(g, "fp32");
  ExecContext ctx;
  Tensor y = r->run({{"x", feed}}, ctx).at("y");
  REQUIRE(y.numel() == n);
  int64_t wrong = 0;
  for (int64_t i = 0; i < n; ++i) wrong += y.at(i) != static_cast<double>(i % 1000003) + 1.0;
  CHECK(wrong == 0);
}

// ---------------------------------------------------------------- training

namespace {

// Fashion-MNIST-shaped synthetic data: each class a fixed stroke pattern
// plus noise, so that the network can learn it.
std::map<std::string, Tensor> fashion_batch(int64_t n, int64_t step) {
  Tensor x(DType::F32, {n, 1, 28, 28}), y(DType::I32, {n});
  for (int64_t i = 0; i < n; ++i) {
    int64_t k = static_cast<int64_t>(counter_hash(3, step, 1, i) % 10);
    y.data<int32_t>()[i] = static_cast<int32_t>(k);
    for (int64_t h = 0; h < 28; ++h)
      for (int64_t w = 0; w < 28; ++w) {
        double pattern = std::sin(0.3 * (k + 1) * h + 0.2 * w * (k % 3)) > 0.2 ? 1.0 : -0.5;
        double noise = uniform01(counter_hash(3, step, 2, (i * 28 + h) * 28 + w)) - 0.5;
        x.data<float>()[(i * 28 + h) * 28 + w] = static_cast<float>(pattern + noise);
      }
  }
  return {{"image", x}, {"labels", y}};
}

std::unique_ptr<ir::Graph> fashion_train_graph(int64_t batch, bool loss_scaling, const std::string& model = "baseline") {
  ModelFile mf;
  REQUIRE(mf.load(acnn::testing::source_dir() + "/models/fashion/" + model + ".acnn"));
  auto fwd = mf.build(batch);
  REQUIRE(fwd);
  Recipe r = recipe_from_value(*mf.recipe());
  TrainGraphOptions o = TrainGraphOptions::from(r);
  o.loss_scaling = loss_scaling;
  return build_train_graph(*fwd, o);
}

std::vector<double> train_losses(Runner& r, int steps, int64_t batch, float lr) {
  std::vector<double> losses;
  ExecContext ctx;
  ctx.scalars = {{"lr", lr}, {"dropblock_keep", 1.0f}, {"mixup_lambda", 1.0f}};
  for (int s = 0; s < steps; ++s) {
    ctx.step = s;
    losses.push_back(r.run(fashion_batch(batch, s), ctx).at("loss").at(0));
  }
  return losses;
}

double mean_of(const std::vector<double>& v, size_t from, size_t to) {
  double s = 0;
  for (size_t i = from; i < to; ++i) s += v[i];
  return s / static_cast<double>(to - from);
}

}  // namespace

TEST_CASE("CUDA training: a Fashion network's fp32 steps match the CPU's from the same state", "[cuda]") {
  REQUIRE_GPU();
  // The baseline, and the Assemble model (selective kernels: pools joined to
  // their regions, the halves' gradients stored into their concatenation).
  const std::string model = GENERATE(std::string("baseline"), std::string("assemble"));
  INFO(model);
  const int64_t batch = model == "baseline" ? 16 : 8;
  const int steps = model == "baseline" ? 12 : 3;
  auto g = fashion_train_graph(batch, false, model);
  RunnerOptions co;
  co.device = "cpu";
  auto cpu = make_runner(*g, co);
  auto gpu = gpu_runner(*g, "fp32");
  // Each step starts both runners from the CPU's state, so that differences
  // cannot compound: training at this rate is chaotic (a max-pool or ReLU
  // decision that flips on a rounding difference changes the next steps).
  ExecContext ctx;
  ctx.scalars = {{"lr", 0.05f}, {"dropblock_keep", 1.0f}, {"mixup_lambda", 1.0f}};
  for (int s = 0; s < steps; ++s) {
    INFO("step " << s);
    for (const std::string& name : cpu->persistent_names()) gpu->set_persistent(name, cpu->get_persistent(name));
    ctx.step = s;
    const auto feeds = fashion_batch(batch, s);
    const double a = cpu->run(feeds, ctx).at("loss").at(0), b = gpu->run(feeds, ctx).at("loss").at(0);
    CHECK(std::fabs(a - b) <= 1e-5 * std::max(1.0, std::fabs(a)));
    // The updated state: parameters move by lr times a gradient, momentum is
    // the gradient itself. Gradients are compared to within 5% of their
    // tensor's largest element: a near-tie in a max pool or a ReLU at zero may
    // route a few contributions differently, but a wrong rule is off by far more.
    for (const std::string& name : cpu->persistent_names()) {
      const bool gradient_like = name.size() > 9 && name.compare(name.size() - 9, 9, ".momentum") == 0;
      compare_tensors(name, cpu->get_persistent(name), gpu->get_persistent(name),
                      gradient_like ? Tol{0, 5e-2} : Tol{0, 1e-4});
    }
  }
}

TEST_CASE("CUDA training: a few hundred mixed-precision steps learn (bf16, and fp16 with loss scaling)", "[cuda]") {
  REQUIRE_GPU();
#ifdef ACNN_CUDA_EMULATED
  const int64_t batch = 32;  // the host emulator (tests/sim) takes about half a second per step
  const int steps = 30;
#else
  const int64_t batch = 64;
  const int steps = 300;
#endif
  for (const char* precision : {"mixed_bf16", "mixed_fp16"}) {
    INFO(precision);
    const bool fp16 = std::string(precision) == "mixed_fp16";
    auto g = fashion_train_graph(batch, fp16);
    auto ref = fashion_train_graph(batch, false);
    auto gpu = gpu_runner(*g, precision), gpu32 = gpu_runner(*ref, "fp32");
    // The convolutions' half-precision weights: one cast launch per step.
    const std::string plan = gpu->dump_plan();
    CHECK(plan.find("cuda:cast_group x") != std::string::npos);
    size_t converts = 0;
    for (size_t at = plan.find("nvrtc:convert"); at != std::string::npos; at = plan.find("nvrtc:convert", at + 1)) ++converts;
    CHECK(converts == 1);  // the image feed's
    for (const std::string& name : gpu32->persistent_names()) gpu->set_persistent(name, gpu32->get_persistent(name));
    std::vector<double> l = train_losses(*gpu, steps, batch, 0.05f), l32 = train_losses(*gpu32, steps, batch, 0.05f);
    for (double x : l) REQUIRE(std::isfinite(x));
    const double first = mean_of(l, 0, 10), last = mean_of(l, steps - 10, steps), last32 = mean_of(l32, steps - 10, steps);
    INFO("first " << first << ", last " << last << ", fp32 last " << last32);
    CHECK(last < 0.5 * first);
    CHECK(std::fabs(last - last32) < 0.15 * first);  // tracks the fp32 run
  }
}

TEST_CASE("CUDA training: an fp16 step whose gradients overflow leaves the parameters alone", "[cuda]") {
  REQUIRE_GPU();
  // The gradient check and the update may run on different streams; the
  // update must still see the check's verdict (the status block orders them).
  const int64_t batch = 8;
  auto g = fashion_train_graph(batch, true);
  auto gpu = gpu_runner(*g, "mixed_fp16");
  ExecContext ctx;
  ctx.scalars = {{"lr", 0.05f}, {"dropblock_keep", 1.0f}, {"mixup_lambda", 1.0f}};
  for (int s = 0; s < 4; ++s) {  // both buffer parities captured and replayed
    ctx.step = s;
    REQUIRE(std::isfinite(gpu->run(fashion_batch(batch, s), ctx).at("loss").at(0)));
  }
  // Parameters and their momenta (running statistics are not the optimizer's).
  std::map<std::string, Tensor> before;
  for (const std::string& name : gpu->persistent_names())
    if (gpu->has_persistent(name + ".momentum") || name.find(".momentum") != std::string::npos)
      before[name] = gpu->get_persistent(name);
  REQUIRE(before.size() >= 4);
  auto feeds = fashion_batch(batch, 4);
  Tensor& image = feeds.at("image");
  for (int64_t i = 0; i < image.numel(); ++i) image.data<float>()[i] *= 1e6f;  // beyond fp16: infinite activations
  ctx.step = 4;
  gpu->run(feeds, ctx);
  for (const auto& [name, t] : before) {
    INFO(name);
    const Tensor after = gpu->get_persistent(name);
    int64_t changed = 0;
    for (int64_t i = 0; i < t.numel(); ++i) changed += !(after.at(i) == t.at(i));
    CHECK(changed == 0);
  }
  ctx.step = 5;
  CHECK(std::isfinite(gpu->run(fashion_batch(batch, 5), ctx).at("loss").at(0)));
}

TEST_CASE("CUDA training: kernels on two streams compute what one stream does", "[cuda]") {
  REQUIRE_GPU();
  // The Assemble model has the most independent branches (selective
  // kernels, Big-Little, downsampling, DropBlock masks).
  const int64_t batch = 4;
  auto g = fashion_train_graph(batch, false, "assemble");
  std::unique_ptr<Runner> one, two;
  {
    ScopedEnv single("ACNN_CUDA_STREAMS", "1");
    one = gpu_runner(*g, "fp32");
  }
  {
    ScopedEnv both("ACNN_CUDA_STREAMS", nullptr);
    two = gpu_runner(*g, "fp32");
  }
  CHECK(one->compile_report().find("; 1 compute stream") != std::string::npos);
  CHECK(two->compile_report().find("; 2 compute streams") != std::string::npos);
  for (const std::string& name : one->persistent_names()) two->set_persistent(name, one->get_persistent(name));
  ExecContext ctx;
  ctx.scalars = {{"lr", 0.05f}, {"dropblock_keep", 0.9f}, {"mixup_lambda", 1.0f}};
  for (int s = 0; s < 4; ++s) {  // eager, then graphs of both buffer parities
    INFO("step " << s);
    ctx.step = s;
    const auto feeds = fashion_batch(batch, s);
    const double a = one->run(feeds, ctx).at("loss").at(0), b = two->run(feeds, ctx).at("loss").at(0);
    CHECK(std::fabs(a - b) <= 1e-6 * std::max(1.0, std::fabs(a)));
  }
  for (const std::string& name : one->persistent_names()) compare_tensors(name, one->get_persistent(name), two->get_persistent(name), Tol{0, 1e-5});
}
