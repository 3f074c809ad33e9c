// The CUDA backend's generated kernels, run on the CPU (cuda_sim.h): for
// every generated unit of a device plan (elementwise regions, Fused bodies,
// gathers, multi-tensor update groups) and the format conversions, the
// unit's inputs as the reference interpreter computed them are stored in the
// unit's formats (NHWC, bf16/fp16 under mixed precision), the kernel runs,
// and its outputs must equal the interpreter's. This checks the code the GPU
// will run without a GPU; only the library kernels (cuDNN, cuBLASLt,
// kernels.cu) and the runner's device plumbing are left to [cuda] tests.
#ifdef ACNN_HAVE_CUDA
#include <cmath>
#include <cstring>

#include "backends/cuda/codegen.h"
#include "backends/cuda/device_abi.h"
#include "backends/cuda/lowering.h"
#include "compiler/elaborate/model_file.h"
#include "compiler/ir/op.h"
#include "compiler/passes/pipeline.h"
#include "compiler/train/train_graph.h"
#include "runtime/interpreter.h"
#include "tests/catch.h"
#include "tests/graph_test_util.h"
#include "tests/ops/cuda_cases.h"
#include "tests/ops/cuda_sim.h"
#include "tests/ops/parity.h"

using namespace acnn;
using namespace acnn::cuda;
using namespace acnn::testing;

