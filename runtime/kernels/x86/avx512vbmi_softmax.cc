// SOFTMAX rows on AVX-512 VBMI (rows.h: SoftmaxVbmiTables, Qs8SoftmaxRowsAvx512Vbmi). This
// translation unit alone is compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vbmi
// -mavx512vnni -mfma; prepare calls it only when Avx512VbmiSupported() (dispatch.h), which checks
// those sets.
//
// Up to four rows at a time, in stages, so that one row's reductions overlap the others' work:
//  1. The kept max (and, for rows longer than 64, min, as the max of ~x) of each row, 64 codes a
//     step, then the four rows' horizontal reductions at once (Reduce4: 128-bit lanes of two rows
//     into one register, then of four, then within a lane), each row's max broadcast back to 64
//     bytes.
//  2. Σe per row: d = max − x as an unsigned byte; the exp table's four byte planes (byte k of e_d)
//     looked up by vpermi2b (two and a merge for lanes whose d reaches 128), the lanes not kept
//     zeroed, each plane summed exactly (vpsadbw; vpdpbusd for rows longer than 64); the four
//     rows' sums reduced at once.
//  3. The codes, from α = scale/(2^drop·S) and β = (⌊S/2⌋ + round·S)/(2^drop·S) (one float
//     division for the four rows): v = ⌊e·α + β⌋ = the reference's ⌊(⌊(scale·e + ⌊S/2⌋)/S⌋ +
//     round)/2^drop⌋ (nested floors), u = clamp(v, 0, 2^bits − 1), in float where est = fma(e, α, β)
//     is at least eps from an integer (SoftmaxVbmiTablesInit: eps bounds est's error), exactly in
//     64-bit integers for the other lanes (about 2·eps of them; ExactCode).
//     - Rows of at most 64: per element. The planes' bytes are interleaved into four registers of
//       e (vpunpck), and the codes packed back by vpackus (which undoes the interleave and clamps
//       to [0, 255]).
//     - Longer rows: per d in [0, min(max − min, d_zero)] from the float exp table (stored in
//       the interleaved order, so that the packs give the codes in d order), 64 a block; each
//       output one vpermi2b (two past 128 codes) of min(d, that bound) into the row's codes.
// GCC 12's AVX-512 headers start some intrinsics from an undefined vector, which its
// -Wmaybe-uninitialized reports falsely (GCC bug 105593), as in avx512vnni.cc.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "runtime/kernels/reference/kernel_util.h"
#include "runtime/kernels/x86/rows.h"

