#include "compiler/elaborate/model_file.h"

#include <filesystem>
#include <map>
#include <stdexcept>

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
  elab::ValuePtr m = model_override_ ? model_override_ : binding("model");
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

bool ModelFile::apply_model_args(const std::vector<std::string>& key_values) {
  if (key_values.empty()) return true;
  std::vector<std::string> all = model_args_;
  all.insert(all.end(), key_values.begin(), key_values.end());
  std::vector<std::pair<std::string, std::string>> fields;
  for (const std::string& kv : all) fields.push_back(split_key_value(kv, "--model-arg"));
  if (!binding("model") || !model()) return false;
  // Always from the file's own binding, with every override so far.
  elab::ValuePtr m = evaluate_expression("file.model with " + record_literal(fields));
  if (!m) return false;
  set_model(m);
  model_args_ = std::move(all);
  return model() != nullptr;
}

bool ModelFile::model_has_parameter(const std::string& name) {
  elab::ValuePtr m = model();
  if (!m || !m->decl) return false;
  for (const auto& p : m->decl->params)
    if (p.name == name) return true;
  return false;
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

namespace {

struct KeyTree {
  std::map<std::string, KeyTree> children;
  std::string value;
};

std::string render(const KeyTree& t) {
  if (t.children.empty()) return t.value;
  std::string s = "{";
  bool first = true;
  for (const auto& [k, child] : t.children) {
    s += (first ? "" : ", ") + k + ": " + render(child);
    first = false;
  }
  return s + "}";
}

}  // namespace

std::string record_literal(const std::vector<std::pair<std::string, std::string>>& fields) {
  KeyTree root;
  for (const auto& [dotted, value] : fields) {
    KeyTree* t = &root;
    size_t start = 0;
    while (true) {
      size_t dot = dotted.find('.', start);
      t = &t->children[dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start)];
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    t->children.clear();
    t->value = value;
  }
  return root.children.empty() ? "{}" : render(root);
}

std::pair<std::string, std::string> split_key_value(const std::string& kv, const std::string& flag) {
  size_t eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) throw std::invalid_argument(flag + " needs KEY=VALUE, got `" + kv + "`");
  return {kv.substr(0, eq), kv.substr(eq + 1)};
}

std::string default_models_dir() {
  return (std::filesystem::path(default_stdlib_dir()).parent_path() / "models").string();
}

std::string default_model_file() { return default_models_dir() + "/fashion/assemble.acnn"; }

}  // namespace acnn