namespace {

struct Job {
  GenKernel k;
  const Unit* unit;
  std::vector<ir::ValueId> in, out;
  std::vector<Format> in_fmt, out_fmt;
  std::vector<int> code_of;  // update groups: each member's code
};

struct SimResult {
  int units = 0, compared = 0;
  int vectorized = 0;  // regions generated in the 16-byte vector form
  int slice_views = 0, pad_views = 0;  // region inputs read through a slice / zero pad
  int reductions = 0;                  // reducing regions
  int concat_parts = 0;                // outputs stored into a concatenation
};

// Every value of g on the reference kernels; Fused nodes by interpreting
// their bodies (body Inputs are named "in<i>", outputs "out<k>").
std::vector<Tensor> reference_values(const ir::Graph& g, const std::map<std::string, Tensor>& feeds, ExecContext& ctx) {
  std::vector<Tensor> values(g.num_values());
  for (const ir::Node& n : g.nodes()) {
    if (n.dead) continue;
    if (n.op == ir::OpKind::Input || n.op == ir::OpKind::Param || n.op == ir::OpKind::State) {
      auto it = feeds.find(n.attrs.s("name"));
      values[n.outputs[0]] = it != feeds.end() ? it->second : init_persistent(n, g.type(n.outputs[0]).dtype, ctx.seed);
      continue;
    }
    if (n.op == ir::OpKind::Fused) {
      std::map<std::string, Tensor> body_feeds;
      for (size_t i = 0; i < n.inputs.size(); ++i) body_feeds["in" + std::to_string(i)] = values[n.inputs[i]];
      std::map<std::string, Tensor> outs = interpret(*n.body, body_feeds, ctx).outputs;
      for (size_t k = 0; k < n.outputs.size(); ++k) values[n.outputs[k]] = outs.at(n.body->outputs[k].first);
      continue;
    }
    std::vector<const Tensor*> ins;
    for (ir::ValueId v : n.inputs) ins.push_back(&values[v]);
    std::vector<Tensor*> outs;
    for (ir::ValueId v : n.outputs) {
      values[v] = Tensor(g.type(v).dtype, g.type(v).shape);
      outs.push_back(&values[v]);
    }
    ir::op_def(n.op).ref(n, ins, outs, ctx);
  }
  return values;
}

// A tensor as it reads back after being stored in format f.
Tensor stored(const Tensor& t, const Format& f) {
  std::vector<uint8_t> b = host_from_plain(t, f);
  return host_to_plain(b.data(), t.shape(), f, t.dtype());
}

// The unit's outputs on the reference kernels, from inputs as stored in
// their formats (so both sides see the same rounded inputs).
std::map<ir::ValueId, Tensor> unit_reference(const ir::Graph& g, const Unit& u, const std::map<ir::ValueId, Tensor>& inputs,
                                             ExecContext& ctx) {
  std::map<ir::ValueId, Tensor> vals = inputs;
  auto run_node = [&](const ir::Node& n, std::map<ir::ValueId, Tensor>& v, const ir::Graph& gg) {
    std::vector<const Tensor*> ins;
    for (ir::ValueId x : n.inputs) ins.push_back(&v.at(x));
    std::vector<Tensor*> outs;
    for (ir::ValueId x : n.outputs) {
      v[x] = Tensor(gg.type(x).dtype, gg.type(x).shape);
      outs.push_back(&v[x]);
    }
    ir::op_def(n.op).ref(n, ins, outs, ctx);
  };
  if (u.kind == UnitKind::FusedRegion) {
    const ir::Node& f = g.node(u.nodes[0]);
    std::map<std::string, Tensor> body_feeds;
    for (size_t i = 0; i < f.inputs.size(); ++i) body_feeds["in" + std::to_string(i)] = inputs.at(f.inputs[i]);
    std::map<std::string, Tensor> outs = interpret(*f.body, body_feeds, ctx).outputs;
    for (size_t k = 0; k < f.outputs.size(); ++k) vals[f.outputs[k]] = outs.at(f.body->outputs[k].first);
    return vals;
  }
  for (ir::NodeId id : u.input_view)  // slices and pads the region reads through
    if (id >= 0 && !vals.count(g.node(id).outputs[0])) run_node(g.node(id), vals, g);
  for (ir::NodeId id : u.inlined) run_node(g.node(id), vals, g);
  for (ir::NodeId id : u.nodes) run_node(g.node(id), vals, g);
  return vals;
}

// Runs every generated unit of `d` on the host and compares its outputs with
// the interpreter's values of the same graph.
SimResult simulate(const DevicePlan& d, const std::map<std::string, Tensor>& feeds, ExecContext ctx, Tol tol) {
  const ir::Graph& g = *d.graph;
  struct {
    std::vector<Tensor> values;
  } ref{reference_values(g, feeds, ctx)};
  ScalarIndex sc;
  for (const ir::Node& n : g.nodes())
    if (!n.dead && n.op == ir::OpKind::RuntimeScalar && !sc.count(n.attrs.s("name")))
      sc[n.attrs.s("name")] = static_cast<int>(sc.size());
  auto fmts = [&](const std::vector<ir::ValueId>& vs) {
    std::vector<Format> r;
    for (ir::ValueId v : vs) r.push_back(d.formats.preferred[v]);
    return r;
  };
  std::vector<Job> jobs;
  std::string src = prelude();
  int vectorized = 0, slice_views = 0, pad_views = 0;
  int k = 0;
  for (const Unit& u : d.units.units) {
    std::string name = "sim" + std::to_string(k++);
    Job j;
    j.unit = &u;
    if (u.kind == UnitKind::Region || u.kind == UnitKind::FusedRegion) {
      j.in = u.inputs, j.out = u.outputs;
      j.k = gen_region(g, u, fmts(j.in), fmts(j.out), sc, name);
    } else if (u.kind == UnitKind::ReducingRegion) {
      j.in = u.inputs, j.out = u.outputs;
      j.k = gen_reducing_region(g, u, fmts(j.in), fmts(j.out), sc, name);
    } else if (u.kind == UnitKind::UpdateGroup) {
      std::vector<Format> in = fmts(unit_inputs(u)), out = fmts(unit_outputs(u));
      j.k = gen_update_group(g, update_codes(g, u, &in, &out, &j.code_of), sc, false, name);
    } else if (u.kind == UnitKind::Node && gather_op(g.node(u.nodes[0]).op)) {
      j.in = u.inputs, j.out = u.outputs;
      j.k = gen_gather(g, g.node(u.nodes[0]), fmts(j.in), d.formats.preferred[j.out[0]], name);
    } else {
      continue;
    }
    j.in_fmt = fmts(j.in), j.out_fmt = fmts(j.out);
    vectorized += j.k.source.find("acnn_vec<") != std::string::npos;
    for (ir::NodeId v : u.input_view)
      if (v >= 0) ++(g.node(v).op == ir::OpKind::Slice ? slice_views : pad_views);
    src += j.k.source;
    jobs.push_back(std::move(j));
  }
  // A conversion of every 4-D float value: plain f32 -> its format -> plain f32.
  std::vector<std::pair<ir::ValueId, std::string>> conv;
  for (size_t v = 0; v < g.num_values(); ++v) {
    const ir::ValueType& t = g.type(static_cast<ir::ValueId>(v));
    if (t.shape.size() != 4 || t.dtype != DType::F32 || !ref.values[v].defined() || conv.size() >= 4) continue;
    std::string name = "simcvt" + std::to_string(conv.size());
    src += gen_convert(t.shape, Format{DType::F32, DevLayout::Plain}, d.formats.preferred[v], name + "a").source;
    src += gen_convert(t.shape, d.formats.preferred[v], Format{DType::F32, DevLayout::Plain}, name + "b").source;
    conv.emplace_back(static_cast<ir::ValueId>(v), name);
  }
  HostSim sim(src);
  AcnnParams P{};
  P.seed = ctx.seed;
  P.step = ctx.step;
  P.training = ctx.training;
  for (const auto& [nm, idx] : sc) P.scalars[idx] = ctx.scalars.count(nm) ? ctx.scalars.at(nm) : 1.0f;
  AcnnStatus S{};
  S.loss_scale = 1.0f;
  SimResult res;
  res.vectorized = vectorized;
  res.slice_views = slice_views, res.pad_views = pad_views;
  auto device_copy = [&](ir::ValueId v, const Format& f) {
    const Tensor& t = ref.values[v];
    REQUIRE(t.defined());
    return host_from_plain(t, f);
  };
  std::map<ir::ValueId, Tensor> want;  // the current unit's reference outputs
  auto compare = [&](ir::ValueId v, const std::vector<uint8_t>& bytes, const Format& f, const std::string& what) {
    const ir::ValueType& t = g.type(v);
    Tensor got = host_to_plain(bytes.data(), t.shape, f, t.dtype);
    compare_tensors(what, want.count(v) ? want.at(v) : ref.values[v], got, tol);
    ++res.compared;
  };
  auto reference_of = [&](const Unit& m, const std::vector<ir::ValueId>& ins) {
    std::map<ir::ValueId, Tensor> stored_in;
    for (ir::ValueId v : ins) stored_in[v] = stored(ref.values[v], d.formats.preferred[v]);
    for (auto& [v, t] : unit_reference(g, m, stored_in, ctx)) want[v] = t;
  };
  for (Job& j : jobs) {
    const Unit& u = *j.unit;
    std::string label = j.k.name + " " + (u.nodes.empty() ? "source" : ir::op_name(g.node(u.nodes[0]).op));
    INFO("unit " << label << "\n" << j.k.source);
    ++res.units;
    want.clear();
    if (u.kind == UnitKind::UpdateGroup) {
      for (const Unit& m : u.members) reference_of(m, m.inputs);
      // Table of members: inputs then outputs; one block per chunk.
      std::vector<std::vector<uint8_t>> bufs;
      std::vector<AcnnItem> items;
      std::vector<AcnnChunk> chunks;
      std::vector<std::pair<ir::ValueId, size_t>> outs;  // value, buffer index
      for (const Unit& m : u.members) {
        AcnnItem it{};
        it.pad = static_cast<unsigned long long>(j.code_of[items.size()]);
        int p = 0;
        for (ir::ValueId v : m.inputs) bufs.push_back(device_copy(v, d.formats.preferred[v]));
        size_t first = bufs.size() - m.inputs.size();
        for (ir::ValueId v : m.outputs) {
          bufs.emplace_back(format_bytes(g.type(v).shape, d.formats.preferred[v]));
          outs.emplace_back(v, bufs.size() - 1);
        }
        for (size_t i = first; i < bufs.size(); ++i) it.ptr[p++] = bufs[i].data();
        it.n = static_cast<unsigned long long>(numel(m.space));
        for (int64_t b = 0; b < numel(m.space); b += kUpdateChunk)
          chunks.push_back(AcnnChunk{static_cast<unsigned int>(items.size()), 0, static_cast<unsigned long long>(b)});
        items.push_back(it);
      }
      sim.launch(j.k.name, {&P, &S, items.data(), chunks.data()}, static_cast<unsigned>(chunks.size()));
      for (auto [v, b] : outs) compare(v, bufs[b], d.formats.preferred[v], label);
      continue;
    }
    if (u.kind == UnitKind::Node) {
      std::map<ir::ValueId, Tensor> stored_in;
      for (ir::ValueId v : j.in) stored_in[v] = stored(ref.values[v], d.formats.preferred[v]);
      Unit single = u;
      for (auto& [v, t] : unit_reference(g, single, stored_in, ctx)) want[v] = t;
    } else {
      reference_of(u, j.in);
    }
    std::vector<std::vector<uint8_t>> ins, outs;
    std::vector<void*> args{&P, &S};
    for (size_t i = 0; i < j.in.size(); ++i) ins.push_back(device_copy(j.in[i], j.in_fmt[i]));
    for (size_t i = 0; i < j.out.size(); ++i) outs.emplace_back(format_bytes(g.type(j.out[i]).shape, j.out_fmt[i]));
    for (auto& b : ins) args.push_back(b.data());
    for (auto& b : outs) args.push_back(b.data());
    if (u.kind == UnitKind::ReducingRegion) {
      // The kernel's last parameter takes the partial sums; their sum over
      // the chunks (reduce3 on a GPU) is the result.
      ++res.reductions;
      const ReduceShape rs = reduce_shape(g, u);
      std::vector<float> partial(static_cast<size_t>(rs.partials()), NAN);
      args.back() = partial.data();
      sim.launch(j.k.name, args);
      float* result = reinterpret_cast<float*>(outs.back().data());
      REQUIRE(outs.back().size() == static_cast<size_t>(rs.outer * rs.inner) * sizeof(float));
      for (int64_t o = 0; o < rs.outer; ++o)
        for (int64_t x = 0; x < rs.inner; ++x) {
          float sum = 0;
          for (int64_t k = 0; k < rs.chunks; ++k) sum += partial[static_cast<size_t>((o * rs.chunks + k) * rs.inner + x)];
          result[o * rs.inner + x] = sum;
        }
    } else {
      sim.launch(j.k.name, args);
    }
    for (size_t i = 0; i < j.out.size(); ++i) {
      if (i < u.output_view.size() && u.output_view[i] >= 0) {
        // A part of a concatenation: the pad's input, stored at its range.
        ++res.concat_parts;
        const ir::Node& pad = g.node(u.output_view[i]);
        const ir::ValueType& yt = g.type(j.out[i]);
        const Tensor y = host_to_plain(outs[i].data(), yt.shape, j.out_fmt[i], yt.dtype);
        const Shape& ps = g.type(pad.inputs[0]).shape;
        const std::vector<int64_t> pads = pad.attrs.ints("pads");
        size_t ax = 0;
        while (ax < ps.size() && ps[ax] == yt.shape[ax]) ++ax;
        REQUIRE(ax < ps.size());
        int64_t outer = 1, inner = 1;
        for (size_t a = 0; a < ax; ++a) outer *= ps[a];
        for (size_t a = ax + 1; a < ps.size(); ++a) inner *= ps[a];
        Tensor part(DType::F32, ps);
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t c = 0; c < ps[ax]; ++c)
            for (int64_t x = 0; x < inner; ++x)
              part.data<float>()[(o * ps[ax] + c) * inner + x] =
                  y.data<float>()[(o * yt.shape[ax] + c + pads[ax]) * inner + x];
        compare_tensors(label + " (concatenated part)", want.at(pad.inputs[0]), part, tol);
        ++res.compared;
        continue;
      }
      compare(j.out[i], outs[i], j.out_fmt[i], label);
    }
  }
  for (auto& [v, name] : conv) {
    const Format f = d.formats.preferred[v];
    std::vector<uint8_t> plain = host_from_plain(ref.values[v], Format{DType::F32, DevLayout::Plain});
    std::vector<uint8_t> mid(format_bytes(g.type(v).shape, f)), back(plain.size());
    sim.launch(name + "a", {&P, &S, plain.data(), mid.data()});
    std::vector<uint8_t> want_mid = host_from_plain(ref.values[v], f);
    CHECK(mid == want_mid);  // the device conversion rounds like the host one
    sim.launch(name + "b", {&P, &S, mid.data(), back.data()});
    want.clear();
    want[v] = stored(ref.values[v], f);
    compare(v, back, Format{DType::F32, DevLayout::Plain}, "conversion " + format_str(f));
  }
  return res;
}

}  // namespace

