// AVX-512 rows of the non-GEMM int8 ops (rows.h states each contract): LAYER_NORM (statistics, the
// exact int64 rows and the double rows with their exact fallback), SOFTMAX (the table rows, the
// float rows of at most 128 with their exact fallback, rows in pairs) and ADD / SUB in float. Compiled
// with -mavx512f -mavx512bw -mavx512vl -mavx512vnni like avx512vnni.cc (the GEMM, the convolution
// tiles and the depthwise convolution); the runtime calls it only after the CPU check at prepare.
// GCC 12's AVX-512 headers start masked intrinsics from _mm512_undefined_epi32(), which its
// -Wuninitialized reports falsely (GCC bug 105593); nothing here reads an undefined vector.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/kernels/portable/misc.h"
#include "runtime/kernels/x86/rows.h"

namespace squint::rt::x86 {
// ---- LAYER_NORM row (rows.h states the contract) ----
// 8 channels per step in int64 lanes; every step is an exact integer operation except the
// quotient estimate, which the integer remainder corrects:
//   |w| < 2^24 → double exactly; N = |w|·2^up_log2 + ⌊root/2⌋ (int64, < 2^59);
//   q0 = trunc(double(|w|·up)·inv + ⌊root/2⌋·inv), q < 2^29, so |q0 − q| <= 1 and q0·root < 2^62
//   (one vpmuludq); R = N − q0·root: R < 0 → q0 − 1, R >= root → q0 + 1;  n = ±q.
//   acc = n·γ + β (vpmuldq: n, γ fit 32 bits);  requant: the reference's two-word rounding of
//   |acc|·m / 2^r (r = 31 − shift), per lane r <= 32 or r > 32, saturated, signed back.
namespace {
// fixed_point.h's MultiplyByQuantizedMultiplier64 of 8 lanes with |acc| < 2^32, so that
// |acc|·m < 2^63 is one vpmuludq and q = ⌊(|acc|·m + 2^(r−1)) / 2^r⌋ exactly for any r in [1, 62]
// (r = 31 − shift, m < 2^31); then saturated, signed back, + zp and clamped to [act_min, act_max].
inline __m512i RequantNarrow8(__m512i acc, __m512i m, __m512i r, __m512i zp, __m512i act_min, __m512i act_max) {
  const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi64(1);
  const __mmask8 neg = _mm512_cmplt_epi64_mask(acc, zero);
  const __m512i limit = _mm512_mask_blend_epi64(neg, _mm512_set1_epi64((int64_t{1} << 31) - 1),
                                                _mm512_set1_epi64(int64_t{1} << 31));
  const __m512i round_r = _mm512_sllv_epi64(one, _mm512_sub_epi64(r, one));
  const __m512i product = _mm512_mul_epu32(_mm512_abs_epi64(acc), m);
  const __m512i q = _mm512_min_epu64(_mm512_srlv_epi64(_mm512_add_epi64(product, round_r), r), limit);
  const __m512i v = _mm512_add_epi64(_mm512_mask_sub_epi64(q, neg, zero, q), zp);
  return _mm512_min_epi64(_mm512_max_epi64(v, act_min), act_max);
}

// 8 codes of a row (int8 or int16) as int64 lanes, and 8 int64 lanes stored as codes.
inline __m512i LoadCodes64(const int8_t* x, __mmask8 k) { return _mm512_cvtepi8_epi64(_mm_maskz_loadu_epi8(k, x)); }
inline __m512i LoadCodes64(const int16_t* x, __mmask8 k) { return _mm512_cvtepi16_epi64(_mm_maskz_loadu_epi16(k, x)); }
inline void StoreCodes64(int8_t* y, __mmask8 k, __m512i v) { _mm512_mask_cvtepi64_storeu_epi8(y, k, v); }
inline void StoreCodes64(int16_t* y, __mmask8 k, __m512i v) { _mm512_mask_cvtepi64_storeu_epi16(y, k, v); }
// The same as int32 lanes of a 256-bit vector.
inline __m256i LoadCodes32(const int8_t* x, __mmask8 k) { return _mm256_cvtepi8_epi32(_mm_maskz_loadu_epi8(k, x)); }
inline __m256i LoadCodes32(const int16_t* x, __mmask8 k) { return _mm256_cvtepi16_epi32(_mm_maskz_loadu_epi16(k, x)); }

// kCase: a RequantCase (rows.h). Channels [c_begin, c_end) of the row (c_begin a multiple of 8).
template <int kCase, typename T>
void LayerNormRow512(const ref::LayerNormParams& p, const T* xr, int32_t z, int64_t sum, int32_t up_log2,
                     int64_t root, double inv, T* yr, int32_t c_begin, int32_t c_end) {
  const int32_t channels = p.channels;
  const ref::RequantParams& rq = p.requant;
  const bool per_channel = rq.count != 1;
  const __m512i c_count = _mm512_set1_epi64(channels), zv = _mm512_set1_epi64(z), sumv = _mm512_set1_epi64(sum);
  const __m128i up_shift = _mm_cvtsi32_si128(up_log2);
  const __m512d up_d = _mm512_set1_pd(static_cast<double>(int64_t{1} << up_log2)), inv_d = _mm512_set1_pd(inv);
  const int64_t half = root / 2;
  const __m512i half_v = _mm512_set1_epi64(half), root_v = _mm512_set1_epi64(root);
  const __m512d half_d = _mm512_set1_pd(static_cast<double>(half) * inv);
  const __m512i one = _mm512_set1_epi64(1), low32 = _mm512_set1_epi64(0xffffffff), zero = _mm512_setzero_si512();
  const __m512i r31 = _mm512_set1_epi64(31), r32 = _mm512_set1_epi64(32), r33 = _mm512_set1_epi64(33);
  const __m512i pos_limit = _mm512_set1_epi64((int64_t{1} << 31) - 1), neg_limit = _mm512_set1_epi64(int64_t{1} << 31);
  const __m512i zp = _mm512_set1_epi64(rq.zero_point), act_min = _mm512_set1_epi64(rq.act_min),
                act_max = _mm512_set1_epi64(rq.act_max);
  const __m512i m_all = _mm512_set1_epi64(static_cast<uint32_t>(rq.multiplier[0])), sh_all = _mm512_set1_epi64(rq.shift[0]);
  for (int32_t c = c_begin; c < c_end; c += 8) {
    const __mmask8 k = c_end - c >= 8 ? __mmask8{0xff} : static_cast<__mmask8>((1u << (c_end - c)) - 1);
    const __m512i x = LoadCodes64(xr + c, k);
    const __m512i w = _mm512_sub_epi64(_mm512_mul_epi32(_mm512_sub_epi64(x, zv), c_count), sumv);
    const __mmask8 w_neg = _mm512_cmplt_epi64_mask(w, zero);
    const __m512i aw = _mm512_abs_epi64(w);
    const __m512d est = _mm512_fmadd_pd(_mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_cvtepi64_epi32(aw)), up_d), inv_d, half_d);
    __m512i q = _mm512_cvtepu32_epi64(_mm512_cvttpd_epi32(est));
    const __m512i big_n = _mm512_add_epi64(_mm512_sll_epi64(aw, up_shift), half_v);
    const __m512i rem = _mm512_sub_epi64(big_n, _mm512_mul_epu32(q, root_v));
    q = _mm512_mask_sub_epi64(q, _mm512_cmplt_epi64_mask(rem, zero), q, one);
    q = _mm512_mask_add_epi64(q, _mm512_cmpge_epi64_mask(rem, root_v), q, one);
    const __m512i n = _mm512_mask_sub_epi64(q, w_neg, zero, q);
    const __m512i gamma = _mm512_cvtepi32_epi64(_mm256_maskz_loadu_epi32(k, p.gamma_q + c));
    const __m512i beta = _mm512_cvtepi32_epi64(_mm256_maskz_loadu_epi32(k, p.beta_q + c));
    const __m512i acc = _mm512_add_epi64(_mm512_mul_epi32(n, gamma), beta);
    // Requantization (fixed_point.h, MultiplyByQuantizedMultiplier64), lane by lane.
    const __m512i m = per_channel ? _mm512_cvtepu32_epi64(_mm256_maskz_loadu_epi32(k, rq.multiplier + c)) : m_all;
    const __m512i r = _mm512_sub_epi64(r31, per_channel ? _mm512_cvtepi32_epi64(_mm256_maskz_loadu_epi32(k, rq.shift + c)) : sh_all);
    if constexpr (kCase == kNarrow) {
      StoreCodes64(yr + c, k, RequantNarrow8(acc, m, r, zp, act_min, act_max));
      continue;
    }
    const __mmask8 neg = _mm512_cmplt_epi64_mask(acc, zero);
    const __m512i a = _mm512_abs_epi64(acc);
    const __m512i limit = _mm512_mask_blend_epi64(neg, pos_limit, neg_limit);
    const __m512i p_lo = _mm512_mul_epu32(a, m), p_hi = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
    const __m512i hi = _mm512_add_epi64(p_hi, _mm512_srli_epi64(p_lo, 32));
    const __m512i lo = _mm512_and_si512(p_lo, low32);
    const __m512i round_a = _mm512_sllv_epi64(one, _mm512_sub_epi64(r, one));  // 2^(r−1), r <= 32
    const __m512i lo2 = _mm512_add_epi64(lo, round_a);
    const __m512i hi2 = _mm512_add_epi64(hi, _mm512_srli_epi64(lo2, 32));
    const __mmask8 overflow = _mm512_cmpge_epu64_mask(hi2, round_a);  // q >= 2^31
    const __m512i q_a = _mm512_add_epi64(_mm512_sllv_epi64(hi2, _mm512_sub_epi64(r32, r)),
                                         _mm512_srlv_epi64(_mm512_and_si512(lo2, low32), r));
    const __m512i q_b = _mm512_srlv_epi64(_mm512_add_epi64(hi, _mm512_sllv_epi64(one, _mm512_sub_epi64(r, r33))),
                                          _mm512_sub_epi64(r, r32));
    __m512i qq;
    if constexpr (kCase == kPerLane) {
      const __mmask8 case_a = _mm512_cmple_epi64_mask(r, r32);
      qq = _mm512_min_epu64(_mm512_mask_blend_epi64(case_a, q_b, q_a), limit);
      qq = _mm512_mask_blend_epi64(case_a & overflow, qq, limit);
    } else if constexpr (kCase == kShortShift) {
      qq = _mm512_mask_blend_epi64(overflow, _mm512_min_epu64(q_a, limit), limit);
    } else {
      qq = _mm512_min_epu64(q_b, limit);
    }
    const __m512i v = _mm512_add_epi64(_mm512_mask_sub_epi64(qq, neg, zero, qq), zp);
    StoreCodes64(yr + c, k, _mm512_min_epi64(_mm512_max_epi64(v, act_min), act_max));
  }
}
}  // namespace