namespace squint::rt::x86 {

namespace {

// The interleave of four byte planes (unpacklo/hi_epi8, then unpacklo/hi_epi16, within 128-bit
// lanes) puts byte r of a 64-element block in dword lane l of register j, where
// r = 16·(l / 4) + 4·j + l % 4: InterleavedByte(j, l).
inline int32_t InterleavedByte(int32_t j, int32_t l) { return 16 * (l / 4) + 4 * j + l % 4; }
// f(byte) for each lane CodesOf marked near (near[j]: register j's lanes), as its byte in the block.
template <typename F>
void ForEachNearByte(const __mmask16 near[4], F f) {
  if ((near[0] | near[1] | near[2] | near[3]) == 0) return;  // the usual case
  for (int32_t j = 0; j < 4; ++j)
    for (uint32_t m = near[j]; m != 0; m &= m - 1) f(InterleavedByte(j, __builtin_ctz(m)));
}

// The reference's output code of a kept element with exp value e in a row whose Σe is sum.
int32_t ExactCode(const ref::SoftmaxParams& p, int64_t sum, int64_t e) {
  const int64_t t = (int64_t{p.clip_scale_q16} * 256 * e + sum / 2) / sum;  // RoundDiv, e >= 0
  const int32_t drop = 24 - p.output_bits;
  const int64_t v = ref::detail::FloorDiv(t + p.clip_offset_q16 + (int64_t{1} << (drop - 1)), int64_t{1} << drop);
  return ref::detail::Clamp(v, 0, (1 << p.output_bits) - 1) + p.output_zero_point;
}

__mmask64 FirstBytes(int32_t n) { return n >= 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1; }

// The kept lanes of 64 elements from i: the row's lanes, those whose mask byte is non-zero.
__mmask64 KeptAt(const uint8_t* mr, int32_t i, __mmask64 k) {
  if (mr == nullptr) return k;
  const __m512i m = _mm512_maskz_loadu_epi8(k, mr + i);
  return _mm512_test_epi8_mask(m, m);
}

// Four rows' byte maxima at once: 128-bit lane r of the result holds, in every byte, the max of
// v[r]'s 64 bytes.
__m512i Reduce4(const __m512i v[4]) {
  const __m512i ab = _mm512_max_epi8(_mm512_shuffle_i64x2(v[0], v[1], 0x44), _mm512_shuffle_i64x2(v[0], v[1], 0xee));
  const __m512i cd = _mm512_max_epi8(_mm512_shuffle_i64x2(v[2], v[3], 0x44), _mm512_shuffle_i64x2(v[2], v[3], 0xee));
  __m512i x = _mm512_max_epi8(_mm512_shuffle_i64x2(ab, cd, 0x88), _mm512_shuffle_i64x2(ab, cd, 0xdd));
  x = _mm512_max_epi8(x, _mm512_shuffle_epi32(x, _MM_PERM_BADC));
  x = _mm512_max_epi8(x, _mm512_shuffle_epi32(x, _MM_PERM_CDAB));
  const __m512i swap2 = _mm512_set1_epi32(0x01000302), swap1 = _mm512_set1_epi32(0x02030001);
  x = _mm512_max_epi8(x, _mm512_shuffle_epi8(x, swap2));
  return _mm512_max_epi8(x, _mm512_shuffle_epi8(x, swap1));
}

// Four rows' qword sums at once: both qwords of 128-bit lane r of the result are Σ q[r]'s lanes.
__m512i Reduce4Add(const __m512i q[4]) {
  const __m512i ab = _mm512_add_epi64(_mm512_shuffle_i64x2(q[0], q[1], 0x44), _mm512_shuffle_i64x2(q[0], q[1], 0xee));
  const __m512i cd = _mm512_add_epi64(_mm512_shuffle_i64x2(q[2], q[3], 0x44), _mm512_shuffle_i64x2(q[2], q[3], 0xee));
  const __m512i x = _mm512_add_epi64(_mm512_shuffle_i64x2(ab, cd, 0x88), _mm512_shuffle_i64x2(ab, cd, 0xdd));
  return _mm512_add_epi64(x, _mm512_shuffle_epi32(x, _MM_PERM_BADC));
}

// Every byte of 128-bit lane r of x (Reduce4's lanes hold one value in every byte).
__m512i LaneBroadcast(__m512i x, int32_t r) { return _mm512_permutexvar_epi32(_mm512_set1_epi32(4 * r), x); }

// The exp table's byte planes in registers (GCC keeps an array of vectors, or its loop, in memory).
struct Planes {
  __m512i p00, p01, p02, p03, p10, p11, p12, p13, p20, p21, p22, p23, p30, p31, p32, p33;
  explicit Planes(const SoftmaxVbmiTables& t) {
    const uint8_t* const pl = t.planes[0];
    p00 = _mm512_load_si512(pl), p01 = _mm512_load_si512(pl + 64);
    p02 = _mm512_load_si512(pl + 128), p03 = _mm512_load_si512(pl + 192);
    p10 = _mm512_load_si512(pl + 256), p11 = _mm512_load_si512(pl + 320);
    p12 = _mm512_load_si512(pl + 384), p13 = _mm512_load_si512(pl + 448);
    p20 = _mm512_load_si512(pl + 512), p21 = _mm512_load_si512(pl + 576);
    p22 = _mm512_load_si512(pl + 640), p23 = _mm512_load_si512(pl + 704);
    p30 = _mm512_load_si512(pl + 768), p31 = _mm512_load_si512(pl + 832);
    p32 = _mm512_load_si512(pl + 896), p33 = _mm512_load_si512(pl + 960);
  }
  // Byte k of e_d for the lanes of lo (d < 128) and of hi (d >= 128; kWide), zero elsewhere.
  template <bool kWide>
  void Look(__m512i d, __mmask64 lo, __mmask64 hi, __m512i b[4]) const {
    auto look = [&](__m512i h0, __m512i h1, __m512i h2, __m512i h3) {
      const __m512i v = _mm512_maskz_permutex2var_epi8(lo, h0, d, h1);
      return kWide ? _mm512_or_si512(v, _mm512_maskz_permutex2var_epi8(hi, h2, d, h3)) : v;
    };
    b[0] = look(p00, p01, p02, p03), b[1] = look(p10, p11, p12, p13);
    b[2] = look(p20, p21, p22, p23), b[3] = look(p30, p31, p32, p33);
  }
};

// Σ_k 2^8k·(plane k's bytes, summed by vpsadbw into qword lanes).
__m512i PlaneSums(const __m512i b[4]) {
  const __m512i z = _mm512_setzero_si512();
  const __m512i s01 = _mm512_add_epi64(_mm512_sad_epu8(b[0], z), _mm512_slli_epi64(_mm512_sad_epu8(b[1], z), 8));
  const __m512i s23 = _mm512_add_epi64(_mm512_sad_epu8(b[2], z), _mm512_slli_epi64(_mm512_sad_epu8(b[3], z), 8));
  return _mm512_add_epi64(s01, _mm512_slli_epi64(s23, 16));
}

// α and β of four rows from their sums (Reduce4Add's lanes): float 2r of each is row r's.
struct RowConsts {
  __m512 alpha, beta;
  int64_t sum[8];
  RowConsts(const SoftmaxVbmiTables& t, __m512i s) {
    const __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm512_cvtepi64_ps(s));
    const __m256 half = _mm512_cvtepi64_ps(_mm512_srli_epi64(s, 1));
    const __m256 a = _mm256_mul_ps(inv, _mm256_set1_ps(t.scale_pot));
    const __m256 b = _mm256_fmadd_ps(half, _mm256_mul_ps(inv, _mm256_set1_ps(t.inv_pot)), _mm256_set1_ps(t.round_pot));
    alpha = _mm512_castps256_ps512(a), beta = _mm512_castps256_ps512(b);
    _mm512_storeu_si512(sum, s);
  }
  __m512 Alpha(int32_t r) const { return _mm512_permutexvar_ps(_mm512_set1_epi32(2 * r), alpha); }
  __m512 Beta(int32_t r) const { return _mm512_permutexvar_ps(_mm512_set1_epi32(2 * r), beta); }
};

// 64 codes from four registers of e in the interleaved order: the packed bytes (u + zero point,
// in element order) and, per register, the lanes too near a code boundary for float (near[j]).
inline __m512i CodesOf(const SoftmaxVbmiTables& t, __m512 alpha, __m512 beta, const __m512 f[4], __mmask16 near[4]) {
  const __m512 eps = _mm512_set1_ps(t.eps);
  __m512i v[4];
  for (int32_t j = 0; j < 4; ++j) {
    const __m512 est = _mm512_fmadd_ps(f[j], alpha, beta);
    near[j] = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_reduce_ps(est, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)),
                                 eps, _CMP_LT_OQ);
    v[j] = _mm512_cvt_roundps_epi32(est, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  }
  __m512i c = _mm512_packus_epi16(_mm512_packus_epi32(v[0], v[1]), _mm512_packus_epi32(v[2], v[3]));
  c = _mm512_min_epu8(c, _mm512_set1_epi8(static_cast<char>(t.u_max)));
  return _mm512_add_epi8(c, _mm512_set1_epi8(static_cast<char>(t.zero_code)));
}

