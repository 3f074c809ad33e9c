// `acnn check FILE`: parse, elaborate and type-check; print parameters,
// multiply-accumulates and the output shape of each stage.
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "compiler/ir/stats.h"
#include "compiler/train/recipe.h"

namespace acnn::cli {

Command register_check(CLI::App& app) {
  auto* cmd = app.add_subcommand("check", "Check a model file: parameters, MACs and shapes per stage");
  auto o = std::make_shared<ModelOptions>();
  auto batch = std::make_shared<int64_t>(1);
  add_model_options(cmd, *o);
  cmd->add_option("--batch", *batch, "batch size N for the shapes")->default_val(1);
  return [o, batch]() -> int {
    ModelFile mf(compile_options(*o));
    if (!load(mf, *o)) return 1;
    auto g = mf.build(*batch);
    if (!g) return 1;
    elab::ValuePtr recipe = mf.recipe();
    if (mf.diags().has_errors()) return 1;
    ir::GraphStats s = ir::graph_stats(*g);
    std::cout << o->file << ": network `" << g->name << "`";
    for (const ir::Node& n : g->nodes())
      if (n.op == ir::OpKind::Input)
        std::cout << ", input " << n.attrs.s("name") << " " << type_str(g->type(n.outputs[0]).dtype, g->type(n.outputs[0]).shape);
    std::cout << "\n\n";
    std::printf("  %-14s %-20s %14s %12s\n", "stage", "output", "params", "MACs");
    for (const auto& sc : s.scopes)
      std::printf("  %-14s %-20s %14s %12s\n", sc.scope.empty() ? "(network)" : sc.scope.c_str(), shape_str(sc.output).c_str(),
                  with_commas(sc.params).c_str(), human(static_cast<double>(sc.macs)).c_str());
    std::printf("  %-14s %-20s %14s %12s\n", "total", shape_str(g->type(g->outputs[0].second).shape).c_str(),
                with_commas(s.params).c_str(), human(static_cast<double>(s.macs)).c_str());
    std::cout << "\n  parameters: " << with_commas(s.params) << " trainable, " << with_commas(s.state)
              << " state (batch-norm statistics)\n";
    std::cout << "  multiply-accumulates: " << with_commas(s.macs) << " at batch " << *batch << " ("
              << human(static_cast<double>(s.macs) / static_cast<double>(*batch)) << " per image)\n";
    std::cout << "  graph: " << s.nodes << " nodes\n";
    if (recipe) std::cout << "  recipe " << summarize(recipe_from_value(*recipe)) << "\n";
    return 0;
  };
}

}  // namespace acnn::cli