void Qs8RowStats8Avx512(const int8_t* x, int32_t count, int32_t channels, int32_t z, RowStats* out) {
  const __m512i zv = _mm512_set1_epi16(static_cast<int16_t>(z)), ones = _mm512_set1_epi16(1);
  const int8_t* xr[8];
  __m512i sums[8], squares[8];
  __m256i lo[8], hi[8];
SQUINT_UNROLL_ROWS(8)
  for (int32_t r = 0; r < 8; ++r) {  // rows past count: row 0 again (not stored)
    xr[r] = x + static_cast<int64_t>(r < count ? r : 0) * channels;
    sums[r] = squares[r] = _mm512_setzero_si512();
    lo[r] = _mm256_set1_epi8(127), hi[r] = _mm256_set1_epi8(-128);
  }
  for (int32_t c = 0; c < channels; c += 32) {
    const __mmask32 k = channels - c >= 32 ? ~__mmask32{0} : (__mmask32{1} << (channels - c)) - 1;
SQUINT_UNROLL_ROWS(8)
    for (int32_t r = 0; r < 8; ++r) {
      const __m256i b = _mm256_maskz_loadu_epi8(k, xr[r] + c);
      const __m512i v = _mm512_maskz_sub_epi16(k, _mm512_cvtepi8_epi16(b), zv);  // |v| <= 255, 0 past the row
      sums[r] = _mm512_add_epi32(sums[r], _mm512_madd_epi16(v, ones));
      squares[r] = _mm512_add_epi32(squares[r], _mm512_madd_epi16(v, v));
      lo[r] = _mm256_mask_min_epi8(lo[r], k, lo[r], b);
      hi[r] = _mm256_mask_max_epi8(hi[r], k, hi[r], b);
    }
  }
  // Σ and Σ² of the 8 rows together: per row [Σ's 8 lanes | Σ²'s 8 lanes] (256-bit halves added),
  // then pairs of rows by 32-bit and 64-bit interleaves, then 128-bit lanes: t = [Σ of rows 0–3,
  // Σ² of rows 0–3, Σ of rows 4–7, Σ² of rows 4–7] (each row's Σ² < 2^31: no lane wraps).
  __m512i v[8];
SQUINT_UNROLL_ROWS(8)
  for (int32_t r = 0; r < 8; ++r)
    v[r] = _mm512_add_epi32(_mm512_shuffle_i64x2(sums[r], squares[r], 0x44), _mm512_shuffle_i64x2(sums[r], squares[r], 0xee));
  __m512i w[4];
SQUINT_UNROLL_ROWS(4)
  for (int32_t i = 0; i < 4; ++i)
    w[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
  const __m512i x0 = _mm512_add_epi32(_mm512_unpacklo_epi64(w[0], w[1]), _mm512_unpackhi_epi64(w[0], w[1]));
  const __m512i x1 = _mm512_add_epi32(_mm512_unpacklo_epi64(w[2], w[3]), _mm512_unpackhi_epi64(w[2], w[3]));
  alignas(64) int32_t t[16];
  _mm512_store_si512(t, _mm512_add_epi32(_mm512_shuffle_i64x2(x0, x1, 0x88), _mm512_shuffle_i64x2(x0, x1, 0xdd)));
  // The smallest and largest codes as the smallest bytes of x + 128 and 127 − x (x XOR 0x80,
  // x XOR 0x7f: unsigned), four rows' 16 bytes a register, halved within 128-bit lanes.
  const __m128i flip_lo = _mm_set1_epi8(static_cast<char>(0x80)), flip_hi = _mm_set1_epi8(0x7f);
  __m128i m[16];
SQUINT_UNROLL_ROWS(8)
  for (int32_t r = 0; r < 8; ++r) {
    m[r] = _mm_xor_si128(_mm_min_epi8(_mm256_castsi256_si128(lo[r]), _mm256_extracti128_si256(lo[r], 1)), flip_lo);
    m[8 + r] = _mm_xor_si128(_mm_max_epi8(_mm256_castsi256_si128(hi[r]), _mm256_extracti128_si256(hi[r], 1)), flip_hi);
  }
  alignas(64) uint8_t mins[4][64];
SQUINT_UNROLL_ROWS(4)
  for (int32_t g = 0; g < 4; ++g) {
    __m512i u = _mm512_inserti32x4(_mm512_castsi128_si512(m[4 * g]), m[4 * g + 1], 1);
    u = _mm512_inserti32x4(_mm512_inserti32x4(u, m[4 * g + 2], 2), m[4 * g + 3], 3);
    u = _mm512_min_epu8(u, _mm512_bsrli_epi128(u, 8));
    u = _mm512_min_epu8(u, _mm512_bsrli_epi128(u, 4));
    u = _mm512_min_epu8(u, _mm512_bsrli_epi128(u, 2));
    u = _mm512_min_epu8(u, _mm512_bsrli_epi128(u, 1));
    _mm512_store_si512(mins[g], u);
  }
  for (int32_t r = 0; r < count; ++r) {
    out[r].sum = t[r < 4 ? r : r + 4];
    out[r].sum_sq = static_cast<uint32_t>(t[r < 4 ? r + 4 : r + 8]);
    out[r].lo = int32_t{mins[r / 4][16 * (r % 4)]} - 128;
    out[r].hi = 127 - int32_t{mins[2 + r / 4][16 * (r % 4)]};
  }
}

Row16Stats Qs16RowStatsAvx512(const int16_t* xr, int32_t channels) {
  const __m512i ones = _mm512_set1_epi16(1);
  __m512i sums = _mm512_setzero_si512(), squares = _mm512_setzero_si512();
  __m512i lo = _mm512_set1_epi16(32767), hi = _mm512_set1_epi16(-32768);
  for (int32_t c = 0; c < channels; c += 32) {
    const __mmask32 k = channels - c >= 32 ? ~__mmask32{0} : (__mmask32{1} << (channels - c)) - 1;
    const __m512i v = _mm512_maskz_loadu_epi16(k, xr + c);  // 0 past the row
    sums = _mm512_add_epi32(sums, _mm512_madd_epi16(v, ones));  // a lane: <= 2^16 per step
    // A pair's squares sum to at most 2^31: exact as unsigned 32 bits, then summed in 64.
    const __m512i sq = _mm512_madd_epi16(v, v);
    squares = _mm512_add_epi64(squares, _mm512_add_epi64(_mm512_cvtepu32_epi64(_mm512_castsi512_si256(sq)),
                                                         _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(sq, 1))));
    lo = _mm512_mask_min_epi16(lo, k, lo, v);
    hi = _mm512_mask_max_epi16(hi, k, hi, v);
  }
  Row16Stats s;
  s.sum = _mm512_reduce_add_epi32(sums);  // |Σx| <= 2^15·2^15 = 2^30
  s.sum_sq = _mm512_reduce_add_epi64(squares);
  const __m512i lo32 = _mm512_min_epi32(_mm512_cvtepi16_epi32(_mm512_castsi512_si256(lo)),
                                        _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(lo, 1)));
  const __m512i hi32 = _mm512_max_epi32(_mm512_cvtepi16_epi32(_mm512_castsi512_si256(hi)),
                                        _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(hi, 1)));
  s.lo = _mm512_reduce_min_epi32(lo32);
  s.hi = _mm512_reduce_max_epi32(hi32);
  return s;
}