// Rows of at most 64 elements (one step each), d and the kept lanes from stage 1. wide: some
// row has kept lanes with d >= 128 (hi).
void ShortRows(const ref::SoftmaxParams& p, const SoftmaxVbmiTables& t, const Planes& pl, int32_t count,
               const int8_t* const xr[4], uint8_t* const yr[4], const int8_t max_code[4], const __m512i d[4],
               const __mmask64 kept[4], const __mmask64 hi[4], bool wide) {
  const __mmask64 k = FirstBytes(p.depth);
  __m512i b[4][4], q[4];
  for (int32_t r = 0; r < count; ++r) {
    if (wide) pl.Look<true>(d[r], kept[r] & ~hi[r], hi[r], b[r]);
    else pl.Look<false>(d[r], kept[r], 0, b[r]);
    q[r] = PlaneSums(b[r]);
  }
  for (int32_t r = count; r < 4; ++r) q[r] = q[0];
  const RowConsts rc(t, Reduce4Add(q));
  const __m512i zero_code = _mm512_set1_epi8(static_cast<char>(p.output_zero_point));
  for (int32_t r = 0; r < count; ++r) {
    if (kept[r] == 0) {  // wholly masked: every byte the zero point
      _mm512_mask_storeu_epi8(yr[r], k, zero_code);
      continue;
    }
    // e in dwords: register j holds bytes 4j .. 4j + 3 of each 128-bit lane.
    const __m512i w01l = _mm512_unpacklo_epi8(b[r][0], b[r][1]), w01h = _mm512_unpackhi_epi8(b[r][0], b[r][1]);
    const __m512i w23l = _mm512_unpacklo_epi8(b[r][2], b[r][3]), w23h = _mm512_unpackhi_epi8(b[r][2], b[r][3]);
    const __m512 f[4] = {_mm512_cvtepi32_ps(_mm512_unpacklo_epi16(w01l, w23l)),
                         _mm512_cvtepi32_ps(_mm512_unpackhi_epi16(w01l, w23l)),
                         _mm512_cvtepi32_ps(_mm512_unpacklo_epi16(w01h, w23h)),
                         _mm512_cvtepi32_ps(_mm512_unpackhi_epi16(w01h, w23h))};
    __mmask16 near[4];
    const __m512i c = CodesOf(t, rc.Alpha(r), rc.Beta(r), f, near);
    _mm512_mask_storeu_epi8(yr[r], k, _mm512_mask_mov_epi8(zero_code, kept[r], c));
    ForEachNearByte(near, [&](int32_t i) {  // rare: those lanes' exact codes
      if (i < p.depth && ((kept[r] >> i) & 1) != 0)
        yr[r][i] = static_cast<uint8_t>(ExactCode(p, rc.sum[2 * r], p.exp_table[max_code[r] - xr[r][i]]));
    });
  }
}

