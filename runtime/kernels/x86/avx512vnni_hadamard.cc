// HADAMARD (ref::Hadamard's contract, kernels.h) on AVX-512, for blocks whose Sylvester segments
// are at least 16 channels (seg = block / k, a power of two >= 16; rows.h). Per row and block:
//  1. 16 channels a step: the codes widened to int32, minus the zero point, negated where the sign
//     is −1 (a mask from the signs' sign bits), and the butterfly stages of span 1, 2, 4 and 8 in
//     the register (the partner lanes by a shuffle, the sums kept in the lanes whose span bit is
//     clear, the differences partner − self where it is set), into the scratch's first half.
//  2. The stages of span 16 .. seg/2 over the scratch, 16 lanes a step (the stages act on distinct
//     bits of the channel index, so their order does not change the exact int32 result).
//  3. For k > 1, the negated values into the scratch's second half, so that h_k's sums are adds
//     of a row's ±v_c picked by address (h_k as k·k offsets after them, once a call); then each
//     output vector Σ_c h_k[a][c]·v_c (two chains of adds) requantized by the output stage
//     (output_stage.h: in float where float decides, else Requantize) and stored.
// Compiled with the avx512vnni set's flags; call only after the CPU check.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "runtime/kernels/portable/qs8_gemm.h"
#include "runtime/kernels/x86/output_stage.h"
#include "runtime/kernels/x86/rows.h"

namespace squint::rt::x86 {
#if !defined(__OPTIMIZE_SIZE__)  // the -Os library (bench/footprint.sh) runs the reference
namespace {

inline __m512i Widen(const int8_t* x) { return _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x))); }
inline __m512i Widen(const int16_t* x) {
  return _mm512_cvtepi16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)));
}

// One butterfly stage of span h (1, 2, 4, 8) within the 16 lanes: partner = lane ^ h.
template <int kH>
inline __attribute__((always_inline)) __m512i Stage(__m512i a) {
  __m512i t;
  __mmask16 high;
  if constexpr (kH == 1) t = _mm512_shuffle_epi32(a, _MM_PERM_CDAB), high = 0xAAAA;
  else if constexpr (kH == 2) t = _mm512_shuffle_epi32(a, _MM_PERM_BADC), high = 0xCCCC;
  else if constexpr (kH == 4) t = _mm512_shuffle_i32x4(a, a, 0xB1), high = 0xF0F0;  // 128-bit lanes 1, 0, 3, 2
  else t = _mm512_shuffle_i32x4(a, a, 0x4E), high = 0xFF00;                         // 2, 3, 0, 1
  return _mm512_mask_sub_epi32(_mm512_add_epi32(a, t), high, t, a);
}

// The requantized codes of 16 transform outputs (in float where float decides: f.scale lanes
// non-zero).
struct Output {
  OutputStage o;
  FloatOutputs f;
  __m512i mult, left, right;
  bool in_float;
  explicit Output(const ref::RequantParams& rq)
      : o(MakeOutputStage(rq)),
        f(_mm512_set1_ps(0.0f), _mm512_set1_ps(0.0f), o),
        mult(_mm512_set1_epi32(rq.multiplier[0])),
        left(_mm512_set1_epi32(std::max(rq.shift[0], 0))),
        right(_mm512_set1_epi32(std::max(-rq.shift[0], 0))) {
    const int32_t r = std::max(-rq.shift[0], 0);
    in_float = rq.shift[0] <= 0 && r >= portable::kQs8FloatOutputMinShift && r <= 31;
    if (in_float)
      f = FloatOutputs(_mm512_set1_ps(portable::Qs8FloatOutputScale(rq.multiplier[0], r)),
                       _mm512_set1_ps(portable::Qs8FloatOutputDelta(r)), o);
  }
  // Codes within int8 (the saturating store keeps them; FloatOutputs' unclamped ones it clamps).
  __attribute__((always_inline)) __m512i Codes(__m512i acc) const {
    if (in_float) {
      const __m512 u = f.Estimate(acc);
      if (f.Near(FloatOutputs::Fraction(u), 0xFFFF) == 0) return f.Codes(u, o);
      return Requantize<false>(acc, mult, left, right, o);  // rare: a lane near a rounding boundary
    }
    return Requantize<true>(acc, mult, left, right, o);
  }
};