namespace {
// The rows' outputs in double, 8 channels a step (rows.h, LayerNormFloat). q = w·2^up/root is
// estimated with error below |q|·2^−52 < 2^−23 (w exact, |q| < 2^29: the caller's bound), so where
// the estimate is more than 2^−22 from a half-integer its nearest integer is the reference's n
// (⌊w·up/root⌉). Then Y = n·G + B + zp (G = γ·m/2^r, B' = β·m/2^r + zp, each rounded once) in one
// fma, error below 2^−31 for |n·G| + |B'| < 2^21 (the caller's bound), clamped to [act_min,
// act_max] (integers: clamping commutes with rounding to an integer); where it is more than 2^−29
// from a half-integer its nearest integer is the reference's output (its 64-bit requantization
// rounds the exact product once, ties away from zero, fixed_point.h, then adds zp and clamps).
// The 8-channel steps with a lane nearer either boundary take the exact int64 path of case kCase:
// exact ties (q or Y a half-integer) and about 2^−20 of the others. Nearest integers by adding and
// subtracting 1.5·2^52 (|value| < 2^51), whose sum's low bits are the integer's two's complement:
// the outputs are those bits, narrowed.
template <int kCase, typename T>
void LayerNormRowFloat512(const ref::LayerNormParams& p, const T* xr, int32_t z, int64_t sum, int32_t up_log2,
                          int64_t root, double inv, const LayerNormFloat& f, T* yr, int32_t c_begin, int32_t c_end) {
  const int32_t channels = p.channels;  // C (the step covers channels [c_begin, c_end))
  const ref::RequantParams& rq = p.requant;
  const __m512d c_d = _mm512_set1_pd(channels), offset = _mm512_set1_pd(double(z) * channels + double(sum));
  // 2^up/root rounded once: 2^up times inv = 1/root rounded (root < 2^32 is exact in double).
  const __m512d scale = _mm512_set1_pd(static_cast<double>(uint64_t{1} << up_log2) * inv);
  const __m512d magic = _mm512_set1_pd(0x1.8p52), q_far = _mm512_set1_pd(0.5 - 0x1p-22),
                y_far = _mm512_set1_pd(0.5 - 0x1p-29);
  const __m512d act_min = _mm512_set1_pd(rq.act_min), act_max = _mm512_set1_pd(rq.act_max);
  for (int32_t c = c_begin; c < c_end; c += 8) {
    const __mmask8 k = c_end - c >= 8 ? __mmask8{0xff} : static_cast<__mmask8>((1u << (c_end - c)) - 1);
    const __m512d x = _mm512_cvtepi32_pd(LoadCodes32(xr + c, k));
    const __m512d q = _mm512_mul_pd(_mm512_fmsub_pd(x, c_d, offset), scale);  // w exact (|w| < 2^24)
    const __m512d n = _mm512_sub_pd(_mm512_add_pd(q, magic), magic);
    const __m512d est = _mm512_fmadd_pd(n, _mm512_maskz_loadu_pd(k, f.g + c), _mm512_maskz_loadu_pd(k, f.b + c));
    const __m512d clamped = _mm512_min_pd(_mm512_max_pd(est, act_min), act_max);
    const __m512d biased = _mm512_add_pd(clamped, magic);
    const __m512d off = _mm512_abs_pd(_mm512_sub_pd(clamped, _mm512_sub_pd(biased, magic)));
    const __mmask8 near = _mm512_mask_cmp_pd_mask(k, _mm512_abs_pd(_mm512_sub_pd(q, n)), q_far, _CMP_GT_OQ) |
                          _mm512_mask_cmp_pd_mask(k, off, y_far, _CMP_GE_OQ);
    if (near != 0) {
      LayerNormRow512<kCase>(p, xr, z, sum, up_log2, root, inv, yr, c, std::min(c_end, c + 8));
      continue;
    }
    StoreCodes64(yr + c, k, _mm512_castpd_si512(biased));
  }
}

// The same outputs in float, 16 channels a step, for int8 rows whose |n|·|g| + |b| stays below
// y_bound < 2^18 (the caller's bound), with |w| < 2^24 and |q| < 2^21 (the caller's bounds):
//  - w = C·(x − z) − Σ is exact in float (so are C·x and z·C + Σ, |·| <= 2^17 for C <= 1024);
//    s_hi = float(2^up·inv), s_lo = float(2^up·inv − s_hi) (their sum within 2^−47.9 of 2^up/root
//    relatively). n = nearest(q), q = w·s_hi rounded, and
//    q − n in two fmas, r = fma(w, s_lo, fma(w, s_hi, −n)): each rounds a value below 1.25 once
//    (2^−25 + 2^−24), the scale's error adds |q|·2^−47.9 < 2^−25.9, so r is within 2^−22 of
//    q_true − n, and where |r| <= 1/2 − 2^−21, n is the reference's n (⌊w·up/root⌉).
//  - Y = fma(n, g32, b32) (g32, b32 the float roundings of g and b): within (|n·g| + |b|)·2^−23.9
//    (the roundings of g and b) + |Y|·2^−24 (the fma's) < y_bound·2^−22.9 of n·g + b; clamped to
//    [act_min, act_max] (integers); where more than y_bound·2^−22 from a half-integer, its nearest
//    integer (the low byte of Y + 1.5·2^23, |Y| < 2^22) is the reference's output.
// The 16-channel steps with a lane nearer either boundary take the double rows above (and those
// their exact int64 steps): about 2^−19 of the lanes for q, y_bound·2^−21 for Y.
template <int kCase>
void LayerNormRowFloat32(const ref::LayerNormParams& p, const int8_t* xr, int32_t z, int64_t sum, int32_t up_log2,
                         int64_t root, double inv, const LayerNormFloat& f, double y_bound, int8_t* yr) {
  const int32_t channels = p.channels;
  const ref::RequantParams& rq = p.requant;
  const __m512 c_f = _mm512_set1_ps(static_cast<float>(channels));
  const __m512 offset = _mm512_set1_ps(static_cast<float>(int64_t{z} * channels + sum));
  const double scale = static_cast<double>(uint64_t{1} << up_log2) * inv;
  const float s_hi = static_cast<float>(scale);
  const __m512 scale_hi = _mm512_set1_ps(s_hi), scale_lo = _mm512_set1_ps(static_cast<float>(scale - double(s_hi)));
  const __m512 magic = _mm512_set1_ps(0x1.8p23f), q_far = _mm512_set1_ps(0.5f - 0x1p-21f);
  const __m512 y_far = _mm512_set1_ps(static_cast<float>(0.5 - y_bound * 0x1p-22));
  const __m512 act_min = _mm512_set1_ps(static_cast<float>(rq.act_min)), act_max = _mm512_set1_ps(static_cast<float>(rq.act_max));
  // 16 channels from c (lanes of k): the outputs as the low bytes of *biased, and the lanes too near
  // a boundary.
  auto sixteen = [&](int32_t c, __mmask16 k, __m512* biased) __attribute__((always_inline)) {
    const __m512 x = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(k, xr + c)));
    const __m512 w = _mm512_fmsub_ps(x, c_f, offset);
    const __m512 n = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(w, scale_hi), magic), magic);
    const __m512 r = _mm512_fmadd_ps(w, scale_lo, _mm512_fmsub_ps(w, scale_hi, n));
    const __m512 est = _mm512_fmadd_ps(n, _mm512_maskz_loadu_ps(k, f.g32 + c), _mm512_maskz_loadu_ps(k, f.b32 + c));
    const __m512 clamped = _mm512_min_ps(_mm512_max_ps(est, act_min), act_max);
    *biased = _mm512_add_ps(clamped, magic);
    const __m512 off = _mm512_abs_ps(_mm512_sub_ps(clamped, _mm512_sub_ps(*biased, magic)));
    return static_cast<__mmask16>(_mm512_mask_cmp_ps_mask(k, _mm512_abs_ps(r), q_far, _CMP_GT_OQ) |
                                  _mm512_mask_cmp_ps_mask(k, off, y_far, _CMP_GE_OQ));
  };
  // The stores come after the checks (and a near step's double rows read x): y may be x.
  auto finish = [&](int32_t c, __mmask16 k, __mmask16 near, __m512 biased) {
    if (near != 0) LayerNormRowFloat512<kCase>(p, xr, z, sum, up_log2, root, inv, f, yr, c, std::min(channels, c + 16));
    else _mm512_mask_cvtepi32_storeu_epi8(yr + c, k, _mm512_castps_si512(biased));
  };
  int32_t c = 0;
