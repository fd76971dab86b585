// What the aarch64 GEMM microkernels (neon.cc, neondot.cc) share: the packing of the activation
// rows, and the output stage (the reference requantization of int32 accumulators, 4 units a
// vector, and the store of 8 output codes).
//
// Only Advanced SIMD (armv8-a baseline) instructions. The output stage has internal linkage (an
// unnamed namespace in a header): each kernel's translation unit, compiled with its own target
// flags, gets its own copy, so the linker never merges a copy built for one set into another
// (no inline function crosses translation units with different flags; qs8_gemm.h).
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "runtime/kernels/portable/qs8_gemm.h"

namespace squint::rt::arm {

// a[r][k] = x[r][k], zero for depth <= k < k_pad: int8 rows, activation offset 0 (signed by
// signed). Plain C++, defined once in neon.cc (baseline flags); both descriptors point at it.
void PackInt8Rows(const int8_t* x, int32_t rows, int32_t depth, size_t k_pad, void* a);

namespace {

struct OutputStage {
  int32x4_t lo, hi, zp;  // act_min − zp, act_max − zp, zp
};

inline OutputStage MakeOutputStage(const portable::Qs8GemmParams& p) {
  return {vdupq_n_s32(p.act_min - p.zero_point), vdupq_n_s32(p.act_max - p.zero_point), vdupq_n_s32(p.zero_point)};
}

// y = clamp(RoundingDivideByPOT(SRDHM(sat32(acc·2^left), mult), right) + zp) for 4 lanes, exactly
// as fixed_point.h:
// - sat32(acc·2^left), left in [0, 30]: sqshl by a per-lane register count saturates the same way.
// - SRDHM(a, m): the reference's ⌊(a·m + nudge) / 2^31⌋ truncated with nudge 2^30 or 1 − 2^30 by
//   sign equals ⌊(a·m + 2^30) / 2^31⌋ for every product (write a·m = q·2^31 + r, 0 <= r < 2^31:
//   both are q + [r >= 2^30]), which is sqrdmulh's ⌊(2·a·m + 2^31) / 2^32⌋; both saturate the one
//   overflow, a = m = −2^31, to 2^31 − 1.
// - RoundingDivideByPOT(x, right), right in [0, 31], ties away from zero: not srshl (ties up), but
//   the reference's own steps: mask = 2^right − 1, remainder = x & mask, threshold = mask/2 + [x < 0],
//   x >> right, + 1 where remainder > threshold.
inline int32x4_t Requantize(int32x4_t acc, int32x4_t mult, int32x4_t left, int32x4_t right, const OutputStage& o) {
  const int32x4_t a = vqshlq_s32(acc, left);
  const int32x4_t high = vqrdmulhq_s32(a, mult);
  const int32x4_t one = vdupq_n_s32(1);
  const int32x4_t mask = vsubq_s32(vshlq_s32(one, right), one);  // right = 31: 2^31 − 1 (wraps as the reference)
  const int32x4_t remainder = vandq_s32(high, mask);
  const int32x4_t threshold = vsubq_s32(vshrq_n_s32(mask, 1), vshrq_n_s32(high, 31));  // + 1 where high < 0
  int32x4_t q = vshlq_s32(high, vnegq_s32(right));                                     // arithmetic shift right
  q = vsubq_s32(q, vreinterpretq_s32_u32(vcgtq_s32(remainder, threshold)));            // all-ones lanes: + 1
  q = vminq_s32(vmaxq_s32(q, o.lo), o.hi);
  return vaddq_s32(q, o.zp);
}

// Requantizes the 8 accumulators of one row (units n0 .. n0 + 7: acc0 = the first 4) and stores
// the `valid` codes that exist at y.
inline void RequantizeStore8(const portable::Qs8GemmParams& p, int32_t n0, int32x4_t acc0, int32x4_t acc1,
                             const OutputStage& o, int32_t valid, int8_t* y) {
  const int32x4_t v0 =
      Requantize(acc0, vld1q_s32(p.multiplier + n0), vld1q_s32(p.left_shift + n0), vld1q_s32(p.right_shift + n0), o);
  const int32x4_t v1 = Requantize(acc1, vld1q_s32(p.multiplier + n0 + 4), vld1q_s32(p.left_shift + n0 + 4),
                                  vld1q_s32(p.right_shift + n0 + 4), o);
  const int8x8_t codes = vmovn_s16(vcombine_s16(vmovn_s32(v0), vmovn_s32(v1)));  // already in [−128, 127]
  if (valid == 8) {
    vst1_s8(y, codes);
  } else {
    int8_t tmp[8];
    vst1_s8(tmp, codes);
    for (int32_t j = 0; j < valid; ++j) y[j] = tmp[j];
  }
}

}  // namespace
}  // namespace squint::rt::arm
