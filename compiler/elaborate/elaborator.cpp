// Module evaluation, name lookup, statements and error reporting.

#include "compiler/elaborate/elaborator.h"

#include <algorithm>
#include <filesystem>

#include "compiler/elaborate/impl.h"

namespace acnn::elab {

Elaborator::Elaborator(ModuleLoader& loader, Diagnostics& diags, ElaborateOptions opts)
    : loader_(loader), diags_(diags), opts_(opts) {
  impl_ = std::make_unique<Impl>(*this, loader_, diags_, opts_);
}

Elaborator::~Elaborator() = default;

const ModuleScope* Elaborator::evaluate(const ast::Module* module) { return impl_->evaluate(module); }

ValuePtr Elaborator::lookup(const ModuleScope& scope, const std::string& name) const {
  return impl_->lookup_module(scope, name);
}

const RecordType* Elaborator::recipe_type() const {
  const ast::Module* prelude = loader_.prelude();
  if (!prelude) return nullptr;
  auto it = impl_->modules.find(prelude);
  if (it == impl_->modules.end()) return nullptr;
  ValuePtr v = impl_->lookup_module(*it->second, "Recipe");
  return v && v->kind == ValueKind::RecordType ? v->record_type : nullptr;
}

// ---------------------------------------------------------------- modules

const ModuleScope* Elaborator::Impl::evaluate(const ast::Module* m) {
  if (!m) return nullptr;
  if (auto it = modules.find(m); it != modules.end()) return it->second.get();
  auto owned = std::make_unique<ModuleScope>();
  ModuleScope& scope = *owned;
  scope.module = m;
  scope.sees_prelude = loader.sees_prelude(m) && loader.prelude() && loader.prelude() != m;
  modules[m] = std::move(owned);
  evaluating.insert(m);
  if (scope.sees_prelude) evaluate(loader.prelude());

  // Imports first, then every declaration is visible (hoisted) before any
  // top-level binding is evaluated.
  for (const auto& d : m->decls) {
    if (d->kind != ast::DeclKind::Import) continue;
    const ast::Module* target = loader.imported(*m, *d);
    if (!target) continue;  // reported by the loader
    const ModuleScope* ts = evaluate(target);
    if (d->name.empty()) {
      scope.star_imports.push_back(ts);
    } else {
      auto v = std::make_shared<Value>();
      v->kind = ValueKind::Module;
      v->module = ts;
      v->s = d->name;
      if (!scope.bindings.emplace(d->name, v).second)
        report(EvalError{d->loc, "`" + d->name + "` is already defined in this file", "choose another alias"}, nullptr);
    }
  }
  for (const auto& d : m->decls)
    if (d->kind == ast::DeclKind::Enum || d->kind == ast::DeclKind::Record || d->kind == ast::DeclKind::Block)
      declare(scope, *d);
  // Record field types may name records and enums declared anywhere above.
  for (const auto& d : m->decls) {
    if (d->kind != ast::DeclKind::Record) continue;
    ValuePtr v = scope.bindings[d->name];
    if (!v || v->kind != ValueKind::RecordType || v->decl != d.get()) continue;
    auto* rt = const_cast<RecordType*>(v->record_type);
    for (size_t i = 0; i < d->fields.size(); ++i) {
      try {
        rt->fields[i].type = resolve_type(d->fields[i].type.get(), &scope);
      } catch (const EvalError& e) {
        report(e, nullptr);
      }
    }
  }
  Frame top;
  top.module = &scope;
  for (const auto& d : m->decls) {
    if (d->kind != ast::DeclKind::Binding) continue;
    ValuePtr value;
    try {
      value = eval(*d->value, top);
    } catch (const EvalError& e) {
      report(e, nullptr);
      value = make_poison();
    }
    if (scope.bindings.count(d->name)) {
      report(EvalError{d->loc, "`" + d->name + "` is already defined in this file",
                       "top-level names are bound once; rename one of them"},
             nullptr);
      continue;
    }
    scope.bindings[d->name] = value;
  }
  evaluating.erase(m);
  return &scope;
}

void Elaborator::Impl::declare(ModuleScope& scope, const ast::Decl& d) {
  auto v = std::make_shared<Value>();
  v->decl = &d;
  v->module = &scope;
  v->loc = d.loc;
  switch (d.kind) {
    case ast::DeclKind::Enum: {
      auto et = std::make_unique<EnumType>();
      et->name = d.name;
      std::set<std::string> seen;
      for (size_t i = 0; i < d.members.size(); ++i) {
        if (!seen.insert(d.members[i]).second)
          report(EvalError{d.member_locs[i], "enum member `" + d.members[i] + "` is listed twice",
                           "remove one of them, or rename it if a different member was meant"},
                 nullptr);
        et->members.push_back(d.members[i]);
      }
      v->kind = ValueKind::EnumType;
      v->enum_type = et.get();
      enum_types.push_back(std::move(et));
      break;
    }
    case ast::DeclKind::Record: {
      auto rt = std::make_unique<RecordType>();
      rt->name = d.name;
      rt->scope = &scope;
      rt->loc = d.loc;
      std::set<std::string> seen;
      for (const auto& f : d.fields) {
        if (!seen.insert(f.name).second)
          report(EvalError{f.loc, "field `" + f.name + "` is declared twice", "give each field of a record its own name"},
                 nullptr);
        rt->fields.push_back(RecordField{f.name, Type{}, f.default_value.get(), f.loc});
      }
      v->kind = ValueKind::RecordType;
      v->record_type = rt.get();
      record_types.push_back(std::move(rt));
      break;
    }
    case ast::DeclKind::Block: {
      v->kind = d.is_network ? ValueKind::Network : ValueKind::Block;
      std::set<std::string> seen;
      for (const auto& p : d.params)
        if (!seen.insert(p.name).second)
          report(EvalError{p.loc, "parameter `" + p.name + "` is declared twice", "give each parameter its own name"},
                 nullptr);
      break;
    }
    default: return;
  }
  if (!scope.bindings.emplace(d.name, v).second)
    report(EvalError{d.loc, "`" + d.name + "` is already defined in this file", "rename one of the declarations"}, nullptr);
}

// ---------------------------------------------------------------- names

ValuePtr Elaborator::Impl::lookup_module(const ModuleScope& m, const std::string& name, int depth) const {
  if (auto it = m.bindings.find(name); it != m.bindings.end()) return it->second;
  if (depth > 32) return nullptr;
  for (const ModuleScope* s : m.star_imports)
    if (ValuePtr v = lookup_module(*s, name, depth + 1)) return v;
  return nullptr;
}

ValuePtr Elaborator::Impl::lookup(const Frame& f, const std::string& name) const {
  if (auto it = f.locals.find(name); it != f.locals.end()) return it->second;
  if (f.module) {
    if (ValuePtr v = lookup_module(*f.module, name)) return v;
    if (f.module->sees_prelude && loader.prelude()) {
      auto it = modules.find(loader.prelude());
      if (it != modules.end())
        if (ValuePtr v = lookup_module(*it->second, name)) return v;
    }
  }
  if (find_builtin(name) || find_op_call(name)) {
    auto v = std::make_shared<Value>();
    v->kind = ValueKind::Builtin;
    v->s = name;
    return v;
  }
  return nullptr;
}

std::vector<std::string> Elaborator::Impl::visible_names(const Frame& f) const {
  std::vector<std::string> names;
  for (const auto& [n, v] : f.locals) names.push_back(n);
  std::function<void(const ModuleScope&, int)> add = [&](const ModuleScope& m, int depth) {
    for (const auto& [n, v] : m.bindings) names.push_back(n);
    if (depth < 8)
      for (const ModuleScope* s : m.star_imports) add(*s, depth + 1);
  };
  if (f.module) {
    add(*f.module, 0);
    if (f.module->sees_prelude && loader.prelude())
      if (auto it = modules.find(loader.prelude()); it != modules.end()) add(*it->second, 0);
  }
  for (const auto& n : builtin_names()) names.push_back(n);
  for (const auto& n : op_call_names()) names.push_back(n);
  return names;
}

// ---------------------------------------------------------------- errors

std::vector<Note> Elaborator::Impl::call_notes(const Frame* f) const {
  std::vector<Note> notes;
  int shown = 0;
  while (f && f->decl) {
    if (!f->call_loc.valid()) {
      f = f->parent;
      continue;
    }
    // Recursion: consecutive frames called from the same place become one note.
    int repeats = 1;
    const Frame* next = f->parent;
    while (next && next->decl && next->decl == f->decl && next->call_loc.line == f->call_loc.line &&
           next->call_loc.col == f->call_loc.col && next->call_loc.file == f->call_loc.file) {
      ++repeats;
      next = next->parent;
    }
    if (++shown > 6) {
      notes.push_back(Note{{}, "(more calls omitted)"});
      break;
    }
    const char* what = f->decl->is_network ? "network" : "block";
    std::string path = f->scope_path;
    if (path.size() > 48) path = "..." + path.substr(path.size() - 45);
    std::string inst = path.empty() ? "" : " (instance `" + path + "`)";
    std::string times = repeats > 1 ? ", " + std::to_string(repeats) + " times in a row" : "";
    notes.push_back(Note{f->call_loc, std::string("in ") + what + " `" + f->decl->name + "`" + inst + " called here" + times});
    f = next;
  }
  return notes;
}

void Elaborator::Impl::report(const EvalError& e, const Frame* f) {
  // A block called many times reports each mistake once.
  std::string key = std::to_string(e.loc.file) + ":" + std::to_string(e.loc.line) + ":" + std::to_string(e.loc.col);
  if (!reported.insert({key, e.message}).second) return;
  diags.error(e.loc, e.message, e.hint, call_notes(f));
}

void Elaborator::Impl::tick(SourceLoc loc) {
  if (++steps > opts.max_steps)
    diags.fatal(loc, "elaboration did not finish after " + std::to_string(opts.max_steps) + " steps",
                "look for a loop or recursion that does not end");
}

ir::Builder& Elaborator::Impl::need_graph(SourceLoc loc, const char* what) {
  if (!builder)
    fail(loc, std::string(what) + " can only be used inside a network or a block that a network calls",
         "tensor operations happen while a network is built; move this into a block");
  return *builder;
}

ir::ValueId Elaborator::Impl::emit1(ir::OpKind op, std::vector<ir::ValueId> inputs, Attrs attrs, SourceLoc loc) {
  ir::Builder& b = need_graph(loc, ir::op_name(op));
  b.loc = loc;
  try {
    return b.emit1(op, std::move(inputs), std::move(attrs));
  } catch (const ir::ShapeError& e) {
    fail(loc, e.what());
  }
}

// ---------------------------------------------------------------- statements

bool Elaborator::Impl::exec_block(const std::vector<ast::StmtPtr>& body, Frame& f, ValuePtr* result) {
  for (const auto& s : body)
    if (exec(*s, f, result)) return true;
  return false;
}

bool Elaborator::Impl::exec(const ast::Stmt& s, Frame& f, ValuePtr* result) {
  tick(s.loc);
  if (builder) builder->scope = f.scope_path;
  try {
    switch (s.kind) {
      case ast::StmtKind::Assign: {
        const ast::Expr* saved_call = naming_call;
        std::string saved_name = naming_name;
        bool saved_explicit = naming_explicit;
        naming_call = s.value->kind == ast::ExprKind::Call ? s.value.get() : nullptr;
        naming_name = s.target;
        naming_explicit = false;
        if (s.as_name) {
          ValuePtr n = eval(*s.as_name, f);
          if (is_poison(n)) {
            naming_call = saved_call;
            f.locals[s.target] = make_poison();
            return false;
          }
          naming_name = as_string(n, s.as_name->loc, "an instance name after `as`");
          naming_explicit = true;
          if (!naming_call) fail(s.as_name->loc, "`as` names a block instance, but this statement calls nothing",
                                 "write `x = some_block(...) as \"name\"`");
        }
        ValuePtr v;
        try {
          v = eval(*s.value, f);
        } catch (...) {
          naming_call = saved_call, naming_name = saved_name, naming_explicit = saved_explicit;
          throw;
        }
        naming_call = saved_call, naming_name = saved_name, naming_explicit = saved_explicit;
        f.locals[s.target] = v;
        return false;
      }
      case ast::StmtKind::If: {
        ValuePtr c = eval(*s.cond, f);
        if (is_poison(c)) return false;
        if (as_bool(c, s.cond->loc, "an `if` condition")) return exec_block(s.body, f, result);
        return exec_block(s.orelse, f, result);
      }
      case ast::StmtKind::For: {
        ValuePtr seq = eval(*s.value, f);
        if (is_poison(seq)) return false;
        if (seq->kind != ValueKind::List)
          fail(s.value->loc, "`for` needs a list to iterate over, got " + describe(*seq, graph),
               seq->kind == ValueKind::Int ? "use range(n) to count" : "");
        for (const ValuePtr& item : seq->items) {
          f.locals[s.target] = item;
          if (exec_block(s.body, f, result)) return true;
        }
        return false;
      }
      case ast::StmtKind::Return:
        *result = eval(*s.value, f);
        return true;
      case ast::StmtKind::Assert: {
        ValuePtr c = eval(*s.cond, f);
        if (is_poison(c)) return false;
        if (!as_bool(c, s.cond->loc, "an assertion")) {
          std::string msg = "assertion failed: " + ast::to_source(*s.cond);
          if (s.message) {
            ValuePtr m = eval(*s.message, f);
            if (m->kind == ValueKind::String) msg = m->s;
            else if (!is_poison(m)) msg = to_text(*m);
          }
          fail(s.loc, msg);
        }
        return false;
      }
      case ast::StmtKind::Input: {
        if (!f.decl || !f.decl->is_network)
          fail(s.loc, "`input` declares a network's input and can only appear in a network",
               "declare this block with `network` instead of `block`, or pass the tensor as a parameter");
        ir::Builder& b = need_graph(s.loc, "input");
        DType dt;
        if (!parse_dtype(s.text, &dt))
          fail(s.loc, "unknown element type `" + s.text + "`", did_you_mean(s.text, {"f32", "f64", "f16", "bf16", "i32", "i64", "u8"}));
        Shape shape;
        for (const auto& d : s.dims) {
          ValuePtr v = eval(*d, f);
          if (is_poison(v)) {
            f.locals[s.target] = make_poison();
            return false;
          }
          int64_t n = as_int(v, d->loc, "a dimension");
          if (n <= 0) fail(d->loc, "input dimensions must be positive, got " + std::to_string(n));
          shape.push_back(n);
        }
        b.loc = s.loc;
        b.scope = f.scope_path;
        if (!input_names.insert(s.target).second) fail(s.loc, "input `" + s.target + "` is declared twice");
        f.locals[s.target] = make_tensor(b.input(s.target, ir::ValueType{dt, shape}));
        saw_input = true;
        return false;
      }
    }
  } catch (const EvalError& e) {
    report(e, &f);
    if (s.kind == ast::StmtKind::Assign || s.kind == ast::StmtKind::Input) f.locals[s.target] = make_poison();
    if (s.kind == ast::StmtKind::Return) {
      *result = make_poison();
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------- networks

std::unique_ptr<ir::Graph> Elaborator::build_network(const Value& network) {
  Impl& I = *impl_;
  if (network.kind != ValueKind::Network || !network.decl) {
    diags_.error(network.loc, "expected a network value");
    return nullptr;
  }
  int errors_before = diags_.error_count();
  auto g = std::make_unique<ir::Graph>();
  g->name = network.decl->name;
  I.graph = g.get();
  I.builder = std::make_unique<ir::Builder>(*g);
  I.taken_names.clear();
  I.name_counters.clear();
  I.input_names.clear();
  I.saw_input = false;

  Frame f;
  f.module = network.module;
  f.decl = network.decl;
  f.call_loc = network.loc;
  try {
    if (network.b) {
      for (const auto& [name, v] : network.fields) f.locals[name] = v;
    } else {
      // The network itself rather than a call of it: every parameter takes its default.
      Frame top;
      top.module = network.module;
      CallArgs none;
      none.loc = network.decl->loc;
      f.locals = I.bind_params(*network.decl, network.module, none, top);
    }
  } catch (const EvalError& e) {
    I.report(e, nullptr);
    I.graph = nullptr;
    I.builder.reset();
    return nullptr;
  }
  f.locals["N"] = make_int(opts_.batch);
  ValuePtr result = make_none();
  bool returned = false;
  try {
    returned = I.exec_block(network.decl->body, f, &result);
  } catch (...) {
    I.graph = nullptr;
    I.builder.reset();
    throw;
  }
  I.graph = nullptr;
  I.builder.reset();
  if (diags_.error_count() > errors_before) return nullptr;
  if (!I.saw_input) {
    diags_.error(network.decl->loc, "network `" + network.decl->name + "` declares no input",
                 "add a line like `input image: f32[N, 3, 224, 224]`");
    return nullptr;
  }
  if (!returned || result->kind != ValueKind::Tensor) {
    diags_.error(network.decl->loc,
                 "network `" + network.decl->name + "` must return a tensor" +
                     (returned ? ", but returns " + describe(*result) : ""),
                 "end the network with `return logits`");
    return nullptr;
  }
  g->outputs.push_back({"output", result->tensor});
  return g;
}

}  // namespace acnn::elab
