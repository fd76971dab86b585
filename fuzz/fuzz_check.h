// Checks shared by the fuzz targets: each failure prints what broke and aborts, which libFuzzer
// reports as a finding (with the input in its artifacts).
#pragma once

#include <cstdio>
#include <cstdlib>

#include "base/status.h"

namespace squint::fuzz {

// An invariant of a successful parse.
inline void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

// Bad input must end in an error status; kInternal means squint has a bug.
inline void CheckNotInternal(const Status& s) {
  if (s.code() == StatusCode::kInternal) {
    std::fprintf(stderr, "internal error: %s\n", s.message().c_str());
    std::abort();
  }
}

}  // namespace squint::fuzz
