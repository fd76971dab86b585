// AVX-512 VBMI kernels (this translation unit alone is compiled with -mavx512f -mavx512bw
// -mavx512vbmi). VBMI is not part of the avx512vnni set (Cascade Lake has VNNI without it), so
// prepare calls these only when Avx512VbmiSupported() (dispatch.h) as well.
//
// Qs8LutAvx512Vbmi (rows.h): y[i] = table[(uint8)x[i]], 64 codes a step. vpermi2b picks bytes of
// two registers by the low 7 bits of an index: table[0..127] for the codes whose top bit is 0,
// table[128..255] for the others, and the code's sign bit chooses between the two lookups.
//
// SOFTMAX rows (rows.h: SoftmaxVbmiTables, Qs8SoftmaxRowsAvx512Vbmi), 64 elements a step: the kept
// max and min by vpmaxsb / vpminsb; d = max − x as an unsigned byte (0..255 for a kept element);
// Σe from the exp table's four byte planes, each looked up by vpermi2b (two and a merge when d
// reaches 128) with the lanes not kept zeroed, and summed exactly by vpsadbw into 64-bit lanes;
// the output bytes by vpermi2b from the row's codes per d.
//
// TransposeBytesAvx512Vbmi (rows.h): 8 × 8 blocks, walked in 64 × 64 tiles (transpose_tiles.h),
// each gathered into one register (8 rows of 8 bytes, two per 128-bit lane), transposed by one
// vpermb and stored as 8 rows of 8 bytes; the edges (rows or columns past the last multiple of 8)
// byte by byte.
// GCC 12's AVX-512 headers start some intrinsics from an undefined vector, which its
// -Wmaybe-uninitialized reports falsely (GCC bug 105593), as in avx512vnni.cc.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>

#include "runtime/kernels/portable/transpose_tiles.h"
#include "runtime/kernels/x86/rows.h"

namespace squint::rt::x86 {

void Qs8LutAvx512Vbmi(int64_t count, const int8_t* table, const int8_t* x, int8_t* y) {
  const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
  const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
  for (int64_t i = 0; i < count; i += 64) {
    const __mmask64 k = count - i >= 64 ? ~__mmask64{0} : (__mmask64{1} << (count - i)) - 1;
    const __m512i v = _mm512_maskz_loadu_epi8(k, x + i);
    const __m512i low = _mm512_permutex2var_epi8(t0, v, t1), high = _mm512_permutex2var_epi8(t2, v, t3);
    _mm512_mask_storeu_epi8(y + i, k, _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), low, high));
  }
}

void TransposeBytesAvx512Vbmi(const int8_t* x, int64_t rows, int64_t cols, int8_t* t) {
  // Byte 8i + j of the block (row i, column j) goes to byte 8j + i: vpermb's index there is 8i + j.
  alignas(64) static constexpr uint8_t kIndex[64] = {
      0, 8, 16, 24, 32, 40, 48, 56, 1, 9, 17, 25, 33, 41, 49, 57, 2, 10, 18, 26, 34, 42, 50, 58,
      3, 11, 19, 27, 35, 43, 51, 59, 4, 12, 20, 28, 36, 44, 52, 60, 5, 13, 21, 29, 37, 45, 53, 61,
      6, 14, 22, 30, 38, 46, 54, 62, 7, 15, 23, 31, 39, 47, 55, 63};
  const __m512i index = _mm512_load_si512(kIndex);
  const int64_t rows8 = rows / 8 * 8, cols8 = cols / 8 * 8;
  auto pair = [](const int8_t* lo, const int8_t* hi) {  // 8 bytes at lo, then 8 at hi
    const __m128i v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(lo));
    return _mm_castpd_si128(_mm_loadh_pd(_mm_castsi128_pd(v), reinterpret_cast<const double*>(hi)));
  };
  portable::ForEachTransposeBlock(rows8, cols8, [&](int64_t i0, int64_t j0) {
    const int8_t* xb = x + i0 * cols + j0;
    __m512i v = _mm512_castsi128_si512(pair(xb, xb + cols));
    v = _mm512_inserti32x4(v, pair(xb + 2 * cols, xb + 3 * cols), 1);
    v = _mm512_inserti32x4(v, pair(xb + 4 * cols, xb + 5 * cols), 2);
    v = _mm512_inserti32x4(v, pair(xb + 6 * cols, xb + 7 * cols), 3);
    const __m512i r = _mm512_permutexvar_epi8(index, v);
    int8_t* tb = t + j0 * rows + i0;
    const __m128i q0 = _mm512_castsi512_si128(r), q1 = _mm512_extracti32x4_epi32(r, 1);
    const __m128i q2 = _mm512_extracti32x4_epi32(r, 2), q3 = _mm512_extracti32x4_epi32(r, 3);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(tb), q0);
    _mm_storeh_pd(reinterpret_cast<double*>(tb + rows), _mm_castsi128_pd(q0));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(tb + 2 * rows), q1);
    _mm_storeh_pd(reinterpret_cast<double*>(tb + 3 * rows), _mm_castsi128_pd(q1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(tb + 4 * rows), q2);
    _mm_storeh_pd(reinterpret_cast<double*>(tb + 5 * rows), _mm_castsi128_pd(q2));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(tb + 6 * rows), q3);
    _mm_storeh_pd(reinterpret_cast<double*>(tb + 7 * rows), _mm_castsi128_pd(q3));
  });
  for (int64_t i = 0; i < rows; ++i)  // the right edge (j >= cols8), then the bottom one
    for (int64_t j = cols8; j < cols; ++j) t[j * rows + i] = x[i * cols + j];
  for (int64_t i = rows8; i < rows; ++i)
    for (int64_t j = 0; j < cols8; ++j) t[j * rows + i] = x[i * cols + j];
}

