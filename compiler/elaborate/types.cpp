// Type annotations and coercion: checks a value against a parameter or field
// type, widening ints to floats, turning record literals into typed records
// (unknown fields are errors with hints, missing fields take defaults) and
// strings into enum members.

#include "compiler/elaborate/impl.h"

namespace acnn::elab {

Type Elaborator::Impl::resolve_type(const ast::TypeRef* t, const ModuleScope* scope) {
  Type r;
  if (!t) return r;
  static const std::map<std::string, TypeKind> builtin = {
      {"any", TypeKind::Any}, {"int", TypeKind::Int}, {"float", TypeKind::Float}, {"bool", TypeKind::Bool},
      {"string", TypeKind::String}, {"tensor", TypeKind::Tensor}};
  if (t->name == "list") {
    r.kind = TypeKind::List;
    r.elem = std::make_shared<Type>(resolve_type(t->elem.get(), scope));
    return r;
  }
  if (auto it = builtin.find(t->name); it != builtin.end()) {
    r.kind = it->second;
    return r;
  }
  Frame f;
  f.module = scope;
  ValuePtr v = lookup(f, t->name);
  if (v && v->kind == ValueKind::RecordType) {
    r.kind = TypeKind::Record;
    r.record = v->record_type;
    return r;
  }
  if (v && v->kind == ValueKind::EnumType) {
    r.kind = TypeKind::Enum;
    r.enumeration = v->enum_type;
    return r;
  }
  std::vector<std::string> candidates = {"any", "int", "float", "bool", "string", "tensor"};
  for (const auto& n : visible_names(f)) candidates.push_back(n);
  fail(t->loc, "unknown type `" + t->name + "`", did_you_mean(t->name, candidates));
}

ValuePtr Elaborator::Impl::coerce(const ValuePtr& v, const Type& t, SourceLoc loc, const std::string& what) {
  if (is_poison(v)) return v;
  auto mismatch = [&](const std::string& hint = {}) -> ValuePtr {
    std::string expected = t.kind == TypeKind::List ? "a list " + t.str() : (t.kind == TypeKind::Int ? "an " : "a ") + t.str();
    fail(loc, what + " must be " + expected + ", got " + describe(*v, graph), hint);
  };
  switch (t.kind) {
    case TypeKind::Any: return v;
    case TypeKind::None: return v->kind == ValueKind::None ? v : mismatch();
    case TypeKind::Int:
      if (v->kind == ValueKind::Int) return v;
      return mismatch(v->kind == ValueKind::Float ? "use int(x), or `/` between ints for floor division" : "");
    case TypeKind::Float:
      if (v->kind == ValueKind::Float) return v;
      if (v->kind == ValueKind::Int) return make_float(static_cast<double>(v->i));
      return mismatch();
    case TypeKind::Bool: return v->kind == ValueKind::Bool ? v : mismatch();
    case TypeKind::String: return v->kind == ValueKind::String ? v : mismatch();
    case TypeKind::Tensor: return v->kind == ValueKind::Tensor ? v : mismatch();
    case TypeKind::Block: return v->kind == ValueKind::Block ? v : mismatch();
    case TypeKind::Network: return v->kind == ValueKind::Network ? v : mismatch();
    case TypeKind::List: {
      if (v->kind != ValueKind::List) return mismatch(v->kind == ValueKind::Int ? "write [x] for a one-element list" : "");
      std::vector<ValuePtr> items;
      bool changed = false;
      for (size_t i = 0; i < v->items.size(); ++i) {
        ValuePtr c = coerce(v->items[i], *t.elem, loc, what + " element " + std::to_string(i));
        changed |= c != v->items[i];
        items.push_back(c);
      }
      return changed ? make_list(std::move(items)) : v;
    }
    case TypeKind::Enum: {
      if (v->kind == ValueKind::Enum && v->enum_type == t.enumeration) return v;
      if (v->kind == ValueKind::String) {
        int idx = t.enumeration->index(v->s);
        if (idx < 0) {
          std::string hint = did_you_mean(v->s, t.enumeration->members);
          if (hint.empty()) {
            hint = "members are:";
            for (const auto& m : t.enumeration->members) hint += " " + m;
          }
          fail(loc, "\"" + v->s + "\" is not a member of enum " + t.enumeration->name, hint);
        }
        auto e = std::make_shared<Value>();
        e->kind = ValueKind::Enum;
        e->enum_type = t.enumeration;
        e->enum_index = idx;
        return e;
      }
      return mismatch();
    }
    case TypeKind::Record: {
      if (v->kind != ValueKind::Record) return mismatch();
      if (v->record_type == t.record) return v;
      if (v->record_type) return mismatch();
      std::vector<SourceLoc> locs(v->fields.size(), loc);
      return make_record(*t.record, v->fields, locs, loc);
    }
  }
  return v;
}

ValuePtr Elaborator::Impl::make_record(const RecordType& type, const std::vector<std::pair<std::string, ValuePtr>>& given,
                                       const std::vector<SourceLoc>& locs, SourceLoc loc) {
  for (size_t i = 0; i < given.size(); ++i)
    if (!type.field(given[i].first)) {
      std::string hint = did_you_mean(given[i].first, type.field_names());
      if (hint.empty()) {
        hint = "fields of " + type.name + ":";
        for (const auto& n : type.field_names()) hint += " " + n;
      }
      fail(i < locs.size() ? locs[i] : loc, "record " + type.name + " has no field `" + given[i].first + "`", hint);
    }
  auto r = std::make_shared<Value>();
  r->kind = ValueKind::Record;
  r->record_type = &type;
  r->loc = loc;
  for (const RecordField& f : type.fields) {
    ValuePtr v;
    SourceLoc at = loc;
    for (size_t i = 0; i < given.size(); ++i)
      if (given[i].first == f.name) v = given[i].second, at = i < locs.size() ? locs[i] : loc;
    if (!v) {
      if (!f.default_value)
        fail(loc, "record " + type.name + " needs field `" + f.name + "`", "it has no default; give `" + f.name + ": value`");
      Frame df;
      df.module = type.scope;
      v = eval(*f.default_value, df);
      at = f.default_value->loc;
    }
    r->fields.push_back({f.name, coerce(v, f.type, at, "field `" + f.name + "` of " + type.name)});
  }
  return r;
}

ValuePtr Elaborator::Impl::merge_record(const ValuePtr& base, const std::vector<std::pair<std::string, ValuePtr>>& over,
                                        const std::vector<SourceLoc>& locs, SourceLoc loc) {
  auto r = std::make_shared<Value>(*base);
  r->loc = loc;
  for (size_t i = 0; i < over.size(); ++i) {
    const auto& [name, value] = over[i];
    SourceLoc at = i < locs.size() ? locs[i] : loc;
    ValuePtr* slot = nullptr;
    for (auto& [n, v] : r->fields)
      if (n == name) slot = &v;
    if (!slot) {
      if (r->record_type) {
        std::string hint = did_you_mean(name, r->record_type->field_names());
        fail(at, "record " + r->record_type->name + " has no field `" + name + "`", hint);
      }
      r->fields.push_back({name, value});
      continue;
    }
    // A record literal merges into a record field instead of replacing it.
    if ((*slot)->kind == ValueKind::Record && value->kind == ValueKind::Record && !value->record_type) {
      std::vector<SourceLoc> inner(value->fields.size(), at);
      *slot = merge_record(*slot, value->fields, inner, at);
      continue;
    }
    if (r->record_type) {
      const RecordField* f = r->record_type->field(name);
      *slot = coerce(value, f->type, at, "field `" + name + "` of " + r->record_type->name);
    } else {
      *slot = value;
    }
  }
  return r;
}

}  // namespace acnn::elab
