// `acnn dump FILE --stage ast|ir --format text|dot|json [-o OUT]`.
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "compiler/ir/printer.h"
#include "compiler/passes/pass.h"

namespace acnn::cli {

Command register_dump(CLI::App& app) {
  auto* cmd = app.add_subcommand("dump", "Print a compilation stage (AST, IR) as text, DOT or JSON");
  auto o = std::make_shared<ModelOptions>();
  struct Opts {
    std::string stage = "ir", format = "text", out;
    int64_t batch = 1;
    bool locations = false;
  };
  auto d = std::make_shared<Opts>();
  add_model_options(cmd, *o);
  cmd->add_option("--stage", d->stage, "ast: the syntax tree; ir: the forward graph; eval: after inference lowering")
      ->check(CLI::IsMember({"ast", "ir", "eval"}))
      ->default_val("ir");
  cmd->add_option("--format", d->format, "text, dot or json")->check(CLI::IsMember({"text", "dot", "json"}))->default_val("text");
  cmd->add_option("-o,--output", d->out, "write to this file instead of stdout");
  cmd->add_option("--batch", d->batch, "batch size N")->default_val(1);
  cmd->add_flag("--locations", d->locations, "annotate IR nodes with their DSL file:line");
  return [o, d]() -> int {
    ModelFile mf(compile_options(*o));
    if (!load(mf, *o)) return 1;
    std::ofstream file;
    if (!d->out.empty()) {
      file.open(d->out);
      if (!file) {
        std::cerr << "acnn: error: cannot write `" << d->out << "`\n";
        return 1;
      }
    }
    std::ostream& out = d->out.empty() ? std::cout : file;
    if (d->stage == "ast") {
      if (d->format != "text") {
        std::cerr << "acnn: error: the AST dumps as text only\n";
        return 2;
      }
      ast::print(out, *mf.module());
      return 0;
    }
    auto g = mf.build(d->batch);
    if (!g) return 1;
    if (d->stage == "eval") passes::lower_mode(*g, passes::Mode::Eval);
    ir::PrintOptions po;
    po.locations = d->locations;
    po.sources = &mf.sources();
    if (d->format == "text") ir::print_text(out, *g, po);
    else if (d->format == "dot") ir::print_dot(out, *g);
    else ir::print_json(out, *g);
    return 0;
  };
}

}  // namespace acnn::cli