#define REQUIRE_HOST_COMPILER()                   \
  do {                                            \
    std::string why_;                             \
    if (!HostSim::available(&why_)) ACNN_SKIP(why_); \
  } while (0)

TEST_CASE("CUDA codegen on the host: every op's generated kernels match the reference", "[unit]") {
  REQUIRE_HOST_COMPILER();
  int units = 0;
  for (Precision p : {Precision::FP32, Precision::BF16}) {
    for (const OpCase& oc : op_cases()) {
      Case c(DType::F32, 11);
      c.ctx.seed = 5;
      c.ctx.step = 3;
      c.ctx.scalars["lr"] = 0.25f;
      build_case(c, oc);
      INFO(oc.name << " precision " << static_cast<int>(p));
      DevicePlan d = plan_device(c.g, p);
      Tol tol = p == Precision::FP32 ? Tol{1e-5, 1e-6} : Tol{1e-2, 1e-2};
      units += simulate(d, c.feeds, c.ctx, tol).units;
    }
  }
  CHECK(units > 100);
}

TEST_CASE("CUDA codegen on the host: a Fashion training step's generated kernels match the reference", "[unit]") {
  REQUIRE_HOST_COMPILER();
  auto g = test::model_train_graph("fashion/assemble.acnn", 2);
  ExecContext ctx;
  ctx.seed = 1;
  ctx.step = 4;
  ctx.scalars = {{"lr", 0.1f}, {"dropblock_keep", 0.9f}, {"mixup_lambda", 0.7f}};
  auto feeds = test::input_feeds(*g, 10, 5);
  // As built, and after the pass pipeline as `acnn train --device cuda` runs
  // it (fused nodes, rematerialized activations).
  auto optimized = g->clone();
  passes::PipelineOptions po;
  po.mode = passes::Mode::Train;
  po.remat_min_bytes = 0;
  passes::run_pipeline(*optimized, po);
  for (const ir::Graph* graph : {g.get(), optimized.get()}) {
    for (Precision p : {Precision::FP32, Precision::BF16}) {
      INFO((graph == g.get() ? "as built" : "optimized") << ", precision " << static_cast<int>(p));
      DevicePlan d = plan_device(*graph, p);
      SimResult r = simulate(d, feeds, ctx, p == Precision::FP32 ? Tol{1e-5, 1e-6} : Tol{1e-2, 1e-2});
      CHECK(r.units > 20);
      CHECK(r.vectorized > 5);  // the 16-byte form runs too
      CHECK(r.slice_views > 0);  // selective-kernel halves read in place
      CHECK(r.pad_views > 0);    // and their gradients concatenated by zero pads
      CHECK(r.reductions > 0);   // global pools of elementwise results, never stored
      CHECK(r.concat_parts > 0); // the halves' gradients stored into their concatenation
    }
  }
}