template <typename TIn>
void Transform(const ref::HadamardParams& p, const TIn* x, int8_t* y) {
  const int32_t block = p.block, k = p.k, seg = block / k;
  int32_t* const v = p.scratch;             // [block]
  int32_t* const neg = p.scratch + block;   // [block], k > 1
  const Output out(p.requant);
  const __m512i zp = _mm512_set1_epi32(p.input_zero_point);
  // h_k's entries as offsets from v: c·seg in v (+1) or in neg (−1), the scratch's second half.
  int32_t* const offsets = k > 1 ? neg + block : nullptr;  // [k·k], in the scratch after neg
  for (int32_t a = 0; a < k && k > 1; ++a)
    for (int32_t c = 0; c < k; ++c) offsets[a * k + c] = c * seg + (p.h_k[a * k + c] > 0 ? 0 : block);
  for (int32_t r = 0; r < p.rows; ++r) {
    for (int32_t b0 = 0; b0 < p.channels; b0 += block) {
      const int64_t base = int64_t{r} * p.channels + b0;
      for (int32_t i = 0; i < block; i += 16) {
        __m512i a = _mm512_sub_epi32(Widen(x + base + i), zp);
        if (p.signs != nullptr) {
          const __mmask16 minus = _mm_movepi8_mask(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p.signs + b0 + i)));
          a = _mm512_mask_sub_epi32(a, minus, _mm512_setzero_si512(), a);
        }
        a = Stage<8>(Stage<4>(Stage<2>(Stage<1>(a))));
        _mm512_storeu_si512(v + i, a);
      }
      for (int32_t h = 16; h < seg; h *= 2)
        for (int32_t i = 0; i < block; i += 2 * h)
          for (int32_t j = i; j < i + h; j += 16) {
            const __m512i a = _mm512_loadu_si512(v + j), c = _mm512_loadu_si512(v + j + h);
            _mm512_storeu_si512(v + j, _mm512_add_epi32(a, c));
            _mm512_storeu_si512(v + j + h, _mm512_sub_epi32(a, c));
          }
      int8_t* yb = y + base;
      if (k == 1) {
        for (int32_t i = 0; i < block; i += 16)
          _mm_storeu_si128(reinterpret_cast<__m128i*>(yb + i), _mm512_cvtsepi32_epi8(out.Codes(_mm512_loadu_si512(v + i))));
        continue;
      }
      for (int32_t i = 0; i < block; i += 16)
        _mm512_storeu_si512(neg + i, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_loadu_si512(v + i)));
      for (int32_t a = 0; a < k; ++a) {
        const int32_t* const from = offsets + a * k;  // segment c of row a's sum: v + from[c]
        for (int32_t j = 0; j < seg; j += 16) {
          const int32_t* const vj = v + j;
          __m512i acc0 = _mm512_loadu_si512(vj + from[0]), acc1 = _mm512_setzero_si512();
          int32_t c = 1;
          for (; c + 1 < k; c += 2) {  // two chains
            acc0 = _mm512_add_epi32(acc0, _mm512_loadu_si512(vj + from[c]));
            acc1 = _mm512_add_epi32(acc1, _mm512_loadu_si512(vj + from[c + 1]));
          }
          if (c < k) acc0 = _mm512_add_epi32(acc0, _mm512_loadu_si512(vj + from[c]));
          const __m512i acc = _mm512_add_epi32(acc0, acc1);  // int32 sums: exact in any order
          _mm_storeu_si128(reinterpret_cast<__m128i*>(yb + a * seg + j), _mm512_cvtsepi32_epi8(out.Codes(acc)));
        }
      }
    }
  }
}

}  // namespace

void HadamardAvx512(const ref::HadamardParams& p, const int8_t* x, int8_t* y) { Transform(p, x, y); }
void HadamardAvx512(const ref::HadamardParams& p, const int16_t* x, int8_t* y) { Transform(p, x, y); }
#endif

}  // namespace squint::rt::x86