// A long row's Σe in qword lanes (Σ_k 2^8k·plane k's sums). kWide: its max − min reaches 128.
// Each plane's bytes are summed by vpdpbusd into dwords (on port 0, beside the lookups on port 5;
// at most 4·255 a lane a step), widened to qwords every kDotSegment elements (2^16 steps: below
// 2^26 a lane).
constexpr int32_t kDotSegment = 1 << 22;
template <bool kWide>
__m512i RowSum(const Planes& pl, int32_t depth, const int8_t* x, const uint8_t* m, __m512i bmax) {
  const __m512i zero = _mm512_setzero_si512(), ones = _mm512_set1_epi8(1), low = _mm512_set1_epi64(0xffffffff);
  auto widen = [&](__m512i a) { return _mm512_add_epi64(_mm512_and_si512(a, low), _mm512_srli_epi64(a, 32)); };
  __m512i total = zero;
  for (int32_t s0 = 0; s0 < depth; s0 += kDotSegment) {
    const int32_t s1 = depth - s0 > kDotSegment ? s0 + kDotSegment : depth;
    __m512i acc0 = zero, acc1 = zero, acc2 = zero, acc3 = zero;
    for (int32_t i = s0; i < s1; i += 64) {
      const __mmask64 k = FirstBytes(depth - i), kept = KeptAt(m, i, k);
      const __m512i d = _mm512_sub_epi8(bmax, _mm512_maskz_loadu_epi8(k, x + i));
      const __mmask64 hi = kWide ? kept & _mm512_movepi8_mask(d) : 0;
      __m512i b[4];
      pl.Look<kWide>(d, kept & ~hi, hi, b);
      acc0 = _mm512_dpbusd_epi32(acc0, b[0], ones), acc1 = _mm512_dpbusd_epi32(acc1, b[1], ones);
      acc2 = _mm512_dpbusd_epi32(acc2, b[2], ones), acc3 = _mm512_dpbusd_epi32(acc3, b[3], ones);
    }
    total = _mm512_add_epi64(total, _mm512_add_epi64(_mm512_add_epi64(widen(acc0), _mm512_slli_epi64(widen(acc1), 8)),
                                                     _mm512_add_epi64(_mm512_slli_epi64(widen(acc2), 16),
                                                                      _mm512_slli_epi64(widen(acc3), 24))));
  }
  return total;
}

