// A compilation session for one model file: owns the sources, diagnostics,
// module loader and elaborator; loads and evaluates the file; hands out its
// `model` (a network) and `recipe` (a Recipe record) and builds the forward
// graph at a batch size. Every CLI command starts here.
#pragma once

#include <memory>
#include <string>
#include <vector>
#include <utility>

#include "compiler/elaborate/elaborator.h"

namespace acnn {

struct CompileOptions {
  std::vector<std::string> include_dirs;  // -I: searched before the stdlib
  int max_errors = 20;
};

class ModelFile {
 public:
  explicit ModelFile(CompileOptions opts = {});
  ~ModelFile();

  // Parses and evaluates a file (and its imports). False after errors.
  bool load(const std::string& path);
  bool load_text(const std::string& display_path, std::string text);

  const ast::Module* module() const { return module_; }
  const elab::ModuleScope* scope() const { return scope_; }
  // A top-level binding of the file (or null).
  elab::ValuePtr binding(const std::string& name) const;
  // The `model` binding; reports an error (and returns null) if it is missing
  // or not a network.
  elab::ValuePtr model();
  // The `recipe` binding as a Recipe record; null without error if absent.
  elab::ValuePtr recipe();
  // Evaluates `expr` (source text) in a scratch module that sees this file's
  // bindings as `file.<name>` plus everything the prelude offers; null after
  // reporting errors. Used for command-line recipe overrides.
  elab::ValuePtr evaluate_expression(const std::string& expr, const std::string& display = "<command line>");
  // Replaces the `recipe` binding (after overrides).
  void set_recipe(elab::ValuePtr r) { recipe_override_ = std::move(r); }
  // Replaces the `model` binding (after `--model-arg` overrides).
  void set_model(elab::ValuePtr m) { model_override_ = std::move(m); }
  // Rebinds `model` to `file.model with { KEY: VALUE, ... }` for "KEY=VALUE"
  // strings (dotted keys nest: "t.resnet_d=true"; values are .acnn
  // expressions). False after reporting errors; throws std::invalid_argument
  // for a string without '='.
  // Overrides accumulate over calls.
  bool apply_model_args(const std::vector<std::string>& key_values);
  // Whether the `model` network declares a parameter `name`.
  bool model_has_parameter(const std::string& name);

  // The forward graph of `model` at batch size `batch` (null after errors).
  std::unique_ptr<ir::Graph> build(int64_t batch);

  SourceManager& sources() { return sources_; }
  Diagnostics& diags() { return diags_; }
  elab::Elaborator& elaborator() { return *elab_; }

 private:
  bool finish_load(const ast::Module* m);
  CompileOptions opts_;
  SourceManager sources_;
  Diagnostics diags_;
  std::unique_ptr<ModuleLoader> loader_;
  std::unique_ptr<elab::Elaborator> elab_;
  const ast::Module* module_ = nullptr;
  const elab::ModuleScope* scope_ = nullptr;
  elab::ValuePtr recipe_override_, model_override_;
  std::vector<std::string> model_args_;
  int scratch_count_ = 0;
};

// A record literal from dotted keys and .acnn expressions, e.g.
// {("a.b", "1"), ("c", "2")} -> "{a: {b: 1}, c: 2}".
std::string record_literal(const std::vector<std::pair<std::string, std::string>>& fields);
// Splits "KEY=VALUE" at the first '='; throws std::invalid_argument (naming
// `flag`) when there is none or the key is empty.
std::pair<std::string, std::string> split_key_value(const std::string& kv, const std::string& flag);

// Directory of the bundled models (next to the stdlib) and the model
// `acnn train` uses when no file is given.
std::string default_models_dir();
std::string default_model_file();

}  // namespace acnn
