#include "compiler/elaborate/value.h"

#include <sstream>

namespace acnn::elab {

std::string Type::str() const {
  switch (kind) {
    case TypeKind::Any: return "any";
    case TypeKind::None: return "none";
    case TypeKind::Int: return "int";
    case TypeKind::Float: return "float";
    case TypeKind::Bool: return "bool";
    case TypeKind::String: return "string";
    case TypeKind::Tensor: return "tensor";
    case TypeKind::List: return "[" + (elem ? elem->str() : std::string("any")) + "]";
    case TypeKind::Record: return record ? record->name : "record";
    case TypeKind::Enum: return enumeration ? enumeration->name : "enum";
    case TypeKind::Block: return "block";
    case TypeKind::Network: return "network";
  }
  return "?";
}

const RecordField* RecordType::field(const std::string& n) const {
  for (const auto& f : fields)
    if (f.name == n) return &f;
  return nullptr;
}

std::vector<std::string> RecordType::field_names() const {
  std::vector<std::string> names;
  for (const auto& f : fields) names.push_back(f.name);
  return names;
}

int EnumType::index(const std::string& m) const {
  for (size_t i = 0; i < members.size(); ++i)
    if (members[i] == m) return static_cast<int>(i);
  return -1;
}

const ValuePtr* Value::field(const std::string& name) const {
  for (const auto& [n, v] : fields)
    if (n == name) return &v;
  return nullptr;
}

ValuePtr make_none() {
  static ValuePtr none = std::make_shared<Value>();
  return none;
}
ValuePtr make_int(int64_t v) {
  auto p = std::make_shared<Value>();
  p->kind = ValueKind::Int;
  p->i = v;
  return p;
}
ValuePtr make_float(double v) {
  auto p = std::make_shared<Value>();
  p->kind = ValueKind::Float;
  p->f = v;
  return p;
}
ValuePtr make_bool(bool v) {
  auto p = std::make_shared<Value>();
  p->kind = ValueKind::Bool;
  p->b = v;
  return p;
}
ValuePtr make_string(std::string v) {
  auto p = std::make_shared<Value>();
  p->kind = ValueKind::String;
  p->s = std::move(v);
  return p;
}
ValuePtr make_list(std::vector<ValuePtr> items) {
  auto p = std::make_shared<Value>();
  p->kind = ValueKind::List;
  p->items = std::move(items);
  return p;
}
ValuePtr make_tensor(ir::ValueId v) {
  auto p = std::make_shared<Value>();
  p->kind = ValueKind::Tensor;
  p->tensor = v;
  return p;
}

ValuePtr make_poison() {
  static ValuePtr poison = [] {
    auto p = std::make_shared<Value>();
    p->kind = ValueKind::Poison;
    return p;
  }();
  return poison;
}

const char* kind_name(ValueKind k) {
  switch (k) {
    case ValueKind::None: return "none";
    case ValueKind::Int: return "int";
    case ValueKind::Float: return "float";
    case ValueKind::Bool: return "bool";
    case ValueKind::String: return "string";
    case ValueKind::List: return "list";
    case ValueKind::Record: return "record";
    case ValueKind::Enum: return "enum";
    case ValueKind::Tensor: return "tensor";
    case ValueKind::Block: return "block";
    case ValueKind::Network: return "network";
    case ValueKind::Module: return "module";
    case ValueKind::RecordType: return "record type";
    case ValueKind::EnumType: return "enum type";
    case ValueKind::Builtin: return "built-in function";
    case ValueKind::Poison: return "<error>";
  }
  return "?";
}

static std::string fmt_float(double d) {
  std::ostringstream os;
  os.precision(10);
  os << d;
  std::string s = os.str();
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string to_text(const Value& v) {
  switch (v.kind) {
    case ValueKind::None: return "none";
    case ValueKind::Int: return std::to_string(v.i);
    case ValueKind::Float: return fmt_float(v.f);
    case ValueKind::Bool: return v.b ? "true" : "false";
    case ValueKind::String: return "\"" + v.s + "\"";
    case ValueKind::List: {
      std::string s = "[";
      for (size_t k = 0; k < v.items.size(); ++k) s += (k ? ", " : "") + to_text(*v.items[k]);
      return s + "]";
    }
    case ValueKind::Record: {
      std::string s = v.record_type ? v.record_type->name + "(" : "{";
      for (size_t k = 0; k < v.fields.size(); ++k)
        s += (k ? ", " : "") + v.fields[k].first + ": " + to_text(*v.fields[k].second);
      return s + (v.record_type ? ")" : "}");
    }
    case ValueKind::Enum: return v.enum_type->name + "." + v.enum_type->members[v.enum_index];
    case ValueKind::Tensor: return "<tensor>";
    case ValueKind::Block: return "<block " + v.decl->name + ">";
    case ValueKind::Network: return "<network " + v.decl->name + ">";
    case ValueKind::Module: return "<module>";
    case ValueKind::RecordType: return v.record_type->name;
    case ValueKind::EnumType: return v.enum_type->name;
    case ValueKind::Builtin: return "<built-in " + v.s + ">";
    case ValueKind::Poison: return "<error>";
  }
  return "?";
}

std::string describe(const Value& v, const ir::Graph* g) {
  switch (v.kind) {
    case ValueKind::Int: case ValueKind::Float: case ValueKind::Bool: case ValueKind::String:
      return std::string(kind_name(v.kind)) + " " + to_text(v);
    case ValueKind::Tensor:
      if (g) return "tensor " + type_str(g->type(v.tensor).dtype, g->type(v.tensor).shape);
      return "tensor";
    case ValueKind::Record: return v.record_type ? "record " + v.record_type->name : "record literal";
    case ValueKind::Enum: return "enum " + to_text(v);
    case ValueKind::Block: return "block `" + v.decl->name + "`";
    case ValueKind::Network: return "network `" + v.decl->name + "`";
    default: return kind_name(v.kind);
  }
}

}  // namespace acnn::elab
