// A node's attributes: a small map from name to a typed value (eps, axis, perm, new shape ...).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/dtype.h"
#include "graph/sym.h"

namespace kiln::graph {

enum class AttrType : uint8_t { Int, Double, Bool, String, IntList, SymInt, SymShape, ElemType };

std::string_view attr_type_name(AttrType type);  // "int", "double", ..., "dtype"

// Alternatives in AttrType order.
using AttrValue =
    std::variant<int64_t, double, bool, std::string, std::vector<int64_t>, SymExpr, Shape, DType>;

AttrType attr_type(const AttrValue& value);
std::string to_string(const AttrValue& value);  // 1e-05, true, "neox", [0, 2, 1], [n, 64], f16

// Whether a value stored as `stored` can be read as `wanted`: the same type, or an int read as a
// double or as a symbolic expression.
bool attr_convertible(AttrType stored, AttrType wanted);

class Attributes;

// Names of the symbols used by symbolic-int and shape attributes.
std::set<std::string> symbols(const Attributes& attrs);

class Attributes {
 public:
  Attributes() = default;
  Attributes(std::initializer_list<std::pair<const std::string, AttrValue>> values)
      : values_(values) {}

  void set(std::string name, AttrValue value) { values_[std::move(name)] = std::move(value); }
  bool has(std::string_view name) const { return values_.find(name) != values_.end(); }
  const AttrValue* find(std::string_view name) const;
  bool empty() const { return values_.empty(); }
  size_t size() const { return values_.size(); }

  // Iterates in name order.
  auto begin() const { return values_.begin(); }
  auto end() const { return values_.end(); }

  // Typed getters. `where` names the node for the message ("node 3 (rms_norm)"); a missing
  // attribute or one of another type is a UserError that names it and the attribute.
  int64_t get_int(std::string_view name, std::string_view where) const;
  double get_double(std::string_view name, std::string_view where) const;  // an int converts
  bool get_bool(std::string_view name, std::string_view where) const;
  const std::string& get_string(std::string_view name, std::string_view where) const;
  const std::vector<int64_t>& get_ints(std::string_view name, std::string_view where) const;
  SymExpr get_sym(std::string_view name, std::string_view where) const;  // an int converts
  const Shape& get_shape(std::string_view name, std::string_view where) const;
  DType get_dtype(std::string_view name, std::string_view where) const;

  bool operator==(const Attributes& other) const;

 private:
  const AttrValue& get(std::string_view name, AttrType wanted, std::string_view where) const;

  std::map<std::string, AttrValue, std::less<>> values_;
};

}  // namespace kiln::graph