#if !defined(__OPTIMIZE_SIZE__)
  for (; c + 32 <= channels; c += 32) {  // two independent steps a pass, one branch for both
    __m512 b0, b1;
    const __mmask16 n0 = sixteen(c, 0xffff, &b0), n1 = sixteen(c + 16, 0xffff, &b1);
    if ((n0 | n1) == 0) {
      _mm512_mask_cvtepi32_storeu_epi8(yr + c, 0xffff, _mm512_castps_si512(b0));
      _mm512_mask_cvtepi32_storeu_epi8(yr + c + 16, 0xffff, _mm512_castps_si512(b1));
      continue;
    }
    finish(c, 0xffff, n0, b0);
    finish(c + 16, 0xffff, n1, b1);
  }
#endif
  for (; c < channels; c += 16) {
    const __mmask16 k = channels - c >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << (channels - c)) - 1);
    __m512 biased;
    const __mmask16 near = sixteen(c, k, &biased);
    finish(c, k, near, biased);
  }
}

template <typename T>
void LayerNormRowAvx512(const ref::LayerNormParams& p, const T* xr, int32_t z, int64_t sum, int32_t up_log2,
                        int64_t root, double inv, bool narrow, const LayerNormFloat* f, double y_bound32, T* yr) {
  const int32_t n = p.channels;
  const int32_t row_case = narrow ? kNarrow
                           : p.requant.count != 1        ? kPerLane
                           : 31 - p.requant.shift[0] <= 32 ? kShortShift
                                                           : kLongShift;
#if defined(__OPTIMIZE_SIZE__)  // the -Os library (bench/footprint.sh): the double rows alone
  (void)y_bound32;
#else
  if constexpr (sizeof(T) == 1) {
    if (f != nullptr && y_bound32 > 0.0) {
      switch (row_case) {
        case kNarrow: return LayerNormRowFloat32<kNarrow>(p, xr, z, sum, up_log2, root, inv, *f, y_bound32, yr);
        case kPerLane: return LayerNormRowFloat32<kPerLane>(p, xr, z, sum, up_log2, root, inv, *f, y_bound32, yr);
        case kShortShift: return LayerNormRowFloat32<kShortShift>(p, xr, z, sum, up_log2, root, inv, *f, y_bound32, yr);
        default: return LayerNormRowFloat32<kLongShift>(p, xr, z, sum, up_log2, root, inv, *f, y_bound32, yr);
      }
    }
  }
#endif
  switch (row_case * 2 + (f != nullptr ? 1 : 0)) {
    case kNarrow * 2 + 1: LayerNormRowFloat512<kNarrow>(p, xr, z, sum, up_log2, root, inv, *f, yr, 0, n); break;
    case kPerLane * 2 + 1: LayerNormRowFloat512<kPerLane>(p, xr, z, sum, up_log2, root, inv, *f, yr, 0, n); break;
    case kShortShift * 2 + 1: LayerNormRowFloat512<kShortShift>(p, xr, z, sum, up_log2, root, inv, *f, yr, 0, n); break;
    case kLongShift * 2 + 1: LayerNormRowFloat512<kLongShift>(p, xr, z, sum, up_log2, root, inv, *f, yr, 0, n); break;
    case kNarrow * 2: LayerNormRow512<kNarrow>(p, xr, z, sum, up_log2, root, inv, yr, 0, n); break;
    case kPerLane * 2: LayerNormRow512<kPerLane>(p, xr, z, sum, up_log2, root, inv, yr, 0, n); break;
    case kShortShift * 2: LayerNormRow512<kShortShift>(p, xr, z, sum, up_log2, root, inv, yr, 0, n); break;
    default: LayerNormRow512<kLongShift>(p, xr, z, sum, up_log2, root, inv, yr, 0, n); break;
  }
}
}  // namespace

