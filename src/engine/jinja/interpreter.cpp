#include "engine/jinja/interpreter.h"

#include <exception>
#include <memory>

#include "base/error.h"
#include "engine/jinja/builtins.h"

namespace kiln::engine::jinja {

namespace {

// How deeply statements, expressions and macro calls may nest while rendering, all together:
// this bounds the interpreter's use of the C++ stack.
constexpr int kMaxEvalDepth = 1000;

// A macro call costs more than one step: it sets up a scope and an output buffer.
constexpr int64_t kMacroCallSteps = 10;

// Variables visible at one point: a loop iteration, a macro call, the template's top level. A
// `set` writes into the innermost scope, so it does not leak out of a loop (jinja2's scoping).
struct Scope {
  std::shared_ptr<Scope> parent;
  Dict vars;

  const Value* find(std::string_view name) const {
    for (const Scope* scope = this; scope != nullptr; scope = scope->parent.get()) {
      if (const Value* value = scope->vars.find(name)) return value;
    }
    return nullptr;
  }
};

using ScopePtr = std::shared_ptr<Scope>;

ScopePtr child_of(const ScopePtr& parent) {
  auto scope = std::make_shared<Scope>();
  scope->parent = parent;
  return scope;
}

struct Macro : Callable {
  const Stmt* definition = nullptr;
  // Weak: a macro stored in its own scope must not keep that scope alive forever.
  std::weak_ptr<Scope> closure;
};

enum class Flow { next, break_loop, continue_loop };

// `message` with the filter or test it came from named in front, unless it names it already.
std::string naming(std::string_view what, const std::string& name, std::string_view message) {
  const std::string label = fmt::format("{} '{}'", what, name);
  if (message.find(label) != std::string_view::npos) return std::string(message);
  return fmt::format("in {}: {}", label, message);
}

const char* construct_name(StmtKind kind) {
  switch (kind) {
    case StmtKind::text: return "text";
    case StmtKind::print: return "{{ ... }}";
    case StmtKind::if_: return "if";
    case StmtKind::for_: return "for";
    case StmtKind::set:
    case StmtKind::set_block: return "set";
    case StmtKind::macro: return "macro";
    case StmtKind::filter_block: return "filter";
    case StmtKind::break_: return "break";
    case StmtKind::continue_: return "continue";
    case StmtKind::generation: return "generation";
  }
  return "statement";
}

class Interpreter {
 public:
  explicit Interpreter(const RenderLimits& limits) : limits_(limits), budget_(limits_) {}

  std::string run(const Body& body, const Dict& context) {
    auto root = std::make_shared<Scope>();
    for (auto& [name, value] : global_functions()) root->vars.set(name, value);
    for (const auto& [name, value] : context.entries) root->vars.set(name, value);
    std::string out;
    try {
      exec_body(body, root, out);
    } catch (const EvalError& e) {
      if (construct_ == nullptr) user_error("chat template error at line {}: {}", line_, e.what());
      user_error("chat template error at line {} (in '{}'): {}", line_, construct_, e.what());
    }
    return out;
  }

 private:
  // Tracks the line being run, for error messages, and the nesting depth. On an exception the
  // line is left as it was at the throw.
  class Frame {
   public:
    Frame(Interpreter& interpreter, int line, const char* construct = nullptr)
        : interpreter_(interpreter),
          saved_line_(interpreter.line_),
          saved_construct_(interpreter.construct_),
          exceptions_(std::uncaught_exceptions()) {
      interpreter_.line_ = line;
      if (construct != nullptr) interpreter_.construct_ = construct;
      interpreter_.budget_.steps(1);
      if (++interpreter_.depth_ > kMaxEvalDepth) {
        throw EvalError(
            fmt::format("the template nests more than {} levels deep while rendering "
                        "(runaway macro recursion?)",
                        kMaxEvalDepth));
      }
    }
    ~Frame() {
      --interpreter_.depth_;
      if (std::uncaught_exceptions() == exceptions_) {
        interpreter_.line_ = saved_line_;
        interpreter_.construct_ = saved_construct_;
      }
    }
    Frame(const Frame&) = delete;
    Frame& operator=(const Frame&) = delete;

   private:
    Interpreter& interpreter_;
    int saved_line_;
    const char* saved_construct_;
    int exceptions_;
  };

  void emit(std::string& out, std::string_view text) {
    if (out.size() + text.size() > limits_.max_output_bytes) {
      throw EvalError(
          fmt::format("the output would exceed the limit of {} bytes", limits_.max_output_bytes));
    }
    budget_.work(text.size());
    out += text;
  }

  // ---- statements ----

  Flow exec_body(const Body& body, const ScopePtr& scope, std::string& out) {
    for (const StmtPtr& stmt : body) {
      const Flow flow = exec(*stmt, scope, out);
      if (flow != Flow::next) return flow;
    }
    return Flow::next;
  }

