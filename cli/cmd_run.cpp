// `acnn run FILE [--input random|IMAGE|TENSORS.safetensors] [--checkpoint C]`:
// one inference forward pass, printing the output and the top classes. The
// reference backend (the oracle: slow, exact) is the default; --backend
// onednn runs it fast.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <numeric>

#include "cli/commands.h"
#include "compiler/passes/pass.h"
#include "compiler/train/recipe.h"
#include "compiler/train/train_graph.h"
#include "runtime/data/codec.h"
#include "runtime/data/image.h"
#include "runtime/executor.h"
#include "runtime/interpreter.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/safetensors.h"

namespace acnn::cli {

namespace {

Tensor random_input(const ir::ValueType& t, uint64_t seed) {
  Tensor x(t.dtype, t.shape);
  for (int64_t i = 0; i < x.numel(); ++i) {
    double u1 = (static_cast<double>(counter_hash(seed, 1, 7, 2 * i) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = static_cast<double>(counter_hash(seed, 1, 7, 2 * i + 1) >> 11) / 9007199254740992.0;
    x.set(i, std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
  return x;
}

// An image file resized to the input's H x W, normalized with the recipe's
// mean/std, and repeated over the batch.
Tensor image_input(const std::string& path, const ir::ValueType& t, const Recipe* r) {
  std::vector<uint8_t> bytes = data::read_file(path);
  int64_t c = t.shape[1], h = t.shape[2], w = t.shape[3];
  data::Image img = data::decode_image(bytes.data(), bytes.size(), static_cast<int>(c));
  img = data::resize(img, static_cast<int>(h), static_cast<int>(w));
  Tensor x(DType::F32, t.shape);
  for (int64_t n = 0; n < t.shape[0]; ++n)
    for (int64_t ch = 0; ch < c; ++ch) {
      double mean = r && static_cast<size_t>(ch) < r->data.mean.size() ? r->data.mean[ch] : 0.0;
      double sd = r && static_cast<size_t>(ch) < r->data.std.size() ? r->data.std[ch] : 1.0;
      for (int64_t y = 0; y < h; ++y)
        for (int64_t xx = 0; xx < w; ++xx) {
          double v = img.row(static_cast<int>(y))[xx * c + ch] / 255.0;
          x.set(((n * c + ch) * h + y) * w + xx, (v - mean) / sd);
        }
    }
  return x;
}

}  // namespace

Command register_run(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Run one inference forward pass and print the top classes");
  auto o = std::make_shared<ModelOptions>();
  struct Opts {
    std::string input = "random", checkpoint;
    int64_t batch = 1;
    uint64_t seed = 0;
    std::string backend = "reference";
  };
  auto r = std::make_shared<Opts>();
  add_model_options(cmd, *o);
  cmd->add_option("--input", r->input,
                  "`random` (standard normal), an image file (JPEG/PNG, resized and normalized with the recipe's "
                  "mean/std), or a .safetensors file holding the input tensor")
      ->default_val("random");
  cmd->add_option("--checkpoint", r->checkpoint, "weights (safetensors); default: freshly initialized");
  cmd->add_option("--batch", r->batch, "batch size")->default_val(1);
  cmd->add_option("--seed", r->seed, "seed for the random input and parameter initialization")->default_val(0);
  cmd->add_option("--backend", r->backend, "reference (exact, slow) or onednn")
      ->check(CLI::IsMember({"reference", "onednn"}))
      ->default_val("reference");
  return [o, r]() -> int {
    ModelFile mf(compile_options(*o));
    if (!load(mf, *o)) return 1;
    auto fwd = mf.build(r->batch);
    if (!fwd) return 1;
    elab::ValuePtr rv = mf.recipe();
    std::optional<Recipe> recipe;
    if (rv) recipe = recipe_from_value(*rv);
    auto g = build_eval_graph(*fwd, /*with_loss=*/false, recipe ? recipe->zero_gamma : true);
    std::map<std::string, Tensor> feeds;
    for (const ir::Node& n : g->nodes()) {
      if (n.op != ir::OpKind::Input) continue;
      const ir::ValueType& t = g->type(n.outputs[0]);
      const std::string& name = n.attrs.s("name");
      std::string ext = std::filesystem::path(r->input).extension().string();
      if (r->input == "random") {
        feeds[name] = random_input(t, r->seed);
      } else if (ext == ".safetensors") {
        train::SafetensorsContents c = train::load_safetensors(r->input);
        auto it = c.tensors.find(name);
        if (it == c.tensors.end() && c.tensors.size() == 1) it = c.tensors.begin();
        if (it == c.tensors.end()) {
          std::cerr << "acnn: error: " << r->input << " has no tensor named `" << name << "`\n";
          return 1;
        }
        if (it->second.shape() != t.shape || it->second.dtype() != t.dtype) {
          std::cerr << "acnn: error: " << r->input << ": `" << it->first << "` is "
                    << type_str(it->second.dtype(), it->second.shape()) << " but the input `" << name << "` is "
                    << type_str(t.dtype, t.shape) << " (use --batch to match)\n";
          return 1;
        }
        feeds[name] = it->second;
      } else {
        if (t.shape.size() != 4) {
          std::cerr << "acnn: error: an image input needs an [N,C,H,W] network input\n";
          return 1;
        }
        feeds[name] = image_input(r->input, t, recipe ? &*recipe : nullptr);
      }
    }
    if (!r->checkpoint.empty()) {
      train::Checkpoint c = train::load_checkpoint(r->checkpoint);
      for (ir::NodeId id : g->persistent_nodes()) {
        const std::string& name = g->node(id).attrs.s("name");
        auto it = c.tensors.find(name);
        if (it == c.tensors.end()) {
          std::cerr << "acnn: error: " << r->checkpoint << " lacks `" << name << "`\n";
          return 1;
        }
        feeds[name] = it->second;
      }
    }
    ExecContext ctx;
    ctx.seed = r->seed;
    ctx.training = false;
    auto t0 = std::chrono::steady_clock::now();
    Tensor y;
    if (r->backend == "reference") {
      y = interpret(*g, feeds, ctx).outputs.at("logits");
    } else {
      ExecutorOptions eo;
      eo.backends = {r->backend, "reference"};
      eo.seed = r->seed;
      Executor ex(*g, eo);
      for (const auto& [name, t] : feeds)
        if (ex.has_persistent(name)) ex.set_persistent(name, t);
      y = ex.run(feeds, ctx).at("logits");
    }
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "output " << type_str(y.dtype(), y.shape()) << " in " << ms << " ms (" << r->backend << " backend)\n";
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
