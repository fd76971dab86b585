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

}  // namespace squint::rt
