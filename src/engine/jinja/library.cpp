#include "engine/jinja/library.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>

#include <fmt/format.h>

namespace kiln::engine::jinja::lib {

[[noreturn]] void fail(const std::string& message) { throw EvalError(message); }

std::string object_name(const Value& value) { return fmt::format("'{}' object", type_name(value)); }

// a * b, saturating.
size_t product(size_t a, size_t b) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a)
    return std::numeric_limits<size_t>::max();
  return a * b;
}

// ---- argument binding ----

const std::string& string_arg(std::string_view what, const Value& value) {
  if (!value.is_string()) fail(fmt::format("{} needs a string, not {}", what, type_name(value)));
  return value.as_string();
}

int64_t int_arg(std::string_view what, const Value& value) {
  if (!value.is_int() && !value.is_bool()) {
    fail(fmt::format("{} needs an integer, not {}", what, type_name(value)));
  }
  return value.as_int();
}

}  // namespace kiln::engine::jinja::lib