// The codes of d = 0 .. n − 1 (64 a block, from the float exp table in the interleaved order).
void TableCodes(const ref::SoftmaxParams& p, const SoftmaxVbmiTables& t, __m512 alpha, __m512 beta, int64_t sum,
                int32_t n, uint8_t* codes) {
  for (int32_t b = 0; b < n; b += 64) {
    const __m512 f[4] = {_mm512_load_ps(t.e_float + b), _mm512_load_ps(t.e_float + b + 16),
                         _mm512_load_ps(t.e_float + b + 32), _mm512_load_ps(t.e_float + b + 48)};
    __mmask16 near[4];
    _mm512_store_si512(codes + b, CodesOf(t, alpha, beta, f, near));
    ForEachNearByte(near, [&](int32_t i) {  // rare: those entries' exact codes
      if (b + i < n) codes[b + i] = static_cast<uint8_t>(ExactCode(p, sum, p.exp_table[b + i]));
    });
  }
}

// A long row's outputs: the code of min(d, n − 1) where kept, the zero point elsewhere.
// kRegs: the code registers a lookup needs (2: n <= 128, the second unread when n <= 64; 4).
template <int32_t kRegs>
void RowOutput(const ref::SoftmaxParams& p, const uint8_t* codes, int32_t n, const int8_t* x, const uint8_t* m,
               __m512i bmax, uint8_t* y) {
  const int32_t depth = p.depth;
  const __m512i c0 = _mm512_load_si512(codes), c1 = _mm512_load_si512(codes + 64);
  const __m512i c2 = kRegs == 4 ? _mm512_load_si512(codes + 128) : c0;
  const __m512i c3 = kRegs == 4 ? _mm512_load_si512(codes + 192) : c0;
  const __m512i cap = _mm512_set1_epi8(static_cast<char>(n - 1));
  const __m512i zero_code = _mm512_set1_epi8(static_cast<char>(p.output_zero_point));
  for (int32_t i = 0; i < depth; i += 64) {
    const __mmask64 k = FirstBytes(depth - i), kept = KeptAt(m, i, k);
    const __m512i d = _mm512_min_epu8(_mm512_sub_epi8(bmax, _mm512_maskz_loadu_epi8(k, x + i)), cap);
    __m512i code = _mm512_permutex2var_epi8(c0, d, c1);
    if (kRegs == 4) code = _mm512_mask_blend_epi8(_mm512_movepi8_mask(d), code, _mm512_permutex2var_epi8(c2, d, c3));
    _mm512_mask_storeu_epi8(y + i, k, _mm512_mask_mov_epi8(zero_code, kept, code));
  }
}

}  // namespace