TEST_CASE("CUDA codegen on the host: Fused elementwise and optimizer bodies match the reference", "[unit]") {
  REQUIRE_HOST_COMPILER();
  auto g = small_train_graph();
  // Every update chain of a parameter as an optimizer Fused node, every
  // relu(add) as an elementwise one.
  // (by name: fusing renumbers the graph)
  std::vector<std::string> params;
  for (ir::NodeId id : g->persistent_nodes())
    if (g->node(id).op == ir::OpKind::Param) params.push_back(g->node(id).attrs.s("name"));
  for (const std::string& name : params) {
    std::vector<ir::NodeId> chain;
    for (ir::NodeId id = 0; id < static_cast<ir::NodeId>(g->num_nodes()); ++id) {
      const ir::Node& n = g->node(id);
      if (!n.dead && n.scope == "optimizer." + name && ir::is_elementwise(n.op)) chain.push_back(id);
    }
    if (chain.size() > 1) fuse(*g, chain, "optimizer");
  }
  int fused = 0;
  for (const ir::Node& n : g->nodes()) fused += n.op == ir::OpKind::Fused;
  REQUIRE(fused > 3);
  ExecContext ctx;
  ctx.scalars["lr"] = 0.1f;
  DevicePlan d = plan_device(*g, Precision::FP32);
  int fused_units = 0, grouped = 0;
  for (const Unit& u : d.units.units) {
    fused_units += u.kind == UnitKind::FusedRegion;
    if (u.kind == UnitKind::UpdateGroup)
      for (const Unit& m : u.members) grouped += m.kind == UnitKind::FusedRegion;
  }
  CHECK(fused_units + grouped == fused);
  CHECK(grouped >= 2);
  SimResult r = simulate(d, small_feeds(), ctx, Tol{1e-5, 1e-6});
  CHECK(r.units > 5);
}

#endif  // ACNN_HAVE_CUDA