// ---- SOFTMAX ----

void SoftmaxVbmiTablesInit(const ref::SoftmaxParams& p, SoftmaxVbmiTables* t) {
  for (int32_t d = 0; d < 256; d += 16) {  // prepare pads the int8 input's table to 256 entries
    const __m512i e = _mm512_loadu_si512(p.exp_table + d);
    for (int32_t k = 0; k < 4; ++k)
      _mm_store_si128(reinterpret_cast<__m128i*>(t->planes[k] + d),
                      _mm512_cvtepi32_epi8(_mm512_srli_epi32(e, static_cast<unsigned>(8 * k))));
  }
  // u(d) = 0 exactly when scale·e_d < T0·S − ⌊S/2⌋, T0 = 2^(drop−1) − clip_offset (the derivation
  // in avx512vnni_rows.cc); S >= e_0 (the max is kept) and, for T0 >= 1, T0·S − ⌊S/2⌋ >=
  // (T0 − 1/2)·S >= (T0 − 1/2)·e_0. So 2·scale·e_d < (2·T0 − 1)·e_0 makes u(d) = 0 in every
  // row, and holds from some d on (e is non-increasing, prepare checks): found by bisection.
  const int64_t t0 = (int64_t{1} << (23 - p.output_bits)) - p.clip_offset_q16;
  const int64_t scale = int64_t{p.clip_scale_q16} * 256;  // in [0, 2^28] (prepare)
  t->d_zero = 256;
  if (t0 < 1) return;
  const __int128 bound = static_cast<__int128>(2 * t0 - 1) * p.exp_table[0];
  auto zero_at = [&](int32_t d) { return static_cast<__int128>(2 * scale) * p.exp_table[d] < bound; };
  int32_t lo = 0, hi = 256;  // the first d in [lo, hi] with zero_at(d) (256: none)
  while (lo < hi) {
    const int32_t mid = (lo + hi) / 2;
    if (zero_at(mid)) hi = mid;
    else lo = mid + 1;
  }
  t->d_zero = lo;
}

