// Python's number semantics for the template library: checked integers, floor division, powers, %-formatting.
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

// ---- numbers ----

Value checked_int(bool overflow, int64_t result, std::string_view op) {
  if (overflow) fail(fmt::format("integer overflow in '{}' (kiln's integers are 64-bit)", op));
  return Value(result);
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t floor_mod(int64_t a, int64_t b) {
  int64_t m = a % b;
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return m;
}

// Python's float divmod.
std::pair<double, double> float_divmod(double a, double b) {
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0.0) {
    if ((b < 0) != (mod < 0)) {
      mod += b;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, b);
  }
  double floor_div = 0.0;
  if (div != 0.0) {
    floor_div = std::floor(div);
    if (div - floor_div > 0.5) floor_div += 1.0;
  } else {
    floor_div = std::copysign(0.0, a / b);
  }
  return {floor_div, mod};
}

Value int_power(int64_t base, int64_t exponent) {
  int64_t result = 1;
  while (exponent > 0) {
    if (exponent & 1) {
      if (__builtin_mul_overflow(result, base, &result)) return checked_int(true, 0, "**");
    }
    exponent >>= 1;
    if (exponent > 0 && __builtin_mul_overflow(base, base, &base))
      return checked_int(true, 0, "**");
  }
  return Value(result);
}

Value repeat(const Value& sequence, int64_t times, Budget& budget) {
  const size_t count = times > 0 ? static_cast<size_t>(times) : 0;
  if (sequence.is_string()) {
    const std::string& text = sequence.as_string();
    budget.string_bytes(product(text.size(), count));
    std::string out;
    out.reserve(text.size() * count);
    for (size_t i = 0; i < count; ++i) out += text;
    return Value(std::move(out));
  }
  const List& list = sequence.as_list();
  const size_t total = product(list.items.size(), count);
  budget.steps(static_cast<int64_t>(std::min<size_t>(total, std::numeric_limits<int64_t>::max())));
  std::vector<Value> items;
  items.reserve(total);
  for (size_t i = 0; i < count; ++i)
    items.insert(items.end(), list.items.begin(), list.items.end());
  return Value::list(std::move(items), list.is_tuple);
}

// Python's printf-style `format % values`, for the conversions s r d i f and %%, with optional
// '-' and '0' flags, a width and a precision.
std::string percent_format(const std::string& format, const Value& values, Budget& budget) {
  std::vector<Value> args;
  bool mapping_like = false;  // Python does not complain about unused arguments then
  if (values.is_list() && values.as_list().is_tuple) {
    args = values.as_list().items;
  } else {
    args.push_back(values);
    mapping_like = values.is_list() || values.is_dict();
  }
  size_t next_arg = 0;
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    if (++i == format.size()) fail("incomplete format");
    if (format[i] == '(') fail("string formatting with '%(name)' is not supported");
    bool left_align = false;
    bool zero_pad = false;
    for (; i < format.size() && (format[i] == '-' || format[i] == '0'); ++i) {
      left_align = left_align || format[i] == '-';
      zero_pad = zero_pad || format[i] == '0';
    }
    size_t width = 0;
    for (; i < format.size() && format[i] >= '0' && format[i] <= '9'; ++i) {
      width = std::min<size_t>(width * 10 + static_cast<size_t>(format[i] - '0'), 4096);
    }
    int precision = -1;
    if (i < format.size() && format[i] == '.') {
      precision = 0;
      for (++i; i < format.size() && format[i] >= '0' && format[i] <= '9'; ++i) {
        precision = std::min(precision * 10 + (format[i] - '0'), 100);
      }
    }
    if (i == format.size()) fail("incomplete format");
    const char conversion = format[i];
    if (conversion == '%') {
      out += '%';
      continue;
    }
    if (next_arg == args.size()) fail("not enough arguments for format string");
    const Value& arg = args[next_arg++];
    std::string text;
    bool numeric = false;
    switch (conversion) {
      case 's': text = to_str(arg, budget.max_value_bytes()); break;
      case 'r': text = to_repr(arg, budget.max_value_bytes()); break;
      case 'd':
      case 'i':
        if (!arg.is_number()) {
          fail(fmt::format("%{} format: a real number is required, not {}", conversion,
                           type_name(arg)));
        }
        if (arg.is_float()) {
          const double d = std::trunc(arg.as_double());
          if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) fail("integer overflow in '%d'");
          text = std::to_string(static_cast<int64_t>(d));
        } else {
          text = std::to_string(arg.as_int());
        }
        numeric = true;
        break;
      case 'f':
      case 'F':
        if (!arg.is_number()) {
          fail(fmt::format("%{} format: a real number is required, not {}", conversion,
                           type_name(arg)));
        }
        text = fmt::format("{:.{}f}", arg.as_double(), precision < 0 ? 6 : precision);
        numeric = true;
        break;
      default: fail(fmt::format("unsupported format character '{}'", conversion));
    }
    if (conversion == 's' || conversion == 'r') {
      if (precision >= 0) {
        const auto units = split_code_points(text);
        if (units.size() > static_cast<size_t>(precision)) {
          text = text.substr(
              0, static_cast<size_t>(units[static_cast<size_t>(precision)].data() - text.data()));
        }
      }
    }
    const size_t length = count_code_points(text);
    if (length < width) {
      const size_t pad = width - length;
      if (left_align) {
        text += std::string(pad, ' ');
      } else if (zero_pad && numeric) {
        const size_t sign = !text.empty() && text[0] == '-' ? 1 : 0;
        text.insert(sign, std::string(pad, '0'));
      } else {
        text.insert(0, std::string(pad, ' '));
      }
    }
    budget.string_bytes(out.size() + text.size());
    out += text;
  }
  if (next_arg < args.size() && !mapping_like) {
    fail("not all arguments converted during string formatting");
  }
  return out;
}

[[noreturn]] void operand_error(std::string_view op, const Value& left, const Value& right) {
  if (left.is_undefined()) undefined_error(left);
  if (right.is_undefined()) undefined_error(right);
  fail(fmt::format("unsupported operand types for {}: '{}' and '{}'", op, type_name(left),
                   type_name(right)));
}

}  // namespace kiln::engine::jinja::lib
