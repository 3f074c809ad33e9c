// The abstract syntax tree of an .acnn file: plain structs with source
// locations, independent of ANTLR (only dsl/parser.cpp sees ANTLR). A Module is
// a list of declarations; blocks and networks hold statements; statements hold
// expressions. Nodes are owned by unique_ptr and never shared. The elaborator
// (compiler/elaborate) walks this tree; `acnn dump --stage ast` prints it.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "dsl/source.h"

namespace acnn::ast {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;

// A type annotation: `int`, `[int]`, `Tweaks`, `tensor`, `any`.
struct TypeRef {
  SourceLoc loc;
  std::string name;                // "int", "float", "bool", "string", "tensor", "any", or a declared name
  std::unique_ptr<TypeRef> elem;   // set for list types `[elem]` (name is then "list")
};

// `name: value` inside a record literal, a `with { }` or a call's keyword arguments.
struct FieldInit {
  SourceLoc loc;  // location of the field name
  std::string name;
  ExprPtr value;
};

enum class ExprKind {
  Int, Float, Bool, String, None,
  Name,         // text = identifier
  List,         // items
  Record,       // fields: `{a: 1, b: 2}`
  Unary,        // op, a
  Binary,       // op, a, b
  Conditional,  // a if cond(b) else c   -> a = then, b = cond, c = else
  Call,         // a = callee, items = positional, fields = keyword
  Member,       // a.text
  Index,        // a[b]
  With,         // a with { fields }
};

enum class UnaryOp { Neg, Not };
enum class BinaryOp { Add, Sub, Mul, Div, Mod, Eq, Ne, Lt, Le, Gt, Ge, In, And, Or };

const char* to_string(UnaryOp op);
const char* to_string(BinaryOp op);

struct Expr {
  ExprKind kind;
  SourceLoc loc;
  int64_t int_value = 0;
  double float_value = 0;
  bool bool_value = false;
  std::string text;  // identifier, string literal (unescaped), or member name
  UnaryOp unary_op = UnaryOp::Neg;
  BinaryOp binary_op = BinaryOp::Add;
  ExprPtr a, b, c;
  std::vector<ExprPtr> items;
  std::vector<FieldInit> fields;

  Expr(ExprKind k, SourceLoc l) : kind(k), loc(l) {}
};

enum class StmtKind { Assign, If, For, Return, Assert, Input };

struct Stmt {
  StmtKind kind;
  SourceLoc loc;
  // Assign: target = value [as name_expr]
  // For: target in value { body }
  // Input: target: dtype[dims]  (dims in `dims`, dtype in `text`)
  std::string target;
  ExprPtr value;
  ExprPtr as_name;               // Assign only, may be null
  ExprPtr cond;                  // If, Assert
  ExprPtr message;               // Assert, may be null
  std::vector<StmtPtr> body;     // If (then), For
  std::vector<StmtPtr> orelse;   // If (else; an `else if` is one nested If)
  std::string text;              // Input dtype ("f32")
  std::vector<ExprPtr> dims;     // Input

  Stmt(StmtKind k, SourceLoc l) : kind(k), loc(l) {}
};

struct Param {
  SourceLoc loc;
  std::string name;
  std::unique_ptr<TypeRef> type;  // null: untyped (any value, usually a tensor)
  ExprPtr default_value;          // null: required
};

struct RecordField {
  SourceLoc loc;
  std::string name;
  std::unique_ptr<TypeRef> type;
  ExprPtr default_value;  // null: required
  std::string doc;
};

enum class DeclKind { Import, Enum, Record, Block, Binding };

struct Decl {
  DeclKind kind;
  SourceLoc loc;
  std::string name;      // enum/record/block/binding name; Import: alias ("" if none)
  std::string doc;       // from `///` lines above
  // Import
  std::string path;
  // Enum
  std::vector<std::string> members;
  std::vector<SourceLoc> member_locs;
  // Record
  std::vector<RecordField> fields;
  // Block / network
  bool is_network = false;
  std::vector<Param> params;
  std::vector<StmtPtr> body;
  // Binding: name = value
  ExprPtr value;

  Decl(DeclKind k, SourceLoc l) : kind(k), loc(l) {}
};

struct Module {
  uint32_t file = 0;   // SourceManager id
  std::string path;    // canonical path of the file
  std::vector<std::unique_ptr<Decl>> decls;
};

// Prints the tree in a stable, indented s-expression-like form (`--stage ast`).
void print(std::ostream& out, const Module& module);
// Prints an expression back as source-like text (used in messages).
std::string to_source(const Expr& e);

}  // namespace acnn::ast
