// The int64 requantization of the portable kernels (internal to runtime/kernels). Its function
// has internal linkage: translation units compiled with different target flags (the AVX-512
// log-grid product includes it) must not share one out-of-line copy.
#pragma once

#include <cstdint>

namespace squint::rt::portable::detail {
namespace {  // NOLINT(build/namespaces): one copy per translation unit, see above

// MultiplyByQuantizedMultiplier64(x, {multiplier, shift}) (fixed_point.h) without branches on the
// data: |x|·multiplier exactly by one 64×64 → 128-bit multiply, + 2^(r−1), ⌊/ 2^r⌋ with
// r = 31 − shift in [1, 62], saturated to 2^31 − 1 (x > 0) or 2^31 (x < 0, negated). The same
// exact rounding (to nearest, ties away from zero) and saturation as the reference's two-word
// arithmetic. Preconditions as there: |x| < 2^62, multiplier in {0} ∪ [2^30, 2^31), shift in [−31, 30].
inline int32_t MultiplyByQuantizedMultiplier64Wide(int64_t x, int32_t multiplier, int32_t shift) {
  __extension__ typedef unsigned __int128 U128;
  const bool negative = x < 0;
  const uint64_t a = negative ? uint64_t{0} - static_cast<uint64_t>(x) : static_cast<uint64_t>(x);
  const int r = 31 - shift;
  const U128 q = (static_cast<U128>(a) * static_cast<uint64_t>(multiplier) + (static_cast<U128>(1) << (r - 1))) >> r;
  const uint64_t limit = negative ? (uint64_t{1} << 31) : (uint64_t{1} << 31) - 1;
  const uint64_t m = q > limit ? limit : static_cast<uint64_t>(q);
  return negative ? static_cast<int32_t>(-static_cast<int64_t>(m)) : static_cast<int32_t>(m);
}

}  // namespace
}  // namespace squint::rt::portable::detail