void Qs8LayerNormRowAvx512(const ref::LayerNormParams& p, const int8_t* xr, int32_t z, int64_t sum, int32_t up_log2,
                           int64_t root, double inv, bool narrow, const LayerNormFloat* f, double y_bound32, int8_t* yr) {
  LayerNormRowAvx512(p, xr, z, sum, up_log2, root, inv, narrow, f, y_bound32, yr);
}
void Qs16LayerNormRowAvx512(const ref::LayerNormParams& p, const int16_t* xr, int32_t z, int64_t sum, int32_t up_log2,
                            int64_t root, double inv, bool narrow, const LayerNormFloat* f, int16_t* yr) {
  LayerNormRowAvx512(p, xr, z, sum, up_log2, root, inv, narrow, f, 0.0, yr);
}

// ---- SOFTMAX codes (rows.h states the contract) ----
// e (int32) → N = scale·e + ⌊sum/2⌋ exactly (vpmuludq: both < 2^32); t0 = trunc(e·(scale/sum)
// + ⌊sum/2⌋/sum) in double is off by at most one from t = ⌊N / sum⌋ (t < 2^29), and the integer
// remainder N − t0·sum (exact modulo 2^64, its true value is within ±sum of [0, sum)) corrects it.
namespace {
struct SoftmaxCodeConsts {
  __m512d scale_d, half_d;
  __m512i scale_v, half_v, sum_v, sum_lo, sum_hi, one, zero, round, u_max, zero_code;
  __m128i drop_v;
  SoftmaxCodeConsts(const ref::SoftmaxParams& p, int64_t sum) {
    const int32_t drop = 24 - p.output_bits;
    const int64_t scale = int64_t{p.clip_scale_q16} * 256;
    const int64_t half = sum / 2;
    const double inv = 1.0 / static_cast<double>(sum);
    scale_d = _mm512_set1_pd(static_cast<double>(scale) * inv);
    half_d = _mm512_set1_pd(static_cast<double>(half) * inv);
    scale_v = _mm512_set1_epi64(scale), half_v = _mm512_set1_epi64(half);
    sum_v = _mm512_set1_epi64(sum), sum_lo = _mm512_set1_epi64(sum & 0xffffffff);
    sum_hi = _mm512_set1_epi64(sum >> 32);
    one = _mm512_set1_epi64(1), zero = _mm512_setzero_si512();
    round = _mm512_set1_epi64((int64_t{1} << (drop - 1)) + p.clip_offset_q16);
    u_max = _mm512_set1_epi64((int64_t{1} << p.output_bits) - 1);
    zero_code = _mm512_set1_epi64(p.output_zero_point);
    drop_v = _mm_cvtsi32_si128(drop);
  }
};
// The output codes (u + zero point) of 8 values of e, as 8 dwords.
__m256i SoftmaxCodes8(const SoftmaxCodeConsts& c, __m256i e32) {
  const __m512i e = _mm512_cvtepu32_epi64(e32);
  const __m512i big_n = _mm512_add_epi64(_mm512_mul_epu32(e, c.scale_v), c.half_v);
  const __m512d est = _mm512_fmadd_pd(_mm512_cvtepi32_pd(e32), c.scale_d, c.half_d);
  __m512i t = _mm512_cvtepu32_epi64(_mm512_cvttpd_epi32(est));
  const __m512i t_sum =
      _mm512_add_epi64(_mm512_mul_epu32(t, c.sum_lo), _mm512_slli_epi64(_mm512_mul_epu32(t, c.sum_hi), 32));
  const __m512i rem = _mm512_sub_epi64(big_n, t_sum);
  t = _mm512_mask_sub_epi64(t, _mm512_cmplt_epi64_mask(rem, c.zero), t, c.one);
  t = _mm512_mask_add_epi64(t, _mm512_cmpge_epi64_mask(rem, c.sum_v), t, c.one);
  const __m512i v = _mm512_sra_epi64(_mm512_add_epi64(t, c.round), c.drop_v);
  const __m512i u = _mm512_min_epi64(_mm512_max_epi64(v, c.zero), c.u_max);
  return _mm512_cvtepi64_epi32(_mm512_add_epi64(u, c.zero_code));
}

// A short row's codes without a table (rows of at most kShortRow elements: fewer elements than
// codes to tabulate, usually). By the nested floors (⌊(⌊a/b⌋ + c)/m⌋ = ⌊(a + c·b)/(b·m)⌋),
//   v = ⌊(t + round)/2^drop⌋ = ⌊e·α + β⌋,  α = scale/(2^drop·S),  β = (⌊S/2⌋ + round·S)/(2^drop·S),
// round = 2^(drop−1) + clip_offset, u = clamp(v, 0, 2^bits − 1). In float, est = fma(e, α, β) is
// within (e·α + |β|)·2^−22 of e·α + β (e, α, β and the fma each rounded once, relative 2^−24), and
// e <= S bounds e·α by scale/2^drop, |β| by (1/2 + |round|)/2^drop. So where est is at least
// eps = 2·that bound + 2^−21 away from an integer, ⌊est⌋ = v exactly; lanes nearer (a fraction of
// about 2·eps of them) take SoftmaxCodes8. usable: eps < 1/8 (else every row takes the table).
constexpr int32_t kShortRow = 128;
struct ShortRowCodes {
  __m512 alpha, beta, eps, one_minus_eps;
  __m512i u_max;
  bool usable;
  ShortRowCodes(const ref::SoftmaxParams& p, int64_t sum) {
    const int32_t drop = 24 - p.output_bits;
    const double scale = static_cast<double>(int64_t{p.clip_scale_q16} * 256);
    const double round = static_cast<double>((int64_t{1} << (drop - 1)) + p.clip_offset_q16);
    const double pot = static_cast<double>(int64_t{1} << drop), s = static_cast<double>(sum), b = pot * s;
    const double bound = (scale / pot + (0.5 + std::fabs(round)) / pot) * 0x1p-22;
    const double e = 2 * bound + 0x1p-21;
    usable = e < 0.125;
    alpha = _mm512_set1_ps(static_cast<float>(scale / b));
    beta = _mm512_set1_ps(static_cast<float>((static_cast<double>(sum / 2) + round * s) / b));
    eps = _mm512_set1_ps(static_cast<float>(e));
    one_minus_eps = _mm512_set1_ps(static_cast<float>(1.0 - e));
    u_max = _mm512_set1_epi32((1 << p.output_bits) - 1);
  }
};

// A table of at most kMaxSmallTable dwords held in registers (32-entry chunks), looked up 16
// indices at a time by vpermi2d (a gather is several times slower on some cores); index lanes
// outside [0, 32·chunks) give unspecified values.
constexpr int32_t kMaxSmallTable = 128;
struct SmallTable {
  __m512i lo[4], hi[4];
  int32_t chunks;
  SmallTable(const int32_t* t, int32_t n) : chunks((n + 31) / 32) {  // t readable for 32·chunks entries
    for (int32_t c = 0; c < chunks; ++c) {
      lo[c] = _mm512_loadu_si512(t + 32 * c);
      hi[c] = _mm512_loadu_si512(t + 32 * c + 16);
    }
  }
  __m512i Lookup(__m512i d) const {
    __m512i r = _mm512_permutex2var_epi32(lo[0], d, hi[0]);
    const __m512i chunk = _mm512_srli_epi32(d, 5);
    for (int32_t c = 1; c < chunks; ++c)
      r = _mm512_mask_mov_epi32(r, _mm512_cmpeq_epi32_mask(chunk, _mm512_set1_epi32(c)),
                                _mm512_permutex2var_epi32(lo[c], d, hi[c]));
    return r;
  }
};
}  // namespace