  Flow exec(const Stmt& stmt, const ScopePtr& scope, std::string& out) {
    Frame frame(*this, stmt.line, construct_name(stmt.kind));
    switch (stmt.kind) {
      case StmtKind::text: emit(out, stmt.text); return Flow::next;
      case StmtKind::print: {
        const Value value = eval(*stmt.expr, *scope);
        if (value.is_string()) {
          emit(out, value.as_string());
        } else {
          emit(out, to_str(value, limits_.max_output_bytes));
        }
        return Flow::next;
      }
      case StmtKind::if_:
        for (const auto& [condition, body] : stmt.branches) {
          if (truthy(eval(*condition, *scope))) return exec_body(body, scope, out);
        }
        return exec_body(stmt.else_body, scope, out);
      case StmtKind::for_: return exec_for(stmt, scope, out);
      case StmtKind::set: assign(stmt.target, eval(*stmt.expr, *scope), *scope); return Flow::next;
      case StmtKind::set_block: {
        std::string text;
        exec_body(stmt.body, scope, text);
        Value value(std::move(text));
        if (stmt.expr) value = eval_with_placeholder(*stmt.expr, *scope, value);
        assign(stmt.target, std::move(value), *scope);
        return Flow::next;
      }
      case StmtKind::macro: {
        auto macro = std::make_shared<Macro>();
        macro->name = stmt.text;
        macro->definition = &stmt;
        macro->closure = scope;
        scope->vars.set(stmt.text, Value(std::shared_ptr<const Callable>(std::move(macro))));
        return Flow::next;
      }
      case StmtKind::filter_block: {
        std::string text;
        exec_body(stmt.body, scope, text);
        const Value value = eval_with_placeholder(*stmt.expr, *scope, Value(std::move(text)));
        emit(out, to_str(value, limits_.max_output_bytes));
        return Flow::next;
      }
      case StmtKind::break_: return Flow::break_loop;
      case StmtKind::continue_: return Flow::continue_loop;
      case StmtKind::generation:
        // HF renders the body through a caller block: a scope of its own.
        exec_body(stmt.body, child_of(scope), out);
        return Flow::next;
    }
    return Flow::next;
  }