namespace {

__mmask64 FirstBytes(int32_t n) { return n >= 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1; }

// The kept lanes of 64 elements from i: the row's lanes, those whose mask byte is non-zero.
__mmask64 KeptAt(const uint8_t* mr, int32_t i, __mmask64 k) {
  if (mr == nullptr) return k;
  const __m512i m = _mm512_maskz_loadu_epi8(k, mr + i);
  return _mm512_test_epi8_mask(m, m);
}

struct VbmiRow {
  const int8_t* x;
  const uint8_t* m;
  uint8_t* y;
  bool any = false;
  int32_t max_code = 0, d_hi = 0, n = 0;  // n: codes tabulated, d in [0, n)
  int64_t sum = 0;
};

// The kept max and min: each 128-bit lane, then each dword, folded into byte 0 of every lane.
void RowMaxMin(int32_t depth, VbmiRow* r) {
  __m512i vmax = _mm512_set1_epi8(-128), vmin = _mm512_set1_epi8(127);
  __mmask64 any = 0;
  for (int32_t i = 0; i < depth; i += 64) {
    const __mmask64 k = FirstBytes(depth - i), kept = KeptAt(r->m, i, k);
    const __m512i v = _mm512_maskz_loadu_epi8(k, r->x + i);
    any |= kept;
    vmax = _mm512_mask_max_epi8(vmax, kept, vmax, v);
    vmin = _mm512_mask_min_epi8(vmin, kept, vmin, v);
  }
  r->any = any != 0;
  vmax = _mm512_max_epi8(vmax, _mm512_shuffle_i64x2(vmax, vmax, _MM_SHUFFLE(1, 0, 3, 2)));
  vmin = _mm512_min_epi8(vmin, _mm512_shuffle_i64x2(vmin, vmin, _MM_SHUFFLE(1, 0, 3, 2)));
  vmax = _mm512_max_epi8(vmax, _mm512_shuffle_i64x2(vmax, vmax, _MM_SHUFFLE(2, 3, 0, 1)));
  vmin = _mm512_min_epi8(vmin, _mm512_shuffle_i64x2(vmin, vmin, _MM_SHUFFLE(2, 3, 0, 1)));
  vmax = _mm512_max_epi8(vmax, _mm512_shuffle_epi32(vmax, _MM_PERM_BADC));
  vmin = _mm512_min_epi8(vmin, _mm512_shuffle_epi32(vmin, _MM_PERM_BADC));
  vmax = _mm512_max_epi8(vmax, _mm512_shuffle_epi32(vmax, _MM_PERM_CDAB));
  vmin = _mm512_min_epi8(vmin, _mm512_shuffle_epi32(vmin, _MM_PERM_CDAB));
  // Byte 0 of a dword: the extreme of bytes 0 and 2, then of that and bytes 1 and 3.
  vmax = _mm512_max_epi8(vmax, _mm512_srli_epi32(vmax, 16));
  vmin = _mm512_min_epi8(vmin, _mm512_srli_epi32(vmin, 16));
  vmax = _mm512_max_epi8(vmax, _mm512_srli_epi32(vmax, 8));
  vmin = _mm512_min_epi8(vmin, _mm512_srli_epi32(vmin, 8));
  r->max_code = static_cast<int8_t>(_mm_cvtsi128_si32(_mm512_castsi512_si128(vmax)));
  r->d_hi = r->max_code - static_cast<int8_t>(_mm_cvtsi128_si32(_mm512_castsi512_si128(vmin)));
}

// Σe over the kept elements. kWide: d reaches 128 (d_hi >= 128), two lookups a plane.
template <bool kWide>
int64_t RowSum(const SoftmaxVbmiTables& t, int32_t depth, const VbmiRow& r) {
  // The planes' halves in registers (GCC keeps an array of vectors, or its loop, in memory).
  const uint8_t* const pl = t.planes[0];
  const __m512i p00 = _mm512_load_si512(pl), p01 = _mm512_load_si512(pl + 64);
  const __m512i p10 = _mm512_load_si512(pl + 256), p11 = _mm512_load_si512(pl + 320);
  const __m512i p20 = _mm512_load_si512(pl + 512), p21 = _mm512_load_si512(pl + 576);
  const __m512i p30 = _mm512_load_si512(pl + 768), p31 = _mm512_load_si512(pl + 832);
  const __m512i p02 = kWide ? _mm512_load_si512(pl + 128) : p00, p03 = kWide ? _mm512_load_si512(pl + 192) : p01;
  const __m512i p12 = kWide ? _mm512_load_si512(pl + 384) : p10, p13 = kWide ? _mm512_load_si512(pl + 448) : p11;
  const __m512i p22 = kWide ? _mm512_load_si512(pl + 640) : p20, p23 = kWide ? _mm512_load_si512(pl + 704) : p21;
  const __m512i p32 = kWide ? _mm512_load_si512(pl + 896) : p30, p33 = kWide ? _mm512_load_si512(pl + 960) : p31;
  const __m512i max_v = _mm512_set1_epi8(static_cast<char>(r.max_code)), zero = _mm512_setzero_si512();
  __m512i acc0 = zero, acc1 = zero, acc2 = zero, acc3 = zero;
  for (int32_t i = 0; i < depth; i += 64) {
    const __mmask64 k = FirstBytes(depth - i), kept = KeptAt(r.m, i, k);
    const __m512i d = _mm512_sub_epi8(max_v, _mm512_maskz_loadu_epi8(k, r.x + i));
    const __mmask64 high = kWide ? _mm512_movepi8_mask(d) : 0, lo = kept & ~high, hi = kept & high;
    // Byte k of e_d where kept: d < 128 from the plane's first half, d >= 128 from its second.
    auto look = [&](__m512i h0, __m512i h1, __m512i h2, __m512i h3) {
      const __m512i b = _mm512_maskz_permutex2var_epi8(lo, h0, d, h1);
      return kWide ? _mm512_or_si512(b, _mm512_maskz_permutex2var_epi8(hi, h2, d, h3)) : b;
    };
    const __m512i b0 = look(p00, p01, p02, p03), b1 = look(p10, p11, p12, p13);
    const __m512i b2 = look(p20, p21, p22, p23), b3 = look(p30, p31, p32, p33);
    acc0 = _mm512_add_epi64(acc0, _mm512_sad_epu8(b0, zero));
    acc1 = _mm512_add_epi64(acc1, _mm512_sad_epu8(b1, zero));
    acc2 = _mm512_add_epi64(acc2, _mm512_sad_epu8(b2, zero));
    acc3 = _mm512_add_epi64(acc3, _mm512_sad_epu8(b3, zero));
  }
  const __m512i total = _mm512_add_epi64(_mm512_add_epi64(acc0, _mm512_slli_epi64(acc1, 8)),
                                         _mm512_add_epi64(_mm512_slli_epi64(acc2, 16), _mm512_slli_epi64(acc3, 24)));
  return _mm512_reduce_add_epi64(total);
}

// The output bytes: the code of min(d, n − 1) where kept, the zero point elsewhere.
template <bool kWide>
void RowOutput(const ref::SoftmaxParams& p, const uint8_t* codes, const VbmiRow& r) {
  const int32_t depth = p.depth;
  const __m512i c0 = _mm512_load_si512(codes), c1 = _mm512_load_si512(codes + 64);
  const __m512i c2 = kWide ? _mm512_load_si512(codes + 128) : c0, c3 = kWide ? _mm512_load_si512(codes + 192) : c1;
  const __m512i max_v = _mm512_set1_epi8(static_cast<char>(r.max_code));
  const __m512i cap = _mm512_set1_epi8(static_cast<char>(r.n - 1));
  const __m512i zero_code = _mm512_set1_epi8(static_cast<char>(p.output_zero_point));
  for (int32_t i = 0; i < depth; i += 64) {
    const __mmask64 k = FirstBytes(depth - i), kept = KeptAt(r.m, i, k);
    const __m512i d = _mm512_min_epu8(_mm512_sub_epi8(max_v, _mm512_maskz_loadu_epi8(k, r.x + i)), cap);
    __m512i code = _mm512_permutex2var_epi8(c0, d, c1);
    if (kWide) code = _mm512_mask_blend_epi8(_mm512_movepi8_mask(d), code, _mm512_permutex2var_epi8(c2, d, c3));
    _mm512_mask_storeu_epi8(r.y + i, k, _mm512_mask_mov_epi8(zero_code, kept, code));
  }
}

}  // namespace

