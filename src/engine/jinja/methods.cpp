// Methods of str and dict (`text.strip()`, `message.items()`) and the global functions (range,
// namespace, dict, raise_exception, strftime_now), with Python's and jinja2's semantics.
#include <algorithm>
#include <ctime>
#include <map>

#include "engine/jinja/library.h"

namespace kiln::engine::jinja {
namespace {

using namespace lib;

constexpr std::string_view kStringMethods[] = {
    "strip", "lstrip",  "rstrip", "startswith", "endswith", "split", "upper",
    "lower", "replace", "title",  "capitalize", "find",     "count", "join",
};
constexpr std::string_view kDictMethods[] = {"items", "keys", "values", "get"};

Value call_string_method(const std::string& name, const std::string& text, const Args& args,
                         Budget& budget) {
  const std::string what = fmt::format("str.{}()", name);
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const Bound bound(what, args, {"chars"});
    std::optional<std::string> chars;
    if (bound.has(0)) chars = string_arg(what, bound[0]);
    return Value(py_strip(text, chars, name != "rstrip", name != "lstrip", budget));
  }
  if (name == "startswith" || name == "endswith") {
    const Bound bound(what, args, {"prefix"}, 1);
    return Value(starts_or_ends_with(what, text, bound[0], name == "startswith"));
  }
  if (name == "split") {
    const Bound bound(what, args, {"sep", "maxsplit"});
    std::optional<std::string> separator;
    if (bound.has(0)) separator = string_arg(what, bound[0]);
    const int64_t max_split = bound.has(1) ? int_arg(what, bound[1]) : -1;
    return Value::list(py_split(text, separator, max_split, budget));
  }
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    Bound(what, args, {});
    budget.work(text.size());
    if (name == "upper") return Value(to_upper(text));
    if (name == "lower") return Value(to_lower(text));
    if (name == "title") return Value(py_title(text));
    return Value(py_capitalize(text));
  }
  if (name == "replace") {
    const Bound bound(what, args, {"old", "new", "count"}, 2);
    const int64_t count = bound.has(2) ? int_arg(what, bound[2]) : -1;
    return Value(
        py_replace(text, string_arg(what, bound[0]), string_arg(what, bound[1]), count, budget));
  }
  if (name == "find" || name == "count") {
    const Bound bound(what, args, {"sub"}, 1);
    const std::string& needle = string_arg(what, bound[0]);
    budget.work(product(text.size(), std::max<size_t>(1, needle.size())));
    if (name == "find") {
      const size_t found = text.find(needle);
      if (found == std::string::npos) return Value(-1);
      return Value(
          static_cast<int64_t>(count_code_points(std::string_view(text).substr(0, found))));
    }
    if (needle.empty()) return Value(static_cast<int64_t>(count_code_points(text) + 1));
    int64_t count = 0;
    for (size_t pos = text.find(needle); pos != std::string::npos;
         pos = text.find(needle, pos + needle.size())) {
      ++count;
    }
    return Value(count);
  }
  if (name == "join") {
    const Bound bound(what, args, {"iterable"}, 1);
    std::string out;
    bool first = true;
    for (const Value& item : iterate(bound[0], budget)) {
      const std::string& part = string_arg(what, item);
      budget.string_bytes(out.size() + text.size() + part.size());
      if (!first) out += text;
      first = false;
      out += part;
    }
    return Value(std::move(out));
  }
  fail(fmt::format("'str' object has no attribute '{}'", name));
}

Value call_dict_method(const std::string& name, const Dict& dict, const Args& args,
                       Budget& budget) {
  const std::string what = fmt::format("dict.{}()", name);
  if (name == "get") {
    const Bound bound(what, args, {"key", "default"}, 1);
    const Value* found = bound[0].is_string() ? dict.find(bound[0].as_string()) : nullptr;
    if (found != nullptr) return *found;
    return bound.present(1) ? bound[1] : Value(None{});
  }
  Bound(what, args, {});
  budget.steps(static_cast<int64_t>(dict.entries.size()));
  std::vector<Value> out;
  for (const auto& [key, value] : dict.entries) {
    if (name == "items") {
      out.push_back(Value::list({Value(key), value}, true));
    } else if (name == "keys") {
      out.emplace_back(key);
    } else {
      out.push_back(value);
    }
  }
  return Value::list(std::move(out));
}

// ---- global functions ----