namespace {
// What a row's two halves share.
struct SoftmaxRowState {
  bool any = false;
  int32_t max_code = 0, d_hi = 0;
  int64_t sum = 0;
  __m512i e_row[kShortRow / 16];  // rows of at most kShortRow: e, 0 where not kept
};

// A row's first half (the second: SoftmaxRowCodes): the kept max and min, Σe, and a short row's e.
void SoftmaxRowStats(const ref::SoftmaxParams& p, const int8_t* xr, const uint8_t* mr, SoftmaxRowState* st) {
  const int32_t depth = p.depth;
  // Kept max and min, 64 codes a step.
  __m512i vmax = _mm512_set1_epi8(-128), vmin = _mm512_set1_epi8(127);
  bool any = false;
  for (int32_t i = 0; i < depth; i += 64) {
    const __mmask64 k = depth - i >= 64 ? ~__mmask64{0} : (__mmask64{1} << (depth - i)) - 1;
    const __m512i v = _mm512_maskz_loadu_epi8(k, xr + i);
    __mmask64 kept = k;
    if (mr != nullptr) {
      const __m512i m = _mm512_maskz_loadu_epi8(k, mr + i);
      kept = _mm512_test_epi8_mask(m, m);
    }
    any = any || kept != 0;
    vmax = _mm512_mask_max_epi8(vmax, kept, vmax, v);
    vmin = _mm512_mask_min_epi8(vmin, kept, vmin, v);
  }
  st->any = any;
  if (!any) return;
  __m128i m16 = _mm_max_epi8(_mm_max_epi8(_mm512_extracti32x4_epi32(vmax, 0), _mm512_extracti32x4_epi32(vmax, 1)),
                             _mm_max_epi8(_mm512_extracti32x4_epi32(vmax, 2), _mm512_extracti32x4_epi32(vmax, 3)));
  const int32_t max_code = _mm512_reduce_max_epi32(_mm512_cvtepi8_epi32(m16));
  m16 = _mm_min_epi8(_mm_min_epi8(_mm512_extracti32x4_epi32(vmin, 0), _mm512_extracti32x4_epi32(vmin, 1)),
                     _mm_min_epi8(_mm512_extracti32x4_epi32(vmin, 2), _mm512_extracti32x4_epi32(vmin, 3)));
  const int32_t min_code = _mm512_reduce_min_epi32(_mm512_cvtepi8_epi32(m16));
  const __m512i max_v = _mm512_set1_epi32(max_code);
  // 16 elements a step: d = max − x, kept lanes only (a masked code may exceed the max).
  auto step = [&](int32_t i, __mmask16* k, __mmask16* kept, __m512i* d) {
    *k = depth - i >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << (depth - i)) - 1);
    *kept = *k;
    if (mr != nullptr) {
      const __m128i m = _mm_maskz_loadu_epi8(*k, mr + i);
      *kept = _mm_test_epi8_mask(m, m);
    }
    *d = _mm512_sub_epi32(max_v, _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(*k, xr + i)));
  };
  // Σe over the kept elements: e = exp_table[d] by vpermi2d from registers for a short range
  // of d, else by a gather.
  const int32_t d_hi = max_code - min_code;
  __m512i acc = _mm512_setzero_si512();
  auto add_e = [&acc](__m512i e) {
    acc = _mm512_add_epi64(acc, _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(e)),
                                                 _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(e, 1))));
  };
  // A short row keeps its e (0 where not kept) for the codes below.
  const bool short_row = depth <= kShortRow;
  __m512i* e_row = st->e_row;
  if (d_hi < kMaxSmallTable) {
    const SmallTable exp_table(p.exp_table, d_hi + 1);  // 256 entries: readable
    for (int32_t i = 0; i < depth; i += 16) {
      __mmask16 k, kept;
      __m512i d;
      step(i, &k, &kept, &d);
      const __m512i e = _mm512_maskz_mov_epi32(kept, exp_table.Lookup(d));
      if (short_row) e_row[i / 16] = e;
      add_e(e);
    }
  } else {
    for (int32_t i = 0; i < depth; i += 16) {
      __mmask16 k, kept;
      __m512i d;
      step(i, &k, &kept, &d);
      const __m512i e = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), kept, d, p.exp_table, 4);
      if (short_row) e_row[i / 16] = e;
      add_e(e);
    }
  }
  st->sum = _mm512_reduce_add_epi64(acc);  // >= exp_table[0] >= 1: the max is kept
  st->max_code = max_code;
  st->d_hi = d_hi;
}

