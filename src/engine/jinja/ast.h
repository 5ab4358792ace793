// The syntax tree of a parsed template: expressions and statements, each with its source line.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/jinja/value.h"

namespace kiln::engine::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;
struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind {
  literal,      // `value`
  name,         // variable `name`
  list,         // [items...]
  tuple,        // (items...)
  dict,         // {keys[i]: items[i]}
  get_attr,     // operand.name
  get_item,     // operand[items[0]]
  slice,        // operand[items[0]:items[1]:items[2]]; a missing part is null
  call,         // operand(items..., kwargs...)
  filter,       // operand | name(items..., kwargs...)
  test,         // operand is [not] name(items...)
  negate,       // -operand
  plus,         // +operand
  logical_not,  // not operand
  binary,       // items[0] op items[1], for + - * / // % ** ~
  compare,      // items[0] ops[0] items[1] ops[1] items[2] ... (chained, Python-style)
  logical_and,  // items[0] and items[1]
  logical_or,   // items[0] or items[1]
  conditional,  // items[0] if items[1] else items[2] (items[2] null: Undefined)
};

struct Expr {
  ExprKind kind = ExprKind::literal;
  int line = 0;
  int depth = 1;               // of the tree under this node; the parser bounds it
  Value value;                 // literal
  std::string name;            // name, get_attr, filter and test names; the binary operator
  bool negated = false;        // test: `is not`
  ExprPtr operand;             // get_attr, get_item, slice, call, filter, test, unary operators
  std::vector<ExprPtr> items;  // see ExprKind
  std::vector<ExprPtr> keys;   // dict keys
  std::vector<std::pair<std::string, ExprPtr>> kwargs;  // call, filter
  std::vector<std::string> ops;  // compare operators: == != < <= > >= in notin
};

// An assignment target: a name, `ns.attr`, or a tuple of names.
struct Target {
  std::vector<std::string> names;  // one name, or several for unpacking
  std::string attribute;           // non-empty: `names[0].attribute`
  bool is_tuple = false;
};

enum class StmtKind {
  text,          // output `text`
  print,         // {{ expr }}
  if_,           // branches: if/elif conditions with bodies, then else_body
  for_,          // for target in expr [if filter]: body, else_body
  set,           // {% set target = expr %}
  set_block,     // {% set target [| filters] %}body{% endset %}
  macro,         // {% macro name(params) %}body{% endmacro %}
  filter_block,  // {% filter f %}body{% endfilter %}
  break_,
  continue_,
  generation,  // HF's {% generation %}body{% endgeneration %}: renders body as it is
};

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // may be null
};

struct Stmt {
  StmtKind kind = StmtKind::text;
  int line = 0;
  std::string text;   // text; macro name
  ExprPtr expr;       // print, for (the iterable), set; set_block and filter_block: the filter
                      // chain, whose innermost operand is null and stands for the body's output
  ExprPtr condition;  // for: the `if` filter
  Target target;      // for, set, set_block
  std::vector<std::pair<ExprPtr, Body>> branches;  // if/elif
  Body body;
  Body else_body;
  std::vector<MacroParam> params;
  bool uses_loop = false;  // for: whether the body may read `loop` (else it is not built)
};

}  // namespace kiln::engine::jinja
