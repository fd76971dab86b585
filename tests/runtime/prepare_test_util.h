// Test helpers: load + prepare a model built in memory, and expect a prepare error naming a rule.
#pragma once

#include <string>

#include <gtest/gtest.h>

#include "runtime/interpreter.h"
#include "tests/runtime/sqnt_builder.h"

namespace squint::rt::testing {

inline Status PrepareOf(const AlignedBytes& bytes) {
  Model model;
  SQUINT_RT_RETURN_IF_ERROR(model.Load(bytes.data(), bytes.size()));
  Interpreter interp;
  return interp.Prepare(&model);
}

inline void ExpectPrepareError(const AlignedBytes& bytes, const std::string& needle) {
  Status s = PrepareOf(bytes);
  ASSERT_FALSE(s.ok()) << "expected: " << needle;
  EXPECT_NE(std::string(s.message()).find(needle), std::string::npos) << s.message();
}

}  // namespace squint::rt::testing
