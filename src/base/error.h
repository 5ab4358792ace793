// Errors: the user's mistakes versus our own bugs.
//
// UserError is thrown for bad input (a hostile file, a wrong flag): its message names the input,
// the place and, where possible, the fix. InternalError is thrown when an invariant of kiln itself
// is broken. Both are caught at the API boundary (the CLI's main, an HTTP handler).
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace kiln {

class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& message) : std::runtime_error(message) {}
};

class InternalError : public std::logic_error {
 public:
  explicit InternalError(const std::string& message) : std::logic_error(message) {}
};

template <typename... Args>
[[noreturn]] void user_error(fmt::format_string<Args...> format, Args&&... args) {
  throw UserError(fmt::format(format, std::forward<Args>(args)...));
}

[[noreturn]] void internal_error_at(const char* file, int line, const std::string& message);

}  // namespace kiln

// Checks an invariant of kiln's own code; the message is only built when the check fails.
#define KILN_CHECK(cond, ...)                                                        \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      ::kiln::internal_error_at(__FILE__, __LINE__,                                  \
                                std::string("check failed: " #cond ". ") +           \
                                    ::fmt::format(__VA_ARGS__));                     \
    }                                                                                \
  } while (0)

// Marks a point kiln's own logic never reaches; says why if it does.
#define KILN_UNREACHABLE(...) \
  ::kiln::internal_error_at(__FILE__, __LINE__, std::string("unreachable: ") + ::fmt::format(__VA_ARGS__))
