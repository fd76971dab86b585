// Helpers shared by the reference kernels (internal to runtime/kernels/reference).
#pragma once

#include <cstdint>
#include <limits>

#include "runtime/kernels/reference/fixed_point.h"
#include "runtime/kernels/reference/kernels.h"

namespace squint::rt::ref::detail {

// Accumulator of a dot product of T activations with int8 weights (or of two T activations):
// int32 for 8-bit codes (overflow bounds checked by prepare), int64 for 16-bit codes.
template <typename T>
struct Accumulator {
  using type = int32_t;
};
template <>
struct Accumulator<int16_t> {
  using type = int64_t;
};

inline int32_t Scale(int32_t acc, int32_t multiplier, int32_t shift) {
  return MultiplyByQuantizedMultiplier(acc, QuantizedMultiplier{multiplier, shift});
}
inline int32_t Scale(int64_t acc, int32_t multiplier, int32_t shift) {
  return MultiplyByQuantizedMultiplier64(acc, QuantizedMultiplier{multiplier, shift});
}

inline int32_t Clamp(int64_t v, int32_t lo, int32_t hi) {
  return static_cast<int32_t>(v < lo ? lo : (v > hi ? hi : v));
}

// Output code of accumulator `acc` for channel `c` (per-tensor params when count == 1).
template <typename Acc>
inline int32_t Requant(const RequantParams& r, int32_t c, Acc acc) {
  const int32_t i = r.count == 1 ? 0 : c;
  const int64_t v = static_cast<int64_t>(Scale(acc, r.multiplier[i], r.shift[i])) + r.zero_point;
  return Clamp(v, r.act_min, r.act_max);
}

inline int32_t Rescale(const RescaleParams& r, int32_t code) {
  const int64_t v =
      static_cast<int64_t>(Scale(code - r.input_zero_point, r.multiplier, r.shift)) +
      r.output_zero_point;
  return Clamp(v, r.act_min, r.act_max);
}

template <typename T>
inline T Saturate(int64_t v) {
  return static_cast<T>(
      Clamp(v, std::numeric_limits<T>::lowest(), std::numeric_limits<T>::max()));
}

// ⌊num / den⌋ for den > 0 (no reliance on the sign behaviour of / or >>).
inline int64_t FloorDiv(int64_t num, int64_t den) {
  const int64_t q = num / den;
  return (num % den != 0 && num < 0) ? q - 1 : q;
}

// num / den rounded to nearest, ties away from zero, for den > 0.
inline int64_t RoundDiv(int64_t num, int64_t den) {
  return num >= 0 ? (num + den / 2) / den : -((-num + den / 2) / den);
}

}  // namespace squint::rt::ref::detail
