// `acnn run FILE --input random`: one inference forward pass on the reference
// backend (the oracle; slow but exact), printing the output and top classes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <numeric>

#include "cli/commands.h"
#include "compiler/passes/pass.h"
#include "runtime/interpreter.h"

namespace acnn::cli {

Command register_run(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Run one forward pass (inference) on the reference backend");
  auto o = std::make_shared<ModelOptions>();
  struct Opts {
    std::string input = "random";
    int64_t batch = 1;
    uint64_t seed = 0;
  };
  auto r = std::make_shared<Opts>();
  add_model_options(cmd, *o);
  cmd->add_option("--input", r->input, "`random` (standard normal) input data")->default_val("random");
  cmd->add_option("--batch", r->batch, "batch size")->default_val(1);
  cmd->add_option("--seed", r->seed, "seed for the random input and parameter initialization")->default_val(0);
  return [o, r]() -> int {
    if (r->input != "random") {
      std::cerr << "acnn: error: --input supports `random` only in this version\n";
      return 2;
    }
    ModelFile mf(compile_options(*o));
    if (!load(mf, *o)) return 1;
    auto g = mf.build(r->batch);
    if (!g) return 1;
    passes::lower_mode(*g, passes::Mode::Eval);
    std::map<std::string, Tensor> feeds;
    for (const ir::Node& n : g->nodes()) {
      if (n.op != ir::OpKind::Input) continue;
      const ir::ValueType& t = g->type(n.outputs[0]);
      Tensor x(t.dtype, t.shape);
      for (int64_t i = 0; i < x.numel(); ++i) {
        double u1 = (static_cast<double>(counter_hash(r->seed, 1, 7, 2 * i) >> 11) + 0.5) / 9007199254740992.0;
        double u2 = static_cast<double>(counter_hash(r->seed, 1, 7, 2 * i + 1) >> 11) / 9007199254740992.0;
        x.set(i, std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
      }
      feeds[n.attrs.s("name")] = x;
    }
    ExecContext ctx;
    ctx.seed = r->seed;
    ctx.training = false;
    auto t0 = std::chrono::steady_clock::now();
    InterpreterResult res = interpret(*g, feeds, ctx);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const Tensor& y = res.outputs.at("output");
    std::cout << "output " << type_str(y.dtype(), y.shape()) << " in " << ms << " ms (reference backend)\n";
    if (y.rank() == 2) {
      int64_t k = y.dim(1);
      for (int64_t b = 0; b < std::min<int64_t>(y.dim(0), 4); ++b) {
        std::vector<int64_t> idx(k);
        std::iota(idx.begin(), idx.end(), 0);
        int64_t top = std::min<int64_t>(5, k);
        std::partial_sort(idx.begin(), idx.begin() + top, idx.end(),
                          [&](int64_t a, int64_t c) { return y.at(b * k + a) > y.at(b * k + c); });
        std::cout << "  example " << b << ": top classes";
        for (int64_t j = 0; j < top; ++j) std::printf(" %lld (%.4f)", static_cast<long long>(idx[j]), y.at(b * k + idx[j]));
        std::cout << "\n";
      }
    }
    return 0;
  };
}

}  // namespace acnn::cli
