#include "graph/attributes.h"

#include "base/error.h"

namespace kiln::graph {
namespace {

std::string ints_string(const std::vector<int64_t>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i > 0 ? ", " : "") + std::to_string(values[i]);
  return s + "]";
}

}  // namespace

std::string_view attr_type_name(AttrType type) {
  switch (type) {
    case AttrType::Int: return "int";
    case AttrType::Double: return "double";
    case AttrType::Bool: return "bool";
    case AttrType::String: return "string";
    case AttrType::IntList: return "int list";
    case AttrType::SymInt: return "symbolic int";
    case AttrType::SymShape: return "shape";
    case AttrType::ElemType: return "dtype";
  }
  return "?";
}

AttrType attr_type(const AttrValue& value) { return static_cast<AttrType>(value.index()); }

std::string to_string(const AttrValue& value) {
  switch (attr_type(value)) {
    case AttrType::Int: return std::to_string(std::get<int64_t>(value));
    case AttrType::Double: return fmt::format("{}", std::get<double>(value));
    case AttrType::Bool: return std::get<bool>(value) ? "true" : "false";
    case AttrType::String: return "\"" + std::get<std::string>(value) + "\"";
    case AttrType::IntList: return ints_string(std::get<std::vector<int64_t>>(value));
    case AttrType::SymInt: return std::get<SymExpr>(value).to_string();
    case AttrType::SymShape: return to_string(std::get<Shape>(value));
    case AttrType::ElemType: return std::string(dtype_name(std::get<DType>(value)));
  }
  return "?";
}

bool attr_convertible(AttrType stored, AttrType wanted) {
  if (stored == wanted) return true;
  return stored == AttrType::Int && (wanted == AttrType::Double || wanted == AttrType::SymInt);
}

const AttrValue* Attributes::find(std::string_view name) const {
  const auto it = values_.find(name);
  return it == values_.end() ? nullptr : &it->second;
}

const AttrValue& Attributes::get(std::string_view name, AttrType wanted,
                                 std::string_view where) const {
  const AttrValue* value = find(name);
  if (value == nullptr) {
    user_error("{}: missing attribute '{}' ({})", where, name, attr_type_name(wanted));
  }
  if (!attr_convertible(attr_type(*value), wanted)) {
    user_error("{}: attribute '{}' is a {} ({}), expected a {}", where, name,
               attr_type_name(attr_type(*value)), to_string(*value), attr_type_name(wanted));
  }
  return *value;
}

int64_t Attributes::get_int(std::string_view name, std::string_view where) const {
  return std::get<int64_t>(get(name, AttrType::Int, where));
}

double Attributes::get_double(std::string_view name, std::string_view where) const {
  const AttrValue& value = get(name, AttrType::Double, where);
  if (const auto* i = std::get_if<int64_t>(&value)) return static_cast<double>(*i);
  return std::get<double>(value);
}

bool Attributes::get_bool(std::string_view name, std::string_view where) const {
  return std::get<bool>(get(name, AttrType::Bool, where));
}

const std::string& Attributes::get_string(std::string_view name, std::string_view where) const {
  return std::get<std::string>(get(name, AttrType::String, where));
}

const std::vector<int64_t>& Attributes::get_ints(std::string_view name,
                                                 std::string_view where) const {
  return std::get<std::vector<int64_t>>(get(name, AttrType::IntList, where));
}

SymExpr Attributes::get_sym(std::string_view name, std::string_view where) const {
  const AttrValue& value = get(name, AttrType::SymInt, where);
  if (const auto* i = std::get_if<int64_t>(&value)) return SymExpr(*i);
  return std::get<SymExpr>(value);
}

const Shape& Attributes::get_shape(std::string_view name, std::string_view where) const {
  return std::get<Shape>(get(name, AttrType::SymShape, where));
}

DType Attributes::get_dtype(std::string_view name, std::string_view where) const {
  return std::get<DType>(get(name, AttrType::ElemType, where));
}

std::set<std::string> symbols(const Attributes& attrs) {
  std::set<std::string> out;
  for (const auto& [name, value] : attrs) {
    if (const auto* e = std::get_if<SymExpr>(&value)) out.merge(e->symbols());
    if (const auto* shape = std::get_if<Shape>(&value)) out.merge(symbols(*shape));
  }
  return out;
}

bool Attributes::operator==(const Attributes& other) const { return values_ == other.values_; }

}  // namespace kiln::graph
