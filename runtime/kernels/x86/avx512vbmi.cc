// AVX-512 VBMI kernels (this translation unit alone is compiled with -mavx512f -mavx512bw
// -mavx512vbmi). VBMI is not part of the avx512vnni set (Cascade Lake has VNNI without it), so
// prepare calls these only when Avx512VbmiSupported() (dispatch.h) as well.
//
// Qs8LutAvx512Vbmi (rows.h): y[i] = table[(uint8)x[i]], 64 codes a step. vpermi2b picks bytes of
// two registers by the low 7 bits of an index: table[0..127] for the codes whose top bit is 0,
// table[128..255] for the others, and the code's sign bit chooses between the two lookups.
//
// Qs8ToQs16LutAvx512Vbmi (rows.h): y[i] = table[x[i]] with int16 entries, 64 codes a step: the
// entries' low and high bytes as two byte tables looked up as above, interleaved into words by
// vpunpck (within 128-bit lanes; the codes are first put in the order that makes the two
// interleaves' words consecutive).
//
// The SOFTMAX rows on VBMI are in avx512vbmi_softmax.cc.
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

#if !defined(__OPTIMIZE_SIZE__)  // the -Os library (bench/footprint.sh): the table loop instead
void Qs8ToQs16LutAvx512Vbmi(int64_t count, const int16_t* table, const int8_t* x, int16_t* y) {
  // Byte tables (vpermi2b pairs) of the entries for codes 0..127 and −128..−1: low bytes, high bytes.
  __m512i lo[4], hi[4];
  for (int32_t h = 0; h < 2; ++h) {  // h = 0: codes 0..127, h = 1: −128..−1
    const int16_t* t = table + (h == 0 ? 0 : -128);
    for (int32_t j = 0; j < 2; ++j) {  // 64 entries a register
      const __m512i a = _mm512_loadu_si512(t + 64 * j), b = _mm512_loadu_si512(t + 64 * j + 32);
      lo[2 * h + j] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi16_epi8(a)), _mm512_cvtepi16_epi8(b), 1);
      hi[2 * h + j] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi16_epi8(_mm512_srli_epi16(a, 8))),
                                         _mm512_cvtepi16_epi8(_mm512_srli_epi16(b, 8)), 1);
    }
  }
  // Lane l of the reordered codes: codes 8l .. 8l + 7, then 32 + 8l .. 32 + 8l + 7, so that the
  // low interleave gives codes 0..31 and the high one 32..63.
  alignas(64) static constexpr uint8_t kOrder[64] = {
      0,  1,  2,  3,  4,  5,  6,  7,  32, 33, 34, 35, 36, 37, 38, 39, 8,  9,  10, 11, 12, 13,
      14, 15, 40, 41, 42, 43, 44, 45, 46, 47, 16, 17, 18, 19, 20, 21, 22, 23, 48, 49, 50, 51,
      52, 53, 54, 55, 24, 25, 26, 27, 28, 29, 30, 31, 56, 57, 58, 59, 60, 61, 62, 63};
  const __m512i order = _mm512_load_si512(kOrder);
  for (int64_t i = 0; i < count; i += 64) {
    const __mmask64 k = count - i >= 64 ? ~__mmask64{0} : (__mmask64{1} << (count - i)) - 1;
    const __m512i v = _mm512_permutexvar_epi8(order, _mm512_maskz_loadu_epi8(k, x + i));
    const __mmask64 negative = _mm512_movepi8_mask(v);
    const __m512i l = _mm512_mask_blend_epi8(negative, _mm512_permutex2var_epi8(lo[0], v, lo[1]),
                                             _mm512_permutex2var_epi8(lo[2], v, lo[3]));
    const __m512i h = _mm512_mask_blend_epi8(negative, _mm512_permutex2var_epi8(hi[0], v, hi[1]),
                                             _mm512_permutex2var_epi8(hi[2], v, hi[3]));
    _mm512_mask_storeu_epi16(y + i, static_cast<__mmask32>(k), _mm512_unpacklo_epi8(l, h));
    _mm512_mask_storeu_epi16(y + i + 32, static_cast<__mmask32>(k >> 32), _mm512_unpackhi_epi8(l, h));
  }
}
#endif

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

}  // namespace squint::rt::x86
