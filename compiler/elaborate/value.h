// Compile-time values of the language: what the elaborator computes with.
// Values are immutable and shared (ValuePtr). A Tensor value is an IR value id
// in the graph being built; everything else is known at compile time. Types
// describe what a parameter or record field accepts.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "dsl/ast.h"

namespace acnn::elab {

struct Value;
using ValuePtr = std::shared_ptr<const Value>;
struct RecordType;
struct EnumType;
struct ModuleScope;

enum class TypeKind { Any, None, Int, Float, Bool, String, Tensor, List, Record, Enum, Block, Network };

struct Type {
  TypeKind kind = TypeKind::Any;
  std::shared_ptr<const Type> elem;       // List
  const RecordType* record = nullptr;     // Record
  const EnumType* enumeration = nullptr;  // Enum
  std::string str() const;
};

struct RecordField {
  std::string name;
  Type type;
  const ast::Expr* default_value = nullptr;  // evaluated when the record is built
  SourceLoc loc;
};

struct RecordType {
  std::string name;
  std::vector<RecordField> fields;
  const ModuleScope* scope = nullptr;  // where defaults are evaluated
  SourceLoc loc;
  const RecordField* field(const std::string& n) const;
  std::vector<std::string> field_names() const;
};

struct EnumType {
  std::string name;
  std::vector<std::string> members;
  int index(const std::string& m) const;  // -1 if absent
};

// Poison marks the result of an expression that already produced an error: it
// silently absorbs further operations so that one mistake is reported once.
enum class ValueKind { None, Int, Float, Bool, String, List, Record, Enum, Tensor, Block, Network, Module, RecordType, EnumType, Builtin, Poison };

struct Value {
  ValueKind kind = ValueKind::None;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string s;                                     // String; Builtin name
  std::vector<ValuePtr> items;                       // List; Network: positional args
  std::vector<std::pair<std::string, ValuePtr>> fields;  // Record (in declared order); Network: keyword args
  const RecordType* record_type = nullptr;           // Record (null: untyped literal); RecordType
  const EnumType* enum_type = nullptr;               // Enum, EnumType
  int enum_index = 0;
  ir::ValueId tensor = ir::kNoValue;                 // Tensor
  const ast::Decl* decl = nullptr;                   // Block, Network
  const ModuleScope* module = nullptr;               // Block, Network (defining module), Module
  SourceLoc loc;                                     // Network: where it was made

  const ValuePtr* field(const std::string& name) const;
};

ValuePtr make_none();
ValuePtr make_int(int64_t v);
ValuePtr make_float(double v);
ValuePtr make_bool(bool v);
ValuePtr make_string(std::string v);
ValuePtr make_list(std::vector<ValuePtr> items);
ValuePtr make_tensor(ir::ValueId v);
ValuePtr make_poison();

const char* kind_name(ValueKind k);
// A short description for messages: "int 3", "tensor f32[1,64,56,56]", "record Tweaks".
std::string describe(const Value& v, const ir::Graph* g = nullptr);
// Source-like text of a compile-time value ("[1, 2]", "{a: 1}").
std::string to_text(const Value& v);

}  // namespace acnn::elab
