// Values of the Jinja-subset interpreter, with Python's semantics where templates can see them:
// `str()` and `repr()` spellings, truthiness, equality, ordering, and JSON as `json.dumps` writes
// it.
//
// Lists and dicts are immutable once built (HF renders templates in jinja2's
// ImmutableSandboxedEnvironment), so values share them. A namespace() object is the one mutable
// value; it is shared by reference, as in Python. Dicts keep insertion order, as Python's do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace kiln::engine::jinja {

class Value;

// A failure while rendering. The interpreter adds the template line and construct before it
// becomes the UserError a caller sees.
class EvalError : public std::runtime_error {
 public:
  explicit EvalError(const std::string& message) : std::runtime_error(message) {}
};

// Jinja's Undefined: what a missing variable, key or attribute evaluates to. It prints as "",
// is false, iterates as empty, and is an error to look into or compute with. `hint` names what
// was missing, for the error message.
struct Undefined {
  std::string hint;
};

struct None {};

// How deeply lists and dicts may nest. Printing, comparing and freeing values recurse, and a
// template could otherwise build `[[[...]]]` a million deep in a loop.
inline constexpr int kMaxValueDepth = 100;

struct List {
  std::vector<Value> items;
  bool is_tuple = false;  // prints as (a, b) instead of [a, b]
  // Set by Value::list: the nesting depth, and whether a namespace is inside.
  int depth = 1;
  bool has_namespace = false;
};

struct Dict {
  std::vector<std::pair<std::string, Value>> entries;
  // Set by Value::dict, as for List.
  int depth = 1;
  bool has_namespace = false;

  const Value* find(std::string_view key) const;
  // Replaces the value of an existing key in place (keeping its position), else appends.
  void set(std::string key, Value value);
};

// The object namespace() returns: attributes that `{% set ns.x = ... %}` may change.
struct Namespace {
  Dict attributes;
};

// Something a template can call: a global function, a bound method, a macro. The interpreter
// defines the kinds; a value only needs the name to print it.
struct Callable {
  virtual ~Callable() = default;
  // Whether the callable holds a namespace (a method bound to a dict that holds one).
  virtual bool holds_namespace() const { return false; }
  std::string name;
};

class Value {
 public:
  enum class Kind { undefined, none, boolean, integer, floating, string, list, dict, ns, callable };

  Value() : storage_(Undefined{}) {}
  Value(Undefined u) : storage_(std::move(u)) {}
  Value(None) : storage_(None{}) {}
  Value(bool b) : storage_(b) {}
  Value(int64_t i) : storage_(i) {}
  Value(int i) : storage_(int64_t{i}) {}
  Value(double d) : storage_(d) {}
  Value(std::string s) : storage_(std::make_shared<const std::string>(std::move(s))) {}
  Value(const char* s) : Value(std::string(s)) {}
  Value(std::string_view s) : Value(std::string(s)) {}
  Value(std::shared_ptr<const List> l) : storage_(std::move(l)) {}
  Value(std::shared_ptr<const Dict> d) : storage_(std::move(d)) {}
  Value(std::shared_ptr<Namespace> n) : storage_(std::move(n)) {}
  Value(std::shared_ptr<const Callable> c) : storage_(std::move(c)) {}

  // Builders of lists and dicts: they record depth and namespace content, and throw EvalError
  // past kMaxValueDepth.
  static Value list(std::vector<Value> items, bool is_tuple = false);
  static Value dict(Dict dict);

  // Nesting depth (0 for scalars) and whether a namespace is, or is inside, this value.
  int depth() const;
  bool has_namespace() const;

  Kind kind() const { return static_cast<Kind>(storage_.index()); }
  bool is_undefined() const { return kind() == Kind::undefined; }
  bool is_none() const { return kind() == Kind::none; }
  bool is_bool() const { return kind() == Kind::boolean; }
  bool is_int() const { return kind() == Kind::integer; }
  bool is_float() const { return kind() == Kind::floating; }
  // Python's numbers: bool is an int there.
  bool is_number() const { return is_bool() || is_int() || is_float(); }
  bool is_string() const { return kind() == Kind::string; }
  bool is_list() const { return kind() == Kind::list; }
  bool is_dict() const { return kind() == Kind::dict; }
  bool is_namespace() const { return kind() == Kind::ns; }
  bool is_callable() const { return kind() == Kind::callable; }

  const std::string& undefined_hint() const { return std::get<Undefined>(storage_).hint; }
  bool as_bool() const { return std::get<bool>(storage_); }
  // An int or a bool as an integer.
  int64_t as_int() const;
  // Any number as a double.
  double as_double() const;
  const std::string& as_string() const {
    return *std::get<std::shared_ptr<const std::string>>(storage_);
  }
  const List& as_list() const { return *std::get<std::shared_ptr<const List>>(storage_); }
  const Dict& as_dict() const { return *std::get<std::shared_ptr<const Dict>>(storage_); }
  Namespace& as_namespace() const { return *std::get<std::shared_ptr<Namespace>>(storage_); }
  const Callable& as_callable() const {
    return *std::get<std::shared_ptr<const Callable>>(storage_);
  }
  const std::shared_ptr<const Callable>& callable_ptr() const {
    return std::get<std::shared_ptr<const Callable>>(storage_);
  }

 private:
  // Strings are shared: templates read the same message content many times.
  std::variant<Undefined, None, bool, int64_t, double, std::shared_ptr<const std::string>,
               std::shared_ptr<const List>, std::shared_ptr<const Dict>, std::shared_ptr<Namespace>,
               std::shared_ptr<const Callable>>
      storage_;
};

// Python's name of the value's type, for error messages ("str", "int", "dict", ...).
std::string_view type_name(const Value& value);

// Python's truthiness.
bool truthy(const Value& value);

// Python's `==` (1 == 1.0 == True; lists and dicts element-wise; Undefined equals only Undefined).
bool equals(const Value& a, const Value& b);

// Python's ordering for `<`: numbers with numbers, strings with strings, lists element-wise.
// Returns <0, 0 or >0; values Python cannot order (a TypeError there) set `ok` to false.
int compare(const Value& a, const Value& b, bool& ok);

// `str(value)` as Jinja prints it (`{{ value }}`); Undefined prints as "". Throws EvalError when
// the result would pass `max_bytes`.
std::string to_str(const Value& value, size_t max_bytes);
// `repr(value)`.
std::string to_repr(const Value& value, size_t max_bytes);
// Python's repr of a float ("1.0", "0.1", "1e+16", "inf").
std::string float_repr(double value);

// `json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=False)` (indent < 0: none), the
// `tojson` that HF installs. A value JSON cannot hold (Undefined, a namespace, a callable) is
// reported through `ok = false` with its type name in `bad_type`.
std::string to_json(const Value& value, int indent, size_t max_bytes, bool& ok,
                    std::string& bad_type);

// Python's str.isspace() for one code point.
bool is_python_space(uint32_t cpt);

// UTF-8 helpers that treat a byte that starts no valid sequence as a code point of its own, so
// that any bytes survive slicing unchanged.
std::vector<std::string_view> split_code_points(std::string_view text);
size_t count_code_points(std::string_view text);
uint32_t decode_code_point(std::string_view unit);
void append_utf8(std::string& out, uint32_t cpt);

}  // namespace kiln::engine::jinja