void SoftmaxVbmiTablesInit(const ref::SoftmaxParams& p, SoftmaxVbmiTables* t) {
  for (int32_t d = 0; d < 256; d += 16) {  // prepare pads the int8 input's table to 256 entries
    const __m512i e = _mm512_loadu_si512(p.exp_table + d);
    for (int32_t k = 0; k < 4; ++k)
      _mm_store_si128(reinterpret_cast<__m128i*>(t->planes[k] + d),
                      _mm512_cvtepi32_epi8(_mm512_srli_epi32(e, static_cast<unsigned>(8 * k))));
  }
  // The interleaved order of a 64-entry block is a 4 × 4 transpose of its 128-bit quarters:
  // quarter j of natural register k (entries 16k + 4j ..) is quarter k of register j.
  for (int32_t b = 0; b < 256; b += 64) {
    const __m512i v0 = _mm512_loadu_si512(p.exp_table + b), v1 = _mm512_loadu_si512(p.exp_table + b + 16);
    const __m512i v2 = _mm512_loadu_si512(p.exp_table + b + 32), v3 = _mm512_loadu_si512(p.exp_table + b + 48);
    const __m512i t0 = _mm512_shuffle_i32x4(v0, v1, 0x44), t1 = _mm512_shuffle_i32x4(v0, v1, 0xee);
    const __m512i t2 = _mm512_shuffle_i32x4(v2, v3, 0x44), t3 = _mm512_shuffle_i32x4(v2, v3, 0xee);
    _mm512_store_ps(t->e_float + b, _mm512_cvtepi32_ps(_mm512_shuffle_i32x4(t0, t2, 0x88)));
    _mm512_store_ps(t->e_float + b + 16, _mm512_cvtepi32_ps(_mm512_shuffle_i32x4(t0, t2, 0xdd)));
    _mm512_store_ps(t->e_float + b + 32, _mm512_cvtepi32_ps(_mm512_shuffle_i32x4(t1, t3, 0x88)));
    _mm512_store_ps(t->e_float + b + 48, _mm512_cvtepi32_ps(_mm512_shuffle_i32x4(t1, t3, 0xdd)));
  }
  // est = fma(e, α, β) against e·α + β, all in float (relative rounding 2^−24 each): α from S
  // (rounded), 1/S and the product by scale/2^drop (exact: scale has at most 20 significant bits);
  // β from ⌊S/2⌋, 1/S, the fma with round/2^drop and round/2^drop itself; then e and the fma. At
  // most eight roundings touch either term, e·α <= scale/2^drop (e <= S) and |β| <=
  // (1/2 + |round|)/2^drop, so |est − (e·α + β)| < bound = (scale + 1/2 + |round|)/2^drop·2^−21,
  // and where est is at least eps = 2·bound + 2^−21 from every integer, ⌊est⌋ = v. With
  // eps >= 1/8 the float path would rarely decide: every code is exact (eps = ∞).
  const int32_t drop = 24 - p.output_bits;
  const double pot = std::ldexp(1.0, drop);
  const double scale = static_cast<double>(int64_t{p.clip_scale_q16} * 256);
  const double round = static_cast<double>((int64_t{1} << (drop - 1)) + p.clip_offset_q16);
  t->scale_pot = static_cast<float>(scale / pot), t->inv_pot = static_cast<float>(1.0 / pot);
  t->round_pot = static_cast<float>(round / pot);
  const double eps = 2 * (scale + 0.5 + std::fabs(round)) / pot * 0x1p-21 + 0x1p-21;
  t->eps = eps < 0.125 ? static_cast<float>(eps) : HUGE_VALF;
  t->u_max = (1 << p.output_bits) - 1;
  t->zero_code = p.output_zero_point;
  // u(d) = 0 exactly when scale·e_d < T0·S − ⌊S/2⌋, T0 = 2^(drop−1) − clip_offset (the derivation
  // in avx512vnni_rows.cc); S >= e_0 (the max is kept) and, for T0 >= 1, T0·S − ⌊S/2⌋ >=
  // (T0 − 1/2)·S >= (T0 − 1/2)·e_0. So 2·scale·e_d < (2·T0 − 1)·e_0 makes u(d) = 0 in every
  // row, and holds from some d on (e is non-increasing, prepare checks): found by bisection.
  const int64_t t0 = (int64_t{1} << (23 - p.output_bits)) - p.clip_offset_q16;
  const int64_t iscale = int64_t{p.clip_scale_q16} * 256;  // in [0, 2^28] (prepare)
  t->d_zero = 256;
  if (t0 < 1) return;
  const __int128 bound = static_cast<__int128>(2 * t0 - 1) * p.exp_table[0];
  auto zero_at = [&](int32_t d) { return static_cast<__int128>(2 * iscale) * p.exp_table[d] < bound; };
  int32_t lo = 0, hi = 256;  // the first d in [lo, hi] with zero_at(d) (256: none)
  while (lo < hi) {
    const int32_t mid = (lo + hi) / 2;
    if (zero_at(mid)) hi = mid;
    else lo = mid + 1;
  }
  t->d_zero = lo;
}