  Flow exec_for(const Stmt& stmt, const ScopePtr& scope, std::string& out) {
    std::vector<Value> items = iterate(eval(*stmt.expr, *scope), budget_);
    if (stmt.condition) {
      std::vector<Value> kept;
      for (Value& item : items) {
        budget_.steps(1);
        const ScopePtr filter_scope = child_of(scope);
        assign(stmt.target, item, *filter_scope);
        if (truthy(eval(*stmt.condition, *filter_scope))) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    const auto length = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < length; ++i) {
      budget_.steps(1);
      const ScopePtr iteration = child_of(scope);
      assign(stmt.target, items[static_cast<size_t>(i)], *iteration);
      if (!stmt.uses_loop) {
        if (exec_body(stmt.body, iteration, out) == Flow::break_loop) break;
        continue;
      }
      Dict loop;
      loop.entries.reserve(12);
      loop.entries.emplace_back("index", Value(i + 1));
      loop.entries.emplace_back("index0", Value(i));
      loop.entries.emplace_back("revindex", Value(length - i));
      loop.entries.emplace_back("revindex0", Value(length - i - 1));
      loop.entries.emplace_back("first", Value(i == 0));
      loop.entries.emplace_back("last", Value(i == length - 1));
      loop.entries.emplace_back("length", Value(length));
      loop.entries.emplace_back("depth", Value(1));
      loop.entries.emplace_back("depth0", Value(0));
      loop.entries.emplace_back("previtem", i > 0 ? items[static_cast<size_t>(i - 1)]
                                                  : Value(Undefined{"there is no previous item"}));
      loop.entries.emplace_back("nextitem", i + 1 < length
                                                ? items[static_cast<size_t>(i + 1)]
                                                : Value(Undefined{"there is no next item"}));
      budget_.steps(static_cast<int64_t>(loop.entries.size()));  // as for any dict built
      iteration->vars.set("loop", Value::dict(std::move(loop)));
      if (exec_body(stmt.body, iteration, out) == Flow::break_loop) break;
    }
    if (length == 0) return exec_body(stmt.else_body, child_of(scope), out);
    return Flow::next;
  }

  void assign(const Target& target, Value value, Scope& scope) {
    if (!target.attribute.empty()) {
      const Value* ns = scope.find(target.names[0]);
      if (ns == nullptr || !ns->is_namespace()) {
        throw EvalError(fmt::format("cannot assign attribute '{}' of '{}': not a namespace",
                                    target.attribute, target.names[0]));
      }
      if (value.has_namespace()) throw EvalError("a namespace cannot hold a namespace");
      ns->as_namespace().attributes.set(target.attribute, std::move(value));
      return;
    }
    if (!target.is_tuple) {
      scope.vars.set(target.names[0], std::move(value));
      return;
    }
    std::vector<Value> parts;
    if (value.is_list()) {
      parts = value.as_list().items;
    } else if (value.is_string()) {
      parts = iterate(value, budget_);
    } else {
      if (value.is_undefined()) undefined_error(value);
      throw EvalError(fmt::format("cannot unpack a non-sequence '{}'", type_name(value)));
    }
    if (parts.size() > target.names.size()) {
      throw EvalError(fmt::format("too many values to unpack (expected {})", target.names.size()));
    }
    if (parts.size() < target.names.size()) {
      throw EvalError(fmt::format("not enough values to unpack (expected {}, got {})",
                                  target.names.size(), parts.size()));
    }
    for (size_t i = 0; i < parts.size(); ++i) scope.vars.set(target.names[i], std::move(parts[i]));
  }

  // ---- expressions ----

  // Evaluates a filter chain of a filter block or block set: the innermost null operand stands
  // for the body's output.
  Value eval_with_placeholder(const Expr& chain, Scope& scope, Value body) {
    const Value* saved = placeholder_;
    placeholder_ = &body;
    Value result = eval(chain, scope);
    placeholder_ = saved;
    return result;
  }

  Args eval_args(const Expr& expr, Scope& scope) {
    Args args;
    args.positional.reserve(expr.items.size());
    for (const ExprPtr& item : expr.items) args.positional.push_back(eval(*item, scope));
    for (const auto& [name, value] : expr.kwargs)
      args.keywords.emplace_back(name, eval(*value, scope));
    return args;
  }

  Value eval(const Expr& expr, Scope& scope) {
    Frame frame(*this, expr.line);
    switch (expr.kind) {
      case ExprKind::literal: return expr.value;
      case ExprKind::name: {
        if (const Value* value = scope.find(expr.name)) return *value;
        return Value(Undefined{fmt::format("'{}' is undefined", expr.name)});
      }
      case ExprKind::list:
      case ExprKind::tuple: {
        std::vector<Value> items;
        items.reserve(expr.items.size());
        for (const ExprPtr& item : expr.items) items.push_back(eval(*item, scope));
        budget_.steps(static_cast<int64_t>(items.size()));
        return Value::list(std::move(items), expr.kind == ExprKind::tuple);
      }
      case ExprKind::dict: {
        Dict dict;
        for (size_t i = 0; i < expr.keys.size(); ++i) {
          const Value key = eval(*expr.keys[i], scope);
          if (!key.is_string()) {
            throw EvalError(fmt::format("dict keys must be strings here, not {}", type_name(key)));
          }
          dict.set(key.as_string(), eval(*expr.items[i], scope));
        }
        budget_.steps(static_cast<int64_t>(dict.entries.size()));
        return Value::dict(std::move(dict));
      }
      case ExprKind::get_attr: return get_attribute(eval(*expr.operand, scope), expr.name);
      case ExprKind::get_item:
        return get_item(eval(*expr.operand, scope), eval(*expr.items[0], scope));
      case ExprKind::slice: {
        const Value object = eval(*expr.operand, scope);
        const auto part = [&](size_t i) {
          return expr.items[i] ? eval(*expr.items[i], scope) : Value(None{});
        };
        const Value start = part(0);
        const Value stop = part(1);
        const Value step = part(2);
        return get_slice(object, start, stop, step, budget_);
      }
      case ExprKind::call: return eval_call(expr, scope);
      case ExprKind::filter: {
        Value input;
        if (expr.operand) {
          input = eval(*expr.operand, scope);
        } else if (placeholder_ != nullptr) {
          input = *placeholder_;
        }
        const Args args = eval_args(expr, scope);
        try {
          return apply_filter(expr.name, input, args, budget_);
        } catch (const EvalError& e) {
          throw EvalError(naming("filter", expr.name, e.what()));
        }
      }
      case ExprKind::test: {
        const Value input = eval(*expr.operand, scope);
        const Args args = eval_args(expr, scope);
        try {
          return Value(apply_test(expr.name, input, args, budget_) != expr.negated);
        } catch (const EvalError& e) {
          throw EvalError(naming("test", expr.name, e.what()));
        }
      }
      case ExprKind::negate:
      case ExprKind::plus: {
        const Value operand = eval(*expr.operand, scope);
        if (operand.is_undefined()) undefined_error(operand);
        if (!operand.is_number()) {
          throw EvalError(fmt::format("bad operand type for unary {}: '{}'",
                                      expr.kind == ExprKind::negate ? "-" : "+",
                                      type_name(operand)));
        }
        if (expr.kind == ExprKind::plus) {
          return operand.is_float() ? operand : Value(operand.as_int());
        }
        if (operand.is_float()) return Value(-operand.as_double());
        if (operand.as_int() == std::numeric_limits<int64_t>::min()) {
          throw EvalError("integer overflow in unary '-'");
        }
        return Value(-operand.as_int());
      }
      case ExprKind::logical_not: return Value(!truthy(eval(*expr.operand, scope)));
      case ExprKind::binary:
        return binary_op(expr.name, eval(*expr.items[0], scope), eval(*expr.items[1], scope),
                         budget_);
      case ExprKind::compare: {
        // Python chains: a < b < c means a < b and b < c, b evaluated once.
        Value left = eval(*expr.items[0], scope);
        for (size_t i = 0; i < expr.ops.size(); ++i) {
          Value right = eval(*expr.items[i + 1], scope);
          if (!compare_op(expr.ops[i], left, right, budget_)) return Value(false);
          left = std::move(right);
        }
        return Value(true);
      }
      // `and` and `or` give one of their operands, as in Python.
      case ExprKind::logical_and: {
        Value left = eval(*expr.items[0], scope);
        if (!truthy(left)) return left;
        return eval(*expr.items[1], scope);
      }
      case ExprKind::logical_or: {
        Value left = eval(*expr.items[0], scope);
        if (truthy(left)) return left;
        return eval(*expr.items[1], scope);
      }
      case ExprKind::conditional:
        if (truthy(eval(*expr.items[1], scope))) return eval(*expr.items[0], scope);
        if (expr.items[2]) return eval(*expr.items[2], scope);
        return Value(Undefined{"the conditional expression had no else branch"});
    }
    throw EvalError("unknown expression");
  }

  Value eval_call(const Expr& expr, Scope& scope) {
    const Value callee = eval(*expr.operand, scope);
    if (callee.is_undefined()) undefined_error(callee);
    if (!callee.is_callable()) {
      throw EvalError(fmt::format("'{}' object is not callable", type_name(callee)));
    }
    const Args args = eval_args(expr, scope);
    if (const auto* macro = dynamic_cast<const Macro*>(&callee.as_callable())) {
      return call_macro(*macro, args);
    }
    return call_builtin(callee.as_callable(), args, budget_);
  }

  Value call_macro(const Macro& macro, const Args& args) {
    const ScopePtr closure = macro.closure.lock();
    if (!closure) {
      throw EvalError(fmt::format("macro '{}' was called after its scope ended", macro.name));
    }
    budget_.steps(kMacroCallSteps);
    if (call_depth_ >= limits_.max_call_depth) {
      throw EvalError(fmt::format("macro calls nest more than {} deep (runaway recursion?)",
                                  limits_.max_call_depth));
    }
    ++call_depth_;
    struct Leave {
      int& depth;
      ~Leave() { --depth; }
    } leave{call_depth_};

    const Stmt& definition = *macro.definition;
    const auto& params = definition.params;
    if (args.positional.size() > params.size()) {
      throw EvalError(
          fmt::format("macro '{}' takes not more than {} argument(s)", macro.name, params.size()));
    }
    const ScopePtr scope = child_of(closure);
    std::vector<bool> given(params.size(), false);
    for (size_t i = 0; i < args.positional.size(); ++i) {
      scope->vars.set(params[i].name, args.positional[i]);
      given[i] = true;
    }
    for (const auto& [name, value] : args.keywords) {
      size_t index = 0;
      while (index < params.size() && params[index].name != name) ++index;
      if (index == params.size()) {
        throw EvalError(fmt::format("macro '{}' takes no keyword argument '{}'", macro.name, name));
      }
      if (given[index]) {
        throw EvalError(
            fmt::format("macro '{}' got multiple values for argument '{}'", macro.name, name));
      }
      scope->vars.set(name, value);
      given[index] = true;
    }
    for (size_t i = 0; i < params.size(); ++i) {
      if (given[i]) continue;
      scope->vars.set(params[i].name,
                      params[i].default_value
                          ? eval(*params[i].default_value, *scope)
                          : Value(Undefined{fmt::format("'{}' is undefined", params[i].name)}));
    }
    std::string out;
    exec_body(definition.body, scope, out);
    return Value(std::move(out));
  }

  const RenderLimits limits_;
  Budget budget_;
  int line_ = 0;
  const char* construct_ = nullptr;  // the innermost statement running, for error messages
  int depth_ = 0;
  int call_depth_ = 0;
  const Value* placeholder_ = nullptr;
};

}  // namespace

std::string render(const Body& body, const Dict& context, const RenderLimits& limits) {
  return Interpreter(limits).run(body, context);
}

}  // namespace kiln::engine::jinja
