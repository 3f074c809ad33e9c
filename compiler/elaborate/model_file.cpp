#include "compiler/elaborate/model_file.h"

#include <filesystem>

namespace acnn {

ModelFile::ModelFile(CompileOptions opts) : opts_(std::move(opts)), diags_(sources_, opts_.max_errors) {
  loader_ = std::make_unique<ModuleLoader>(sources_, diags_, opts_.include_dirs);
  elab_ = std::make_unique<elab::Elaborator>(*loader_, diags_);
}

ModelFile::~ModelFile() = default;

bool ModelFile::finish_load(const ast::Module* m) {
  module_ = m;
  if (!m || diags_.has_errors()) return false;
  scope_ = elab_->evaluate(m);
  return !diags_.has_errors();
}

bool ModelFile::load(const std::string& path) {
  try {
    return finish_load(loader_->load_file(path));
  } catch (const FatalError&) {
    return false;
  }
}

bool ModelFile::load_text(const std::string& display_path, std::string text) {
  try {
    return finish_load(loader_->load_text(display_path, std::move(text)));
  } catch (const FatalError&) {
    return false;
  }
}

elab::ValuePtr ModelFile::binding(const std::string& name) const {
  if (!scope_) return nullptr;
  auto it = scope_->bindings.find(name);
  return it == scope_->bindings.end() ? nullptr : it->second;
}

elab::ValuePtr ModelFile::model() {
  elab::ValuePtr m = binding("model");
  SourceLoc file_loc{module_ ? module_->file : 0, 1, 1, 1};
  if (!m) {
    diags_.error(file_loc, "this file defines no `model`",
                 "add a line like `model = resnet([3, 4, 6, 3])`, naming the network to build");
    return nullptr;
  }
  if (m->kind != elab::ValueKind::Network) {
    if (m->kind != elab::ValueKind::Poison)
      diags_.error(file_loc, "`model` must be a network, but it is " + elab::describe(*m),
                   "bind it to a network call, e.g. `model = resnet([3, 4, 6, 3])`");
    return nullptr;
  }
  return m;
}

elab::ValuePtr ModelFile::evaluate_expression(const std::string& expr, const std::string& display) {
  if (!module_) return nullptr;
  std::string path = module_->path;
  std::string escaped;
  for (char c : path) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  std::string text = "import \"" + escaped + "\" as file\nvalue = " + expr + "\n";
  try {
    const ast::Module* m = loader_->load_text(display + "#" + std::to_string(++scratch_count_), text);
    if (!m || diags_.has_errors()) return nullptr;
    const elab::ModuleScope* s = elab_->evaluate(m);
    if (diags_.has_errors()) return nullptr;
    auto it = s->bindings.find("value");
    return it == s->bindings.end() ? nullptr : it->second;
  } catch (const FatalError&) {
    return nullptr;
  }
}

elab::ValuePtr ModelFile::recipe() {
  elab::ValuePtr r = recipe_override_ ? recipe_override_ : binding("recipe");
  if (!r || r->kind == elab::ValueKind::Poison) return nullptr;
  const elab::RecordType* type = elab_->recipe_type();
  if (r->kind != elab::ValueKind::Record || (type && r->record_type != type)) {
    diags_.error(SourceLoc{module_->file, 1, 1, 1}, "`recipe` must be a Recipe record, but it is " + elab::describe(*r),
                 "extend a stdlib recipe: `recipe = fashion_recipe with { epochs: 5 }`");
    return nullptr;
  }
  return r;
}

std::unique_ptr<ir::Graph> ModelFile::build(int64_t batch) {
  elab::ValuePtr m = model();
  if (!m) return nullptr;
  try {
    elab_->set_batch(batch);
    return elab_->build_network(*m);
  } catch (const FatalError&) {
    return nullptr;
  }
}

}  // namespace acnn

namespace acnn {

std::string default_models_dir() {
  return (std::filesystem::path(default_stdlib_dir()).parent_path() / "models").string();
}

std::string default_model_file() { return default_models_dir() + "/fashion/assemble.acnn"; }

}  // namespace acnn
