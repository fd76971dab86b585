// AVX-512 VBMI kernels (this translation unit alone is compiled with -mavx512f -mavx512bw
// -mavx512vbmi). VBMI is not part of the avx512vnni set (Cascade Lake has VNNI without it), so
// prepare calls these only when Avx512VbmiSupported() (dispatch.h) as well.
//
// Qs8LutAvx512Vbmi (rows.h): y[i] = table[(uint8)x[i]], 64 codes a step. vpermi2b picks bytes of
// two registers by the low 7 bits of an index: table[0..127] for the codes whose top bit is 0,
// table[128..255] for the others, and the code's sign bit chooses between the two lookups.
#include <immintrin.h>

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

}  // namespace squint::rt::x86
