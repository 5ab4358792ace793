// Must-fail helpers: run a call that must throw a UserError whose message contains each of the
// given fragments.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "base/error.h"

namespace kiln {

template <typename Fn>
void expect_user_error(Fn&& fn, std::initializer_list<std::string> fragments) {
  try {
    fn();
  } catch (const UserError& e) {
    const std::string message = e.what();
    for (const std::string& fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "message: " << message << "\nmissing: " << fragment;
    }
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected a UserError, got: " << e.what();
    return;
  }
  ADD_FAILURE() << "expected a UserError, nothing was thrown";
}

}  // namespace kiln
