// The filters (`{{ x | trim }}`), with jinja2's semantics.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "engine/jinja/library.h"

namespace kiln::engine::jinja {
namespace {

using namespace lib;

using FilterFn = std::function<Value(const Value&, const Args&, Budget&)>;

const std::map<std::string, FilterFn, std::less<>>& filters() {
  static const auto* table = new std::map<std::string, FilterFn, std::less<>>{
      {"trim",
       [](const Value& input, const Args& args, Budget& budget) {
         const Bound bound("filter 'trim'", args, {"chars"});
         std::optional<std::string> chars;
         if (bound.has(0)) chars = string_arg("filter 'trim'", bound[0]);
         return Value(py_strip(str_of(input, budget), chars, true, true, budget));
       }},
      {"upper",
       [](const Value& input, const Args& args, Budget& budget) {
         Bound("filter 'upper'", args, {});
         return Value(to_upper(str_of(input, budget)));
       }},
      {"lower",
       [](const Value& input, const Args& args, Budget& budget) {
         Bound("filter 'lower'", args, {});
         return Value(to_lower(str_of(input, budget)));
       }},
      {"capitalize",
       [](const Value& input, const Args& args, Budget& budget) {
         Bound("filter 'capitalize'", args, {});
         return Value(py_capitalize(str_of(input, budget)));
       }},
      {"title",
       [](const Value& input, const Args& args, Budget& budget) {
         Bound("filter 'title'", args, {});
         return Value(jinja_title(str_of(input, budget)));
       }},
      {"length",
       [](const Value& input, const Args& args, Budget&) {
         Bound("filter 'length'", args, {});
         switch (input.kind()) {
           case Value::Kind::undefined: return Value(0);
           case Value::Kind::string:
             return Value(static_cast<int64_t>(count_code_points(input.as_string())));
           case Value::Kind::list: return Value(static_cast<int64_t>(input.as_list().items.size()));
           case Value::Kind::dict:
             return Value(static_cast<int64_t>(input.as_dict().entries.size()));
           default: fail(fmt::format("object of type '{}' has no len()", type_name(input)));
         }
       }},
      {"string",
       [](const Value& input, const Args& args, Budget& budget) {
         Bound("filter 'string'", args, {});
         return Value(str_of(input, budget));
       }},
      {"safe",
       [](const Value& input, const Args& args, Budget&) {
         Bound("filter 'safe'", args, {});
         return input;
       }},
      {"tojson",
       [](const Value& input, const Args& args, Budget& budget) {
         // HF's tojson: json.dumps(x, ensure_ascii=False, indent=indent, separators=None,
         // sort_keys=False).
         const Bound bound("filter 'tojson'", args,
                           {"ensure_ascii", "indent", "separators", "sort_keys"});
         if (bound.has(0) && truthy(bound[0]))
           fail("filter 'tojson': ensure_ascii=True is not supported");
         if (bound.has(2)) fail("filter 'tojson': separators= is not supported");
         if (bound.has(3) && truthy(bound[3]))
           fail("filter 'tojson': sort_keys=True is not supported");
         int indent = -1;
         if (bound.has(1)) {
           const int64_t requested = int_arg("filter 'tojson' indent", bound[1]);
           indent = static_cast<int>(std::clamp<int64_t>(requested, 0, 64));
         }
         bool ok = true;
         std::string bad_type;
         std::string json = to_json(input, indent, budget.max_value_bytes(), ok, bad_type);
         if (!ok) fail(fmt::format("Object of type {} is not JSON serializable", bad_type));
         budget.work(json.size());
         return Value(std::move(json));
       }},
      {"join",
       [](const Value& input, const Args& args, Budget& budget) {
         const Bound bound("filter 'join'", args, {"d", "attribute"});
         const std::string separator = bound.has(0) ? str_of(bound[0], budget) : std::string();
         std::optional<std::string> attribute;
         if (bound.has(1)) attribute = string_arg("filter 'join' attribute", bound[1]);
         std::string out;
         bool first = true;
         for (const Value& item : iterate(input, budget)) {
           const std::string text =
               str_of(attribute ? attribute_path(item, *attribute) : item, budget);
           budget.string_bytes(out.size() + separator.size() + text.size());
           if (!first) out += separator;
           first = false;
           out += text;
         }
         return Value(std::move(out));
       }},
      {"default",
       [](const Value& input, const Args& args, Budget&) {
         const Bound bound("filter 'default'", args, {"default_value", "boolean"});
         const bool use_default = input.is_undefined() || (truthy(bound[1]) && !truthy(input));
         if (!use_default) return input;
         return bound.present(0) ? bound[0] : Value(std::string());
       }},
      {"first",
       [](const Value& input, const Args& args, Budget& budget) {
         Bound("filter 'first'", args, {});
         return first_or_last(input, true, budget);
       }},
      {"last",
       [](const Value& input, const Args& args, Budget& budget) {
         Bound("filter 'last'", args, {});
         return first_or_last(input, false, budget);
       }},
      {"replace",
       [](const Value& input, const Args& args, Budget& budget) {
         const Bound bound("filter 'replace'", args, {"old", "new", "count"}, 2);
         const int64_t count = bound.has(2) ? int_arg("filter 'replace' count", bound[2]) : -1;
         return Value(py_replace(str_of(input, budget), str_of(bound[0], budget),
                                 str_of(bound[1], budget), count, budget));
       }},
      {"items",
       [](const Value& input, const Args& args, Budget& budget) {
         Bound("filter 'items'", args, {});
         if (input.is_undefined()) return Value::list({});
         if (!input.is_dict()) fail("filter 'items': can only get item pairs from a mapping");
         std::vector<Value> pairs;
         budget.steps(static_cast<int64_t>(input.as_dict().entries.size()));
         for (const auto& [key, value] : input.as_dict().entries) {
           pairs.push_back(Value::list({Value(key), value}, true));
         }
         return Value::list(std::move(pairs));
       }},
      {"list",
       [](const Value& input, const Args& args, Budget& budget) {
         Bound("filter 'list'", args, {});
         return Value::list(iterate(input, budget));
       }},
      {"indent",
       [](const Value& input, const Args& args, Budget& budget) {
         const Bound bound("filter 'indent'", args, {"width", "first", "blank"});
         const std::string indentation =
             !bound.present(0) ? std::string(4, ' ')
             : bound[0].is_string()
                 ? bound[0].as_string()
                 : std::string(static_cast<size_t>(std::clamp<int64_t>(
                                   int_arg("filter 'indent' width", bound[0]), 0, 256)),
                               ' ');
         return Value(jinja_indent(str_of(input, budget), indentation, truthy(bound[1]),
                                   truthy(bound[2]), budget));
       }},
      {"reverse",
       [](const Value& input, const Args& args, Budget& budget) {
         Bound("filter 'reverse'", args, {});
         if (input.is_string()) {
           auto units = split_code_points(input.as_string());
           budget.work(input.as_string().size());
           std::string out;
           for (auto it = units.rbegin(); it != units.rend(); ++it) out += *it;
           return Value(std::move(out));
         }
         std::vector<Value> items = iterate(input, budget);
         std::reverse(items.begin(), items.end());
         return Value::list(std::move(items));
       }},
      {"int",
       [](const Value& input, const Args& args, Budget&) {
         const Bound bound("filter 'int'", args, {"default", "base"});
         if (input.is_undefined()) undefined_error(input);
         const int64_t base = bound.has(1) ? int_arg("filter 'int' base", bound[1]) : 10;
         if (auto parsed = parse_int(input, input.is_string() ? base : 10)) return Value(*parsed);
         // jinja2 then tries int(float(value)).
         if (auto as_float = parse_float(input)) {
           if (auto truncated = truncate_float(*as_float)) return Value(*truncated);
         }
         return bound.present(0) ? bound[0] : Value(0);
       }},
      {"float",
       [](const Value& input, const Args& args, Budget&) {
         const Bound bound("filter 'float'", args, {"default"});
         if (input.is_undefined()) undefined_error(input);
         if (auto parsed = parse_float(input)) return Value(*parsed);
         return bound.present(0) ? bound[0] : Value(0.0);
       }},
      {"abs",
       [](const Value& input, const Args& args, Budget&) {
         Bound("filter 'abs'", args, {});
         if (input.is_float()) return Value(std::fabs(input.as_double()));
         if (input.is_int() || input.is_bool()) {
           const int64_t v = input.as_int();
           if (v == std::numeric_limits<int64_t>::min()) fail("integer overflow in 'abs'");
           return Value(v < 0 ? -v : v);
         }
         if (input.is_undefined()) undefined_error(input);
         fail(fmt::format("bad operand type for abs(): '{}'", type_name(input)));
       }},
      {"map", map_items},
      {"select",
       [](const Value& i, const Args& a, Budget& b) { return select_items("select", i, a, b); }},
      {"reject",
       [](const Value& i, const Args& a, Budget& b) { return select_items("reject", i, a, b); }},
      {"selectattr", [](const Value& i, const Args& a,
                        Budget& b) { return select_items("selectattr", i, a, b); }},
      {"rejectattr", [](const Value& i, const Args& a,
                        Budget& b) { return select_items("rejectattr", i, a, b); }},
  };
  return *table;
}

const std::map<std::string, std::string, std::less<>>& filter_aliases() {
  static const auto* table =
      new std::map<std::string, std::string, std::less<>>{{"count", "length"}, {"d", "default"}};
  return *table;
}

}  // namespace

bool has_filter(std::string_view name) {
  return filters().count(resolve(name, filter_aliases())) > 0;
}

Value apply_filter(std::string_view name, const Value& input, const Args& args, Budget& budget) {
  const auto it = filters().find(resolve(name, filter_aliases()));
  if (it == filters().end())
    fail(fmt::format("filter '{}': no such filter in kiln's template engine", name));
  return it->second(input, args, budget);
}

}  // namespace kiln::engine::jinja