// A row's second half: the output codes from SoftmaxRowStats' results.
void SoftmaxRowCodes(const ref::SoftmaxParams& p, const int8_t* xr, const uint8_t* mr, const SoftmaxRowState& st,
                     uint8_t* yr) {
  const int32_t depth = p.depth;
  const bool any = st.any;
  const __m128i zero_code_bytes = _mm_set1_epi8(static_cast<char>(p.output_zero_point));
  if (!any) {
    for (int32_t i = 0; i < depth; i += 16) {
      const __mmask16 k = depth - i >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << (depth - i)) - 1);
      _mm_mask_storeu_epi8(yr + i, k, zero_code_bytes);
    }
    return;
  }
  const int32_t max_code = st.max_code, d_hi = st.d_hi;
  const int64_t sum = st.sum;
  const bool short_row = depth <= kShortRow;
  const __m512i* e_row = st.e_row;
  const __m512i max_v = _mm512_set1_epi32(max_code);
  // 16 elements a step: d = max − x, kept lanes only (a masked code may exceed the max).
  auto step = [&](int32_t i, __mmask16* k, __mmask16* kept, __m512i* d) {
    *k = depth - i >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << (depth - i)) - 1);
    *kept = *k;
    if (mr != nullptr) {
      const __m128i m = _mm_maskz_loadu_epi8(*k, mr + i);
      *kept = _mm_test_epi8_mask(m, m);
    }
    *d = _mm512_sub_epi32(max_v, _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(*k, xr + i)));
  };
  const __m512i zero_code = _mm512_set1_epi32(p.output_zero_point);
  auto store = [&](int32_t i, __mmask16 k, __mmask16 kept, __m512i code) {
    _mm_mask_storeu_epi8(yr + i, k, _mm512_cvtepi32_epi8(_mm512_mask_mov_epi32(zero_code, kept, code)));
  };
  // A short row's codes element by element, 16 at a step in float (ShortRowCodes).
  if (short_row) {
    const ShortRowCodes sc(p, sum);
    if (sc.usable) {
      for (int32_t i = 0; i < depth; i += 16) {
        __mmask16 k, kept;
        __m512i d;
        step(i, &k, &kept, &d);
        const __m512i e = e_row[i / 16];
        const __m512 est = _mm512_fmadd_ps(_mm512_cvtepi32_ps(e), sc.alpha, sc.beta);
        const __m512 whole = _mm512_roundscale_ps(est, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        const __m512 frac = _mm512_sub_ps(est, whole);
        const __mmask16 near = _mm512_mask_cmp_ps_mask(kept, frac, sc.eps, _CMP_LT_OQ) |
                               _mm512_mask_cmp_ps_mask(kept, frac, sc.one_minus_eps, _CMP_GT_OQ);
        if (near != 0) {  // a code too close to call in float: the exact 64-bit path
          const SoftmaxCodeConsts c(p, sum);
          store(i, k, kept, _mm512_inserti64x4(_mm512_castsi256_si512(SoftmaxCodes8(c, _mm512_castsi512_si256(e))),
                                               SoftmaxCodes8(c, _mm512_extracti64x4_epi64(e, 1)), 1));
          continue;
        }
        const __m512i u = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(whole), _mm512_setzero_si512()), sc.u_max);
        store(i, k, kept, _mm512_add_epi32(u, zero_code));
      }
      return;
    }
  }
  // The code of each d, 8 at a step, up to d_hi or to the first d with u = 0: u is non-increasing
  // in d (the exp table is), so every later d has u = 0 too, and d is capped there. That d is
  // found before the codes, so their loop has no data-dependent exit (its test waited for each
  // step's codes and mispredicted once a row): with T0 = 2^(drop−1) − clip_offset,
  //   u(d) = 0 ⟺ t(d) + round < 2^drop ⟺ ⌊(scale·e_d + ⌊S/2⌋)/S⌋ < T0 ⟺ scale·e_d < T0·S − ⌊S/2⌋ = R,
  // so the first d with u = 0 is the number of d in [0, d_hi] with scale·e_d >= R (none when
  // R <= 0). scale·e_d < 2^28·2^30 and, when R >= 2^62, no d qualifies: 64-bit compares suffice.
  // Only the entries a lookup may read are written: codes up to the cap, zeros to the end of its
  // 32-entry chunk.
  const SoftmaxCodeConsts c(p, sum);
  int32_t d_cap = d_hi;
  const __int128 big_r = static_cast<__int128>((int64_t{1} << (23 - p.output_bits)) - p.clip_offset_q16) * sum - sum / 2;
  if (big_r > 0) {
    int32_t first_zero = 0;
    if (big_r < (__int128{1} << 62)) {
      const __m512i r_v = _mm512_set1_epi64(static_cast<int64_t>(big_r));
      for (int32_t d = 0; d <= d_hi; d += 8) {
        const __mmask8 k = d_hi - d >= 7 ? __mmask8{0xff} : static_cast<__mmask8>((1u << (d_hi - d + 1)) - 1);
        const __m512i e = _mm512_cvtepu32_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.exp_table + d)));
        first_zero += __builtin_popcount(_mm512_mask_cmpge_epi64_mask(k, _mm512_mul_epu32(e, c.scale_v), r_v));
      }
    }
    d_cap = std::min(d_cap, first_zero);
  }
  const __m512i cap = _mm512_set1_epi32(d_cap);
  alignas(64) int32_t codes[256 + 32];
  int32_t t = 0;
  for (; t <= d_cap; t += 8) {  // t + 7 <= 255
    const __m256i e32 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.exp_table + t));
    _mm256_store_si256(reinterpret_cast<__m256i*>(codes + t), SoftmaxCodes8(c, e32));
  }
  for (; t % 32 != 0; t += 8) _mm256_store_si256(reinterpret_cast<__m256i*>(codes + t), _mm256_setzero_si256());
  if (d_cap < kMaxSmallTable) {
    const SmallTable code_table(codes, d_cap + 1);
    for (int32_t i = 0; i < depth; i += 16) {
      __mmask16 k, kept;
      __m512i d;
      step(i, &k, &kept, &d);
      store(i, k, kept, code_table.Lookup(_mm512_min_epi32(d, cap)));
    }
  } else {
    for (int32_t i = 0; i < depth; i += 16) {
      __mmask16 k, kept;
      __m512i d;
      step(i, &k, &kept, &d);
      store(i, k, kept, _mm512_mask_i32gather_epi32(zero_code, kept, _mm512_min_epi32(d, cap), codes, 4));
    }
  }
}

}  // namespace

void Qs8SoftmaxRowsAvx512(const ref::SoftmaxParams& p, int32_t count, const int8_t* const xr[2],
                          const uint8_t* const mr[2], uint8_t* const yr[2]) {
  SoftmaxRowState st[2];
  for (int32_t r = 0; r < count; ++r) SoftmaxRowStats(p, xr[r], mr[r], &st[r]);
  for (int32_t r = 0; r < count; ++r) SoftmaxRowCodes(p, xr[r], mr[r], st[r], yr[r]);
}