void Qs8SoftmaxRowsAvx512Vbmi(const ref::SoftmaxParams& p, const SoftmaxVbmiTables& t, int32_t count,
                              const int8_t* const xr[kSoftmaxVbmiGroup], const uint8_t* const mr[kSoftmaxVbmiGroup],
                              uint8_t* const yr[kSoftmaxVbmiGroup]) {
  const int32_t depth = p.depth;
  const Planes pl(t);
  __m512i vmax[4];
  alignas(64) int8_t maxes[64];
  if (depth <= 64) {
    const __mmask64 k = FirstBytes(depth);
    __m512i x[4], d[4];
    __mmask64 kept[4], hi[4], wide = 0;
    for (int32_t r = 0; r < count; ++r) {
      x[r] = _mm512_maskz_loadu_epi8(k, xr[r]);
      kept[r] = KeptAt(mr[r], 0, k);
      vmax[r] = _mm512_mask_mov_epi8(_mm512_set1_epi8(-128), kept[r], x[r]);
    }
    for (int32_t r = count; r < 4; ++r) vmax[r] = vmax[0];
    const __m512i xmax = Reduce4(vmax);
    _mm512_store_si512(maxes, xmax);
    int8_t max_code[4];
    for (int32_t r = 0; r < count; ++r) {
      max_code[r] = maxes[16 * r];
      d[r] = _mm512_sub_epi8(LaneBroadcast(xmax, r), x[r]);
      hi[r] = kept[r] & _mm512_movepi8_mask(d[r]);
      wide |= hi[r];
    }
    ShortRows(p, t, pl, count, xr, yr, max_code, d, kept, hi, wide != 0);
    return;
  }
  // The min as the max of ~x = −1 − x (one reduction for both).
  __m512i vnot[4];
  bool any[4];
  for (int32_t r = 0; r < count; ++r) {
    __m512i hi_v = _mm512_set1_epi8(-128), not_v = _mm512_set1_epi8(-128);
    __mmask64 seen = 0;
    for (int32_t i = 0; i < depth; i += 64) {
      const __mmask64 k = FirstBytes(depth - i), kept = KeptAt(mr[r], i, k);
      const __m512i v = _mm512_maskz_loadu_epi8(k, xr[r] + i);
      seen |= kept;
      hi_v = _mm512_mask_max_epi8(hi_v, kept, hi_v, v);
      not_v = _mm512_mask_max_epi8(not_v, kept, not_v, _mm512_ternarylogic_epi32(v, v, v, 0x55));
    }
    vmax[r] = hi_v, vnot[r] = not_v, any[r] = seen != 0;
  }
  for (int32_t r = count; r < 4; ++r) vmax[r] = vmax[0], vnot[r] = vnot[0];
  const __m512i xmax = Reduce4(vmax);
  alignas(64) int8_t nots[64];
  _mm512_store_si512(maxes, xmax);
  _mm512_store_si512(nots, Reduce4(vnot));
  __m512i bmax[4], q[4];
  int32_t d_hi[4];
  for (int32_t r = 0; r < count; ++r) {
    bmax[r] = LaneBroadcast(xmax, r);
    d_hi[r] = maxes[16 * r] + nots[16 * r] + 1;  // max − min, min = −1 − max(~x)
    q[r] = !any[r]          ? _mm512_setzero_si512()
           : d_hi[r] >= 128 ? RowSum<true>(pl, depth, xr[r], mr[r], bmax[r])
                            : RowSum<false>(pl, depth, xr[r], mr[r], bmax[r]);
  }
  for (int32_t r = count; r < 4; ++r) q[r] = q[0];
  const RowConsts rc(t, Reduce4Add(q));
  for (int32_t r = 0; r < count; ++r) {
    if (!any[r]) {  // wholly masked: every byte the zero point
      for (int32_t i = 0; i < depth; i += 64)
        _mm512_mask_storeu_epi8(yr[r] + i, FirstBytes(depth - i), _mm512_set1_epi8(static_cast<char>(p.output_zero_point)));
      continue;
    }
    const int32_t n = std::min(d_hi[r], t.d_zero) + 1;
    alignas(64) uint8_t codes[256];
    TableCodes(p, t, rc.Alpha(r), rc.Beta(r), rc.sum[2 * r], n, codes);
    if (n <= 128) RowOutput<2>(p, codes, n, xr[r], mr[r], bmax[r], yr[r]);
    else RowOutput<4>(p, codes, n, xr[r], mr[r], bmax[r], yr[r]);
  }
}

}  // namespace squint::rt::x86
