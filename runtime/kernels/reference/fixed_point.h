// Fixed-point requantization, the integer arithmetic every squint kernel ends with
// (gemmlowp / TFLite scheme, algorithms.md §8.4). Portable C++17, no exceptions.
//
//   real multiplier M = s_in·s_w / s_out  ≈  q · 2^shift,  q ∈ [0.5, 1) held as Q0.31
//   y = RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x · 2^max(shift,0), q), max(-shift,0))
#pragma once

#include <cstdint>
#include <limits>

namespace squint::rt {

struct QuantizedMultiplier {
  int32_t multiplier = 0;  // Q0.31 in [2^30, 2^31 - 1], or 0 for M == 0
  int32_t shift = 0;       // power-of-two exponent, may be negative
};

// Splits a real multiplier M >= 0 into Q0.31 mantissa and exponent (TFLite's
// QuantizeMultiplier: frexp, round half away from zero, renormalize on 2^31, flush tiny M).
// Host-side: used when a model is quantized, never inside invoke.
QuantizedMultiplier QuantizeMultiplier(double real_multiplier);

// (a·b·2 + 2^31 rounding) / 2^32, saturating the one overflow case (VQRDMULH).
inline int32_t SaturatingRoundingDoublingHighMul(int32_t a, int32_t b) {
  if (a == std::numeric_limits<int32_t>::min() && b == std::numeric_limits<int32_t>::min())
    return std::numeric_limits<int32_t>::max();
  const int64_t ab = static_cast<int64_t>(a) * static_cast<int64_t>(b);
  const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : (1 - (int64_t{1} << 30));
  return static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));  // truncating division
}

// x / 2^exponent rounded half away from zero, 0 <= exponent <= 31.
inline int32_t RoundingDivideByPOT(int32_t x, int exponent) {
  const int32_t mask = static_cast<int32_t>((int64_t{1} << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

// x · M with M given as (multiplier, shift). Left shifts saturate as the doubling
// high-mul does; callers keep shift <= 30 (checked when the model is loaded).
inline int32_t MultiplyByQuantizedMultiplier(int32_t x, QuantizedMultiplier m) {
  const int left = m.shift > 0 ? m.shift : 0;
  const int right = m.shift > 0 ? 0 : -m.shift;
  int64_t shifted = static_cast<int64_t>(x) * (int64_t{1} << left);
  if (shifted > std::numeric_limits<int32_t>::max()) shifted = std::numeric_limits<int32_t>::max();
  if (shifted < std::numeric_limits<int32_t>::min()) shifted = std::numeric_limits<int32_t>::min();
  const int32_t high = SaturatingRoundingDoublingHighMul(static_cast<int32_t>(shifted), m.multiplier);
  return right > 31 ? 0 : RoundingDivideByPOT(high, right);
}

// x · M for a 64-bit x (int16 activations accumulate in int64), M = multiplier·2^(shift − 31):
// the exact product rounded once to nearest, ties away from zero, saturated to int32.
// Preconditions: |x| < 2^62, multiplier in [0, 2^31), shift in [−31, 30].
// (The int32 MultiplyByQuantizedMultiplier rounds twice, so the two can differ by one on ties.)
inline int32_t MultiplyByQuantizedMultiplier64(int64_t x, QuantizedMultiplier m) {
  if (x == 0 || m.multiplier <= 0) return 0;
  const bool negative = x < 0;
  const uint64_t a = negative ? uint64_t{0} - static_cast<uint64_t>(x) : static_cast<uint64_t>(x);
  const uint64_t mult = static_cast<uint64_t>(m.multiplier);
  const uint64_t low_mask = 0xffffffffu;
  // a·mult = hi·2^32 + lo exactly: (a_hi·2^32 + a_lo)·mult with a_hi < 2^30, mult < 2^31.
  const uint64_t p_lo = (a & low_mask) * mult;  // < 2^63
  uint64_t hi = (a >> 32) * mult + (p_lo >> 32);  // < 2^62
  uint64_t lo = p_lo & low_mask;
  const int r = 31 - m.shift;  // divide by 2^r, r in [1, 62], after adding 2^(r − 1)
  uint64_t q = 0;
  bool overflow = false;
  if (r <= 32) {
    lo += uint64_t{1} << (r - 1);
    hi += lo >> 32;
    lo &= low_mask;
    if (hi >= (uint64_t{1} << (r - 1))) {
      overflow = true;  // q = hi·2^(32−r) + lo/2^r >= 2^31
    } else {
      q = (hi << (32 - r)) + (lo >> r);
    }
  } else {
    hi += uint64_t{1} << (r - 33);
    q = hi >> (r - 32);
  }
  const uint64_t limit = negative ? (uint64_t{1} << 31) : (uint64_t{1} << 31) - 1;
  if (overflow || q > limit) q = limit;
  return negative ? static_cast<int32_t>(-static_cast<int64_t>(q)) : static_cast<int32_t>(q);
}

}  // namespace squint::rt