Value call_range(const Args& args, Budget& budget) {
  if (!args.keywords.empty()) fail("range() takes no keyword arguments");
  if (args.positional.empty() || args.positional.size() > 3) {
    fail(fmt::format("range expected 1 to 3 arguments, got {}", args.positional.size()));
  }
  int64_t start = 0;
  int64_t stop = 0;
  int64_t step = 1;
  if (args.positional.size() == 1) {
    stop = int_arg("range()", args.positional[0]);
  } else {
    start = int_arg("range()", args.positional[0]);
    stop = int_arg("range()", args.positional[1]);
    if (args.positional.size() == 3) step = int_arg("range()", args.positional[2]);
  }
  if (step == 0) fail("range() arg 3 must not be zero");
  // jinja2's sandbox refuses ranges of more than MAX_RANGE items.
  constexpr int64_t kMaxRange = 100000;
  const long double length = step > 0 ? (static_cast<long double>(stop) - start + step - 1) / step
                                      : (static_cast<long double>(start) - stop - step - 1) / -step;
  if (length > kMaxRange) {
    fail(fmt::format("Range too big. The sandbox blocks ranges larger than MAX_RANGE ({}).",
                     kMaxRange));
  }
  std::vector<Value> items;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) items.emplace_back(i);
  budget.steps(static_cast<int64_t>(items.size()));
  return Value::list(std::move(items));
}

Value make_dict_from_keywords(std::string_view what, const Args& args, bool forbid_namespaces) {
  Dict dict;
  for (const Value& positional : args.positional) {
    if (!positional.is_dict())
      fail(fmt::format("{} takes only a dict as positional argument", what));
    for (const auto& [key, value] : positional.as_dict().entries) dict.set(key, value);
  }
  if (args.positional.size() > 1) fail(fmt::format("{} takes at most 1 positional argument", what));
  for (const auto& [key, value] : args.keywords) dict.set(key, value);
  if (forbid_namespaces) {
    for (const auto& [key, value] : dict.entries) {
      if (value.has_namespace()) fail("a namespace cannot hold a namespace");
    }
  }
  return Value::dict(std::move(dict));
}

}  // namespace

std::vector<std::pair<std::string, Value>> global_functions() {
  std::vector<std::pair<std::string, Value>> out;
  for (const char* name : {"range", "namespace", "dict", "raise_exception", "strftime_now"}) {
    auto function = std::make_shared<GlobalFunction>();
    function->name = name;
    out.emplace_back(name, Value(std::shared_ptr<const Callable>(std::move(function))));
  }
  return out;
}

Value call_builtin(const Callable& callable, const Args& args, Budget& budget) {
  if (const auto* method = dynamic_cast<const BoundMethod*>(&callable)) {
    if (method->receiver.is_string()) {
      return call_string_method(method->name, method->receiver.as_string(), args, budget);
    }
    return call_dict_method(method->name, method->receiver.as_dict(), args, budget);
  }
  const std::string& name = callable.name;
  if (name == "range") return call_range(args, budget);
  if (name == "dict") return make_dict_from_keywords("dict()", args, false);
  if (name == "namespace") {
    const Value attributes = make_dict_from_keywords("namespace()", args, true);
    auto ns = std::make_shared<Namespace>();
    ns->attributes = attributes.as_dict();
    return Value(std::move(ns));
  }
  if (name == "strftime_now") {
    // HF's global: the local date and time, formatted by strftime.
    const Bound bound("strftime_now()", args, {"format"}, 1);
    const std::string& format = string_arg("strftime_now()", bound[0]);
    if (format.size() > 256) fail("strftime_now(): the format is longer than 256 bytes");
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    std::string out(4096, '\0');
    const size_t length = std::strftime(out.data(), out.size(), format.c_str(), &local);
    out.resize(length);
    return Value(std::move(out));
  }
  if (name == "raise_exception") {
    const Bound bound("raise_exception()", args, {"message"});
    throw EvalError(fmt::format("raise_exception: {}", to_str(bound[0], budget.max_value_bytes())));
  }
  fail(fmt::format("'{}' is not callable", name));
}

Value bound_method(const Value& receiver, std::string_view name) {
  const auto bind = [&]() {
    auto method = std::make_shared<BoundMethod>();
    method->name = std::string(name);
    method->receiver = receiver;
    return Value(std::shared_ptr<const Callable>(std::move(method)));
  };
  if (receiver.is_string() && std::find(std::begin(kStringMethods), std::end(kStringMethods),
                                        name) != std::end(kStringMethods)) {
    return bind();
  }
  if (receiver.is_dict() &&
      std::find(std::begin(kDictMethods), std::end(kDictMethods), name) != std::end(kDictMethods)) {
    return bind();
  }
  return Value(Undefined{fmt::format("{} has no attribute '{}'", object_name(receiver), name)});
}

}  // namespace kiln::engine::jinja
