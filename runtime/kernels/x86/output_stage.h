// The AVX-512 output stage of the integer kernels that end in a per-unit or per-tensor
// requantization of int32 values (fixed_point.h's): 16 lanes a step, exactly the reference's codes,
// in integers (Requantize) or in float where float decides them (FloatOutputs). Internal to the
// AVX-512 VNNI translation units (avx512vnni.cc, avx512vnni_hadamard.cc), which are compiled with the
// same flags; internal linkage, so no out-of-line copy is shared with units built otherwise.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "runtime/kernels/reference/kernels.h"

namespace squint::rt::x86 {
namespace {  // NOLINT(build/namespaces): one copy per translation unit, see above

// Per-panel-half constants of the output stage.
struct OutputStage {
  __m512i lo, hi, zp;          // act_min − zp, act_max − zp, zp
  __m512i act_lo, act_hi;       // act_min, act_max (FloatOutputs)
  __m512 zp_f;                  // zp (FloatOutputs)
  bool full = false;            // [act_min, act_max] = [−128, 127]
};

// The reference requantization (fixed_point.h) of 16 accumulators, lanes = units:
// sat32(acc·2^left) → SRDHM with the Q0.31 multiplier, written floor((a·m + 2^30) / 2^31)
// (equal to gemmlowp's nudge-and-truncate for m >= 0) → RoundingDivideByPOT(·, right) → clamp
// to [act_min, act_max] − zp (the same as clamping after + zp) → + zp.
// kLeft = false: the caller knows every lane's left shift is 0 (sat32(acc·2^0) = acc), the usual
// case of per-channel weight scales.
template <bool kLeft = true>
inline __attribute__((always_inline)) __m512i Requantize(__m512i acc, __m512i mult, __m512i left, __m512i right, const OutputStage& o) {
  __m512i a = acc;
  if constexpr (kLeft) {
    const __m512i shifted = _mm512_sllv_epi32(acc, left);
    const __mmask16 exact = _mm512_cmpeq_epi32_mask(_mm512_srav_epi32(shifted, left), acc);
    const __m512i saturated = _mm512_xor_si512(_mm512_srai_epi32(acc, 31), _mm512_set1_epi32(0x7fffffff));
    a = _mm512_mask_blend_epi32(exact, saturated, shifted);
  }
  const __m512i nudge = _mm512_set1_epi64(int64_t{1} << 30);
  const __m512i even = _mm512_add_epi64(_mm512_mul_epi32(a, mult), nudge);
  const __m512i odd =
      _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(a, 32), _mm512_srli_epi64(mult, 32)), nudge);
  // Bits 31..62 of each 64-bit sum: the low dword of even >> 31, the high dword of odd << 1.
  const __m512i high = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 31), _mm512_slli_epi64(odd, 1));
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, right), one);
  const __m512i remainder = _mm512_and_si512(high, mask);
  const __m512i threshold = _mm512_sub_epi32(_mm512_srli_epi32(mask, 1), _mm512_srai_epi32(high, 31));
  __m512i q = _mm512_srav_epi32(high, right);
  q = _mm512_mask_add_epi32(q, _mm512_cmpgt_epi32_mask(remainder, threshold), q, one);
  q = _mm512_min_epi32(_mm512_max_epi32(q, o.lo), o.hi);
  return _mm512_add_epi32(q, o.zp);
}

// The same outputs in float where float decides them, for right shifts r >= 8
// (portable::kQs8FloatOutputMinShift, qs8_gemm.h) and no left shift: with e = acc·m/2^(31+r)
// (exact), the reference's SRDHM result h is within 1/2 of acc·m/2^31, so h/2^r is within
// 2^−(r+1) of e, and its rounding is e's wherever no half-integer
// lies within 2^−(r+1) of e. In float, fma(float(acc), M, c) with M = float(m)·2^−(31+r) is within
// ε = |acc·M|·2^−23 + ulp/2 <= 2^−14.7 of e + c wherever |e + c| <= 2^8 + 1 (outputs of the int8
// range; farther ones saturate whatever their rounding, and |e| < 2^23 as r >= 8 keeps the
// conversion in int32). With δ = 2^−13 + 2^−(min(r, 12) + 1) >= ε + 2^−(r+1) (and zp + δ exact in
// float), the estimate u = fma(float(acc), M, zp + δ) and R = u rounded to nearest (even):
// u − R = f in [−1/2, 1/2] (vreduceps, exact), and where f >= 2δ − 1/2, e + zp = u − δ ± ε lies in
// [R − 1/2 + δ − ε, R + 1/2 − δ + ε], more than 2^−(r+1) inside (R − 1/2, R + 1/2): R is the
// reference's u + zp before its clamp. The other stored lanes (`near`, f < 2δ − 1/2: about
// 2δ of them, 2^−r at the usual r of 8–12, the product of the input and weight scales over the
// output's) the caller takes from Requantize. Per 16 outputs: a conversion, the fma, the rounding
// conversion and the saturating store, and f (checked for a tile's rows at once by their minimum)
// instead of Requantize's 19 operations. The scale and δ of each unit come packed with the weights
// (portable::Qs8GemmParams::float_scale, float_delta; scale 0: not in float).
struct FloatOutputs {
  __m512 scale, c, limit;  // float(m)·2^−(31+r); zp + δ; 2δ − 1/2 (exact in float)
  FloatOutputs(__m512 unit_scale, __m512 delta, const OutputStage& o)
      : scale(unit_scale),
        c(_mm512_add_ps(o.zp_f, delta)),
        limit(_mm512_sub_ps(_mm512_add_ps(delta, delta), _mm512_set1_ps(0.5f))) {}
  __attribute__((always_inline)) __m512 Estimate(__m512i acc) const {
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), scale, c);
  }
  // The codes R (the reference's where not near) as dwords, clamped to the output's range where it
  // is narrower than int8's.
  __attribute__((always_inline)) __m512i Codes(__m512 u, const OutputStage& o) const {
    const __m512i r = _mm512_cvt_roundps_epi32(u, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return o.full ? r : _mm512_min_epi32(_mm512_max_epi32(r, o.act_lo), o.act_hi);
  }
  // f = u − R (the same rounding as Codes).
  static __attribute__((always_inline)) __m512 Fraction(__m512 u) {
    return _mm512_reduce_ps(u, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  // The stored lanes too near a rounding boundary, from f (or the minimum of several rows' f).
  __attribute__((always_inline)) __mmask16 Near(__m512 f, __mmask16 store) const {
    return _mm512_mask_cmp_ps_mask(store, f, limit, _CMP_LT_OQ);
  }
};

inline __mmask16 StoreMask(int32_t valid) { return valid >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << valid) - 1u); }

inline OutputStage MakeOutputStage(int32_t zero_point, int32_t act_min, int32_t act_max) {
  OutputStage o;
  o.lo = _mm512_set1_epi32(act_min - zero_point);
  o.hi = _mm512_set1_epi32(act_max - zero_point);
  o.zp = _mm512_set1_epi32(zero_point);
  o.act_lo = _mm512_set1_epi32(act_min);
  o.act_hi = _mm512_set1_epi32(act_max);
  o.zp_f = _mm512_set1_ps(static_cast<float>(zero_point));
  o.full = act_min == -128 && act_max == 127;
  return o;
}
inline OutputStage MakeOutputStage(const ref::RequantParams& rq) {
  return MakeOutputStage(rq.zero_point, rq.act_min, rq.act_max);
}

}  // namespace
}  // namespace squint::rt::x86