// ---- ADD / SUB in float (rows.h; the exactness is BuildQs8BinaryFloat's check of every pair) ----
namespace {
// kClamp: [act_min, act_max] narrower than int8's (the saturating store clamps to int8's).
template <bool kClamp>
void BinaryFloatRows(const portable::BinaryFloat& f, const int8_t* table, int64_t n, const int8_t* a, const int8_t* b,
                     int8_t* y) {
  const __m512i lo = _mm512_set1_epi32(f.act_min), hi = _mm512_set1_epi32(f.act_max);
  const __m512 ca = _mm512_set1_ps(f.ca), cb = _mm512_set1_ps(f.cb), c0 = _mm512_set1_ps(f.c0);
  const __m512 limit = _mm512_set1_ps(f.half_minus_margin);
  // 16 outputs from a + i, b + i (lanes of k): stored, and the lanes too near a rounding boundary.
  auto sixteen = [&](int64_t i, __mmask16 k) __attribute__((always_inline)) {
    const __m512 av = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(k, a + i)));
    const __m512 bv = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(k, b + i)));
    // BinaryFloatEstimate: fma(float(a), ca, fma(float(b), cb, c0)), the same IEEE operations.
    const __m512 est = _mm512_fmadd_ps(av, ca, _mm512_fmadd_ps(bv, cb, c0));
    const __m512 r = _mm512_roundscale_ps(est, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512i v = _mm512_cvtps_epi32(r);  // |r| < 2^20 (prepare)
    if constexpr (kClamp) v = _mm512_min_epi32(_mm512_max_epi32(v, lo), hi);
    _mm512_mask_cvtsepi32_storeu_epi8(y + i, k, v);
    return _mm512_mask_cmp_ps_mask(k, _mm512_abs_ps(_mm512_sub_ps(est, r)), limit, _CMP_GT_OQ);
  };
  auto fix = [&](int64_t i, uint32_t near) {  // rare: the table's codes
    for (uint32_t m = near; m != 0; m &= m - 1) {
      const int64_t j = i + __builtin_ctz(m);
      y[j] = table[static_cast<uint8_t>(a[j]) * 256 + static_cast<uint8_t>(b[j])];
    }
  };
  int64_t i = 0;
#if !defined(__OPTIMIZE_SIZE__)  // (the -Os library: one step a pass)
  for (; i + 32 <= n; i += 32) {  // two independent steps a pass: 13 % faster than one
    const uint32_t near = sixteen(i, 0xffff) | static_cast<uint32_t>(sixteen(i + 16, 0xffff)) << 16;
    if (near != 0) fix(i, near);
  }
#endif
  for (; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << (n - i)) - 1);
    fix(i, sixteen(i, k));
  }
}
}  // namespace

void Qs8BinaryFloatAvx512(const portable::BinaryFloat& f, const int8_t* table, int64_t n, const int8_t* a,
                          const int8_t* b, int8_t* y) {
#if defined(__OPTIMIZE_SIZE__)  // the -Os library: the clamping rows alone
  BinaryFloatRows<true>(f, table, n, a, b, y);
#else
  if (f.act_min <= -128 && f.act_max >= 127) BinaryFloatRows<false>(f, table, n, a, b, y);
  else BinaryFloatRows<true>(f, table, n, a, b, y);
#endif
}

// ---- float inputs to codes (rows.h states the contract) ----
// With x' = fl(v·fl(1/s)) and x = fl(v/s): |x' − x| <= 3·2^-53·|v/s| (1/s is a normal double for
// any float s > 0), below 2^-34 while |v/s| < 2^17. A lane farther than 2^-30 from every
// half-integer rounds as x does; the others (ties included) divide. Where |x'| >= 2^17, past every
// 8- or 16-bit code on either side of the zero point, x is too, and the clamp gives lo or hi for both.
namespace {
inline __m256i QuantizeEight(__m256 f, __m512d s, __m512d r, __m512d z, __m512d lo, __m512d hi) {
  constexpr int kCurrent = _MM_FROUND_CUR_DIRECTION | _MM_FROUND_NO_EXC;  // as nearbyint: MXCSR's mode
  const __m512d d = _mm512_cvtps_pd(f);
  __m512d x = _mm512_mul_pd(d, r);
  __m512d t = _mm512_roundscale_pd(x, kCurrent);
  const __mmask8 risky = _mm512_cmp_pd_mask(_mm512_abs_pd(_mm512_sub_pd(x, t)),
                                            _mm512_set1_pd(0.5 - 0x1p-30), _CMP_GT_OQ);
  if (risky != 0) {
    t = _mm512_roundscale_pd(_mm512_mask_div_pd(x, risky, d, s), kCurrent);
  }
  __m512d q = _mm512_min_pd(_mm512_max_pd(_mm512_add_pd(t, z), lo), hi);
  q = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(d, d, _CMP_UNORD_Q), q, z);  // NaN (max_pd made it lo): zp
  return _mm512_cvtpd_epi32(q);
}
}  // namespace

void QuantizeFloatsAvx512(const float* v, int64_t n, float scale, int32_t zero_point, int32_t lo, int32_t hi,
                          void* y, int32_t out_bytes) {
  const double sd = scale;
  const __m512d s = _mm512_set1_pd(sd), r = _mm512_set1_pd(1.0 / sd), z = _mm512_set1_pd(zero_point);
  const __m512d vlo = _mm512_set1_pd(lo), vhi = _mm512_set1_pd(hi);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1u);
    const __m512 f = _mm512_maskz_loadu_ps(k, v + i);
    const __m512i q = _mm512_inserti64x4(
        _mm512_castsi256_si512(QuantizeEight(_mm512_castps512_ps256(f), s, r, z, vlo, vhi)),
        QuantizeEight(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1)), s, r, z, vlo, vhi),
        1);
    if (out_bytes == 1) _mm512_mask_cvtepi32_storeu_epi8(static_cast<int8_t*>(y) + i, k, q);
    else _mm512_mask_cvtepi32_storeu_epi16(static_cast<int16_t*>(y) + i, k, q);
  }
}

#if !defined(__OPTIMIZE_SIZE__)
// 16 codes a step: the index x − min_code as dwords, the table's dword at entry min(index, size − 2)
// by vpgatherdd (scale 2: entries index and index + 1, never past the table's last), the wanted
// entry its low or (for the last index) high word; int8 outputs saturated from the sign-extended
// entry, int16 outputs the word itself.
void Qs16LutAvx512(int64_t count, const int16_t* table, int32_t table_size, int32_t min_code, const int16_t* x,
                   void* y, int32_t out_bytes) {
  const __m512i offset = _mm512_set1_epi32(-min_code), last_pair = _mm512_set1_epi32(table_size - 2);
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 k = count - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (count - i)) - 1u);
    const __m512i index = _mm512_add_epi32(_mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(k, x + i)), offset);
    const __m512i at = _mm512_min_epi32(index, last_pair);
    const __m512i pair = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), k, at, table, 2);
    const __m512i entry = _mm512_srlv_epi32(pair, _mm512_slli_epi32(_mm512_sub_epi32(index, at), 4));
    if (out_bytes == 2) {
      _mm256_mask_storeu_epi16(static_cast<int16_t*>(y) + i, k, _mm512_cvtepi32_epi16(entry));
    } else {
      const __m512i wide = _mm512_srai_epi32(_mm512_slli_epi32(entry, 16), 16);
      _mm512_mask_cvtsepi32_storeu_epi8(static_cast<int8_t*>(y) + i, k, wide);
    }
  }
}
#endif

}  // namespace squint::rt::x86