void Qs8SoftmaxRowsAvx512Vbmi(const ref::SoftmaxParams& p, const SoftmaxVbmiTables& t, int32_t count,
                              const int8_t* const xr[2], const uint8_t* const mr[2], uint8_t* const yr[2]) {
  const int32_t depth = p.depth;
  VbmiRow row[2];
  alignas(64) uint8_t codes[2][256];
  for (int32_t r = 0; r < count; ++r) {
    row[r].x = xr[r], row[r].m = mr[r], row[r].y = yr[r];
    RowMaxMin(depth, &row[r]);
  }
  for (int32_t r = 0; r < count; ++r)
    if (row[r].any) row[r].sum = row[r].d_hi < 128 ? RowSum<false>(t, depth, row[r]) : RowSum<true>(t, depth, row[r]);
  for (int32_t r = 0; r < count; ++r) {
    if (!row[r].any) continue;
    row[r].n = std::min(row[r].d_hi, t.d_zero) + 1;
    SoftmaxCodeBytesAvx512(p, row[r].sum, row[r].n, codes[r]);
  }
  for (int32_t r = 0; r < count; ++r) {
    VbmiRow& w = row[r];
    if (!w.any) {  // wholly masked: every byte the zero point
      for (int32_t i = 0; i < depth; i += 64)
        _mm512_mask_storeu_epi8(w.y + i, FirstBytes(depth - i), _mm512_set1_epi8(static_cast<char>(p.output_zero_point)));
    } else if (w.n <= 128) {
      RowOutput<false>(p, codes[r], w);
    } else {
      RowOutput<true>(p, codes[r], w);
    }
  }
}

}  // namespace squint::rt::x86
