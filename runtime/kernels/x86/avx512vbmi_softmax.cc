// SOFTMAX rows on AVX-512 VBMI (rows.h: SoftmaxVbmiTables, Qs8SoftmaxRowsAvx512Vbmi). This
// translation unit alone is compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vbmi
// -mavx512vnni -mfma; prepare calls it only when Avx512VbmiSupported() (dispatch.h), which checks
// those sets.
//
// Up to four rows at a time, in stages, so that one row's reductions overlap the others' work:
//  1. The kept max (and, for rows longer than 64, min) of each row, 64 codes a step, then the
//     four rows' horizontal reductions at once (Reduce4: 128-bit lanes of two rows into one
//     register, then of four, then within a lane), each row's max broadcast back to 64 bytes.
//  2. Σe per row: d = max − x as an unsigned byte; the exp table's byte planes (byte k of e_d)
//     looked up by vpermb in 64-entry quarters (d's top two bits pick the quarter; one vpermb
//     costs half of one vpermi2b over 128 entries on these cores), only the quarters the row's d
//     reaches and, in each, only the planes with a non-zero byte there (the table prepare builds,
//     2^20 at d = 0, has no fourth byte, and its higher bytes end early), the lanes not kept
//     zeroed, each plane summed exactly (vpsadbw for rows of at most 64; longer rows: one pass a
//     quarter, vpdpbusd); the four rows' sums reduced at once.
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
//       output one vpermb (n <= 64 codes), one vpermi2b (n <= 128) or two of min(d, that bound)
//       into the row's codes.
//     Long rows step 64 codes at a time and end with the block that ends at the row's end (its
//     lanes already done left out), so every load is whole and inside the row.
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
inline __attribute__((always_inline)) __m512i Reduce4(const __m512i v[4]) {
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
inline __attribute__((always_inline)) __m512i Reduce4Add(const __m512i q[4]) {
  const __m512i ab = _mm512_add_epi64(_mm512_shuffle_i64x2(q[0], q[1], 0x44), _mm512_shuffle_i64x2(q[0], q[1], 0xee));
  const __m512i cd = _mm512_add_epi64(_mm512_shuffle_i64x2(q[2], q[3], 0x44), _mm512_shuffle_i64x2(q[2], q[3], 0xee));
  const __m512i x = _mm512_add_epi64(_mm512_shuffle_i64x2(ab, cd, 0x88), _mm512_shuffle_i64x2(ab, cd, 0xdd));
  return _mm512_add_epi64(x, _mm512_shuffle_epi32(x, _MM_PERM_BADC));
}

// Every byte of 128-bit lane r of x (Reduce4's lanes hold one value in every byte).
__m512i LaneBroadcast(__m512i x, int32_t r) { return _mm512_permutexvar_epi32(_mm512_set1_epi32(4 * r), x); }

// The kept lanes of 64 whose d is in quarter j, [64j, 64j + 64), for j < quarters (1 to 4): from
// d's top two bits (lanes past those quarters are in none).
inline __attribute__((always_inline)) void QuarterMasks(__m512i d, __mmask64 kept, int32_t quarters, __mmask64 q[4]) {
  const __mmask64 b7 = _mm512_movepi8_mask(d), b6 = _mm512_movepi8_mask(_mm512_add_epi8(d, d));
  if (quarters == 1) {
    q[0] = kept & ~(b7 | b6);
    return;
  }
  const __mmask64 lo = kept & ~b7, hi = kept & b7;
  q[0] = lo & ~b6, q[1] = lo & b6, q[2] = hi & ~b6, q[3] = hi & b6;
}

// The exp table's byte planes in registers (GCC keeps an array of vectors, or its loop, in memory),
// 64-entry quarters each: vpermb (one 64-byte table, half the cost of vpermi2b's two on these
// cores), only for the quarters where the plane has a non-zero byte.
struct Planes {
  __m512i p00, p01, p02, p03, p10, p11, p12, p13, p20, p21, p22, p23, p30, p31, p32, p33;
  const int32_t* quarters;  // SoftmaxVbmiTables::quarters
  explicit Planes(const SoftmaxVbmiTables& t) : quarters(t.quarters) {
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
  // The quarters to look up in each plane (n[k]) for rows whose d stays below 64·row_quarters;
  // returns how many quarters have an e > 0 there (the lanes past them have e = 0).
  int32_t Bound(int32_t row_quarters, int32_t n[4]) const {
    for (int32_t k = 0; k < 4; ++k) n[k] = std::min(quarters[k], row_quarters);
    return std::max(std::max(n[0], n[1]), std::max(n[2], n[3]));
  }
  // Byte k of e_d for the lanes of q[j] (j < n[k]), zero elsewhere: plane k is zero past its n[k]
  // quarters, and the lanes outside every q[j] are not kept.
  __attribute__((always_inline)) void Look(__m512i d, const __mmask64 q[4], const int32_t n[4], __m512i b[4]) const {
    b[0] = Plane(d, q, n[0], p00, p01, p02, p03), b[1] = Plane(d, q, n[1], p10, p11, p12, p13);
    b[2] = Plane(d, q, n[2], p20, p21, p22, p23), b[3] = Plane(d, q, n[3], p30, p31, p32, p33);
  }
  __attribute__((always_inline)) static __m512i Plane(__m512i d, const __mmask64 q[4], int32_t n, __m512i t0,
                                                      __m512i t1, __m512i t2, __m512i t3) {
    if (n == 0) return _mm512_setzero_si512();
    __m512i v = _mm512_maskz_permutexvar_epi8(q[0], d, t0);
    if (n > 1) v = _mm512_mask_permutexvar_epi8(v, q[1], d, t1);
    if (n > 2) v = _mm512_mask_permutexvar_epi8(v, q[2], d, t2);
    if (n > 3) v = _mm512_mask_permutexvar_epi8(v, q[3], d, t3);
    return v;
  }
};

// The quarters a row's d = max − x spans (d_hi = max − min of its kept codes).
inline int32_t RowQuarters(int32_t d_hi) { return d_hi / 64 + 1; }

// Σ_k 2^8k·(plane k's bytes, summed by vpsadbw into qword lanes).
inline __attribute__((always_inline)) __m512i PlaneSums(const __m512i b[4]) {
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
inline __attribute__((always_inline)) __m512i CodesOf(const SoftmaxVbmiTables& t, __m512 alpha, __m512 beta,
                                                     const __m512 f[4], __mmask16 near[4]) {
  const __m512 eps = _mm512_set1_ps(t.eps);
  __m512i v[4];
#pragma GCC unroll 4
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

// Rows of at most 64 elements (one step each), always four (rows past count repeat row 0, not
// stored), so that GCC keeps every row's registers by constant indices (SQUINT_UNROLL_ROWS).
void ShortRows(const ref::SoftmaxParams& p, const SoftmaxVbmiTables& t, int32_t count, const int8_t* const xr_in[4],
               const uint8_t* const mr_in[4], uint8_t* const yr[4]) {
  const Planes pl(t);
  const __mmask64 k = FirstBytes(p.depth);
  const int8_t* xr[4];
  __m512i x[4], d[4], vmax[4];
  __mmask64 kept[4], wide = 0, past64 = 0;
SQUINT_UNROLL_ROWS(4)
  for (int32_t r = 0; r < 4; ++r) {
    xr[r] = r < count ? xr_in[r] : xr_in[0];
    x[r] = _mm512_maskz_loadu_epi8(k, xr[r]);
    kept[r] = KeptAt(r < count ? mr_in[r] : mr_in[0], 0, k);
    vmax[r] = _mm512_mask_mov_epi8(_mm512_set1_epi8(-128), kept[r], x[r]);
  }
  const __m512i xmax = Reduce4(vmax);
SQUINT_UNROLL_ROWS(4)
  for (int32_t r = 0; r < 4; ++r) {
    d[r] = _mm512_sub_epi8(LaneBroadcast(xmax, r), x[r]);
    wide |= kept[r] & _mm512_movepi8_mask(d[r]);                           // d >= 128
    past64 |= kept[r] & _mm512_movepi8_mask(_mm512_add_epi8(d[r], d[r]));  // d mod 128 >= 64
  }
  const int32_t quarters = wide != 0 ? 4 : past64 != 0 ? 2 : 1;
  __m512i b[4][4], q[4];
  int32_t n[4];
  const int32_t looked = pl.Bound(quarters, n);
SQUINT_UNROLL_ROWS(4)
  for (int32_t r = 0; r < 4; ++r) {
    __mmask64 qm[4] = {kept[r]};  // every kept d below 64: no quarter masks
    if (quarters > 1) QuarterMasks(d[r], kept[r], looked, qm);
    pl.Look(d[r], qm, n, b[r]);
    q[r] = PlaneSums(b[r]);
  }
  const RowConsts rc(t, Reduce4Add(q));
  const __m512i zero_code = _mm512_set1_epi8(static_cast<char>(p.output_zero_point));
SQUINT_UNROLL_ROWS(4)
  for (int32_t r = 0; r < 4; ++r) {
    if (r >= count) break;
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
      if (i < p.depth && ((kept[r] >> i) & 1) != 0) {
        alignas(64) int8_t maxes[64];
        _mm512_store_si512(maxes, xmax);
        yr[r][i] = static_cast<uint8_t>(ExactCode(p, rc.sum[2 * r], p.exp_table[maxes[16 * r] - xr[r][i]]));
      }
    });
  }
}

// A long row's Σe, one pass over the row per quarter j of the exp table that its d reaches: the
// lanes whose d is in [64j, 64j + 64) (and kept) look up the kP planes with a non-zero byte in
// that quarter (SoftmaxVbmiTables::planes_in), each by one vpermb from the plane's quarter, summed
// by vpdpbusd into dwords (on port 0, beside the lookups on port 5; at most 4·255 a lane a step
// over all passes: each lane is in one quarter), widened to qwords every kDotSegment elements
// (2^16 steps: below 2^26 a lane).
constexpr int32_t kDotSegment = 1 << 22;
template <int32_t kP>
void QuarterPass(const SoftmaxVbmiTables& t, int32_t j, int32_t s0, int32_t s1, const int8_t* x, const uint8_t* m,
                 __m512i bmax, __m512i acc[4]) {
  const __m512i ones = _mm512_set1_epi8(1), top = _mm512_set1_epi8(static_cast<char>(0xc0));
  const __m512i quarter = _mm512_set1_epi8(static_cast<char>(64 * j));
  __m512i tab[4];
#pragma GCC unroll 4
  for (int32_t k = 0; k < kP; ++k) tab[k] = _mm512_load_si512(t.planes[k] + 64 * j);
  __m512i a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  // Whole blocks, then (when s1 − s0 is not a multiple of 64) the block that ends at s1, its lanes
  // before i (counted already) left out: every load inside the row (depth > 64) and unmasked.
  __mmask64 k = ~__mmask64{0};
  for (int32_t i = s0;;) {
    const __m512i d = _mm512_sub_epi8(bmax, _mm512_loadu_si512(x + i));
    const __mmask64 in = _mm512_mask_cmpeq_epi8_mask(KeptAt(m, i, k), _mm512_and_si512(d, top), quarter);
    a0 = _mm512_dpbusd_epi32(a0, _mm512_maskz_permutexvar_epi8(in, d, tab[0]), ones);
    if (kP > 1) a1 = _mm512_dpbusd_epi32(a1, _mm512_maskz_permutexvar_epi8(in, d, tab[1]), ones);
    if (kP > 2) a2 = _mm512_dpbusd_epi32(a2, _mm512_maskz_permutexvar_epi8(in, d, tab[2]), ones);
    if (kP > 3) a3 = _mm512_dpbusd_epi32(a3, _mm512_maskz_permutexvar_epi8(in, d, tab[3]), ones);
    if ((i += 64) >= s1) break;
    if (i + 64 > s1) k = ~__mmask64{0} << (i - (s1 - 64)), i = s1 - 64;
  }
  acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}
// Σe in qword lanes (Σ_k 2^8k·plane k's sums) of a row whose d stays below 64·quarters.
__m512i RowSum(const SoftmaxVbmiTables& t, int32_t quarters, int32_t depth, const int8_t* x, const uint8_t* m,
               __m512i bmax) {
  const __m512i zero = _mm512_setzero_si512(), low = _mm512_set1_epi64(0xffffffff);
  auto widen = [&](__m512i a) { return _mm512_add_epi64(_mm512_and_si512(a, low), _mm512_srli_epi64(a, 32)); };
  __m512i total = zero;
  for (int32_t s0 = 0; s0 < depth; s0 += kDotSegment) {
    const int32_t s1 = depth - s0 > kDotSegment ? s0 + kDotSegment : depth;
    __m512i acc[4] = {zero, zero, zero, zero};
    for (int32_t j = 0; j < quarters; ++j) {
      switch (t.planes_in[j]) {
        case 0: break;  // every e of the quarter is 0
        case 1: QuarterPass<1>(t, j, s0, s1, x, m, bmax, acc); break;
        case 2: QuarterPass<2>(t, j, s0, s1, x, m, bmax, acc); break;
        case 3: QuarterPass<3>(t, j, s0, s1, x, m, bmax, acc); break;
        default: QuarterPass<4>(t, j, s0, s1, x, m, bmax, acc); break;
      }
    }
    total = _mm512_add_epi64(total, _mm512_add_epi64(_mm512_add_epi64(widen(acc[0]), _mm512_slli_epi64(widen(acc[1]), 8)),
                                                     _mm512_add_epi64(_mm512_slli_epi64(widen(acc[2]), 16),
                                                                      _mm512_slli_epi64(widen(acc[3]), 24))));
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
// kRegs: the code registers a lookup needs (1: n <= 64, by vpermb; 2: n <= 128; 4).
template <int32_t kRegs>
void RowOutput(const ref::SoftmaxParams& p, const uint8_t* codes, int32_t n, const int8_t* x, const uint8_t* m,
               __m512i bmax, uint8_t* y) {
  const int32_t depth = p.depth;
  const __m512i c0 = _mm512_load_si512(codes), c1 = _mm512_load_si512(codes + 64);
  const __m512i c2 = kRegs == 4 ? _mm512_load_si512(codes + 128) : c0;
  const __m512i c3 = kRegs == 4 ? _mm512_load_si512(codes + 192) : c0;
  const __m512i cap = _mm512_set1_epi8(static_cast<char>(n - 1));
  const __m512i zero_code = _mm512_set1_epi8(static_cast<char>(p.output_zero_point));
  // Whole blocks, then (depth not a multiple of 64) the block that ends at depth, storing only its
  // lanes from i on (y may be x: the lanes before i are outputs already).
  __mmask64 k = ~__mmask64{0};
  for (int32_t i = 0;;) {
    const __mmask64 kept = KeptAt(m, i, k);
    const __m512i d = _mm512_min_epu8(_mm512_sub_epi8(bmax, _mm512_loadu_si512(x + i)), cap);
    __m512i code = kRegs == 1 ? _mm512_permutexvar_epi8(d, c0) : _mm512_permutex2var_epi8(c0, d, c1);
    if (kRegs == 4) code = _mm512_mask_blend_epi8(_mm512_movepi8_mask(d), code, _mm512_permutex2var_epi8(c2, d, c3));
    _mm512_mask_storeu_epi8(y + i, k, _mm512_mask_mov_epi8(zero_code, kept, code));
    if ((i += 64) >= depth) break;
    if (i + 64 > depth) k = ~__mmask64{0} << (i - (depth - 64)), i = depth - 64;
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
  for (int32_t k = 0; k < 4; ++k) t->quarters[k] = 0;
  for (int32_t j = 0; j < 4; ++j) {
    t->planes_in[j] = 0;
    for (int32_t k = 0; k < 4; ++k) {
      const __m512i v = _mm512_load_si512(t->planes[k] + 64 * j);
      if (_mm512_test_epi8_mask(v, v) != 0) t->quarters[k] = j + 1, t->planes_in[j] = k + 1;
    }
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
  if (p.depth <= 64) return;  // the short rows need neither the float table nor d_zero
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
  if (depth <= 64) return ShortRows(p, t, count, xr, mr, yr);
  __m512i vmax[4];
  alignas(64) int8_t maxes[64];
  // The kept max and min; the min's reduction as the max of ~min = −1 − min (one Reduce4 for both).
  __m512i vnot[4];
  bool any[4];
  for (int32_t r = 0; r < count; ++r) {
    __m512i hi_v = _mm512_set1_epi8(-128), lo_v = _mm512_set1_epi8(127);
    __mmask64 seen = 0;
    // Whole blocks, then (depth not a multiple of 64) the block that ends at depth: lanes seen
    // twice change neither max nor min.
    for (int32_t i = 0;;) {
      const __mmask64 kept = KeptAt(mr[r], i, ~__mmask64{0});
      const __m512i v = _mm512_loadu_si512(xr[r] + i);
      seen |= kept;
      hi_v = _mm512_mask_max_epi8(hi_v, kept, hi_v, v);
      lo_v = _mm512_mask_min_epi8(lo_v, kept, lo_v, v);
      if ((i += 64) >= depth) break;
      if (i + 64 > depth) i = depth - 64;
    }
    vmax[r] = hi_v, vnot[r] = _mm512_ternarylogic_epi32(lo_v, lo_v, lo_v, 0x55), any[r] = seen != 0;
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
    q[r] = any[r] ? RowSum(t, RowQuarters(d_hi[r]), depth, xr[r], mr[r], bmax[r]) : _mm512_setzero_si512();
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
    if (n <= 64) RowOutput<1>(p, codes, n, xr[r], mr[r], bmax[r], yr[r]);
    else if (n <= 128) RowOutput<2>(p, codes, n, xr[r], mr[r], bmax[r], yr[r]);
    else RowOutput<4>(p, codes, n, xr[r], mr[r], bmax[r], yr[r]);
  }
}

}  // namespace squint::rt::x86
