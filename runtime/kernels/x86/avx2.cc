// AVX2 kernels (this translation unit alone is compiled with -mavx2 -mfma; the runtime calls it
// only after the CPU check at prepare).
//
// qs8_gemm_4x16c2__avx2: y = requant(x·wᵀ + b') (portable/qs8_gemm.h) with a register tile of 4 rows × 16
// units (two ymm of 8 int32 lanes, one lane per unit) and depth pairs. Activations and weights
// are widened to int16 (activations into scratch per call, weights once at prepare) and
// vpmaddwd adds x[k]·w[n][k] + x[k+1]·w[n][k+1] into lane n: each product is at most 128·128 =
// 2^14 and a pair at most 2^15, so nothing saturates (vpmaddubsw, whose int16 pair sum can
// saturate, is not used). Lanes hold the exact sum modulo 2^32; the folded bias subtracts z_x·Σw.
// Also the AVX2 rows of LAYER_NORM (rows.h states the contract; below the GEMM).
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "runtime/kernels/portable/qs8_gemm.h"
#include "runtime/kernels/x86/pack_columns.h"
#include "runtime/kernels/x86/rows.h"

namespace squint::rt::x86 {

using portable::Qs8GemmKernel;
using portable::Qs8GemmParams;

namespace {

constexpr int32_t kMr = 4, kNr = 16, kKr = 2;

struct OutputStage {
  __m256i lo, hi, zp;  // act_min − zp, act_max − zp, zp
};

// The reference requantization of 8 accumulators (lanes = units); the steps and their proof are
// those of avx512vnni.cc's Requantize.
inline __attribute__((always_inline)) __m256i Requantize(__m256i acc, __m256i mult, __m256i left, __m256i right, const OutputStage& o) {
  const __m256i shifted = _mm256_sllv_epi32(acc, left);
  const __m256i exact = _mm256_cmpeq_epi32(_mm256_srav_epi32(shifted, left), acc);
  const __m256i saturated = _mm256_xor_si256(_mm256_srai_epi32(acc, 31), _mm256_set1_epi32(0x7fffffff));
  const __m256i a = _mm256_blendv_epi8(saturated, shifted, exact);
  const __m256i nudge = _mm256_set1_epi64x(int64_t{1} << 30);
  const __m256i even = _mm256_add_epi64(_mm256_mul_epi32(a, mult), nudge);
  const __m256i odd =
      _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(mult, 32)), nudge);
  const __m256i high = _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA);
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
  const __m256i remainder = _mm256_and_si256(high, mask);
  const __m256i threshold = _mm256_sub_epi32(_mm256_srli_epi32(mask, 1), _mm256_srai_epi32(high, 31));
  __m256i q = _mm256_srav_epi32(high, right);
  q = _mm256_sub_epi32(q, _mm256_cmpgt_epi32(remainder, threshold));  // + 1 where remainder > threshold
  q = _mm256_min_epi32(_mm256_max_epi32(q, o.lo), o.hi);
  return _mm256_add_epi32(q, o.zp);
}

// 16 codes (int32 lanes already in [−128, 127]) → 16 bytes in unit order.
__m128i Narrow(__m256i v0, __m256i v1) {
  const __m256i words = _mm256_packs_epi32(v0, v1);     // per 128-bit lane: v0[0..3] v1[0..3] | v0[4..7] v1[4..7]
  const __m256i bytes = _mm256_packs_epi16(words, words);  // dwords: v0[0..3] v1[0..3] v0.. v1.. | v0[4..7] v1[4..7] ..
  return _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 0, 0, 0, 0)));
}

// One tile: M rows (a: packed int16 rows of a_stride elements) × the 16 units of panel w from
// unit n0; `valid` of them exist. y points at y[r0][0].
template <int M>
void Tile(const int16_t* a, size_t a_stride, const uint8_t* w, int32_t groups, const Qs8GemmParams& p, int32_t n0,
          int32_t valid, const int32_t* row_bias, const OutputStage& o, int8_t* y) {
  __m256i acc[M][2];
  const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.bias + n0));
  const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.bias + n0 + 8));
#pragma GCC unroll 4
  for (int i = 0; i < M; ++i) {
    acc[i][0] = b0;
    acc[i][1] = b1;
  }
  if (row_bias != nullptr) {
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i) {
      const __m256i r = _mm256_set1_epi32(row_bias[i]);
      acc[i][0] = _mm256_add_epi32(acc[i][0], r);
      acc[i][1] = _mm256_add_epi32(acc[i][1], r);
    }
  }
  for (int32_t g = 0; g < groups; ++g) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32));
    w += 2 * 32;
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i) {
      int32_t pair;
      std::memcpy(&pair, a + static_cast<size_t>(i) * a_stride + static_cast<size_t>(g) * kKr, sizeof(pair));
      const __m256i x = _mm256_set1_epi32(pair);
      acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(x, w0));
      acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(x, w1));
    }
  }
  __m256i mult[2], left[2], right[2];
  for (int h = 0; h < 2; ++h) {
    mult[h] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.multiplier + n0 + 8 * h));
    left[h] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.left_shift + n0 + 8 * h));
    right[h] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.right_shift + n0 + 8 * h));
  }
#pragma GCC unroll 4
  for (int i = 0; i < M; ++i) {
    const __m128i codes = Narrow(Requantize(acc[i][0], mult[0], left[0], right[0], o),
                                 Requantize(acc[i][1], mult[1], left[1], right[1], o));
    int8_t* y_i = y + static_cast<int64_t>(i) * p.units + n0;
    if (valid == kNr) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y_i), codes);
    } else {
      alignas(16) int8_t tmp[16];
      _mm_store_si128(reinterpret_cast<__m128i*>(tmp), codes);
      for (int32_t j = 0; j < valid; ++j) y_i[j] = tmp[j];
    }
  }
}

// a[r][k] = x[r][k] widened to int16, zero past depth up to k_pad.
void PackActivations(const int8_t* x, int32_t rows, int32_t depth, size_t k_pad, int16_t* a) {
  for (int32_t r = 0; r < rows; ++r) {
    const int8_t* xr = x + static_cast<int64_t>(r) * depth;
    int16_t* ar = a + static_cast<size_t>(r) * k_pad;
    int32_t k = 0;
    for (; k + 16 <= depth; k += 16)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(ar + k),
                          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xr + k))));
    if (static_cast<size_t>(k) < k_pad) {  // the last < 16 codes and the zeros up to k_pad (k_pad − k <= 16)
      alignas(16) int8_t tail[16] = {};
      alignas(32) int16_t wide[16];
      std::memcpy(tail, xr + k, static_cast<size_t>(depth - k));
      _mm256_store_si256(reinterpret_cast<__m256i*>(wide), _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(tail))));
      std::memcpy(ar + k, wide, (k_pad - static_cast<size_t>(k)) * sizeof(int16_t));
    }
  }
}

void Tile4x16(const Qs8GemmParams& p, int32_t m, const void* a, size_t k_pad, const void* w, int32_t n0,
              int32_t valid, const int32_t* row_bias, int8_t* y) {
  OutputStage o;
  o.lo = _mm256_set1_epi32(p.act_min - p.zero_point);
  o.hi = _mm256_set1_epi32(p.act_max - p.zero_point);
  o.zp = _mm256_set1_epi32(p.zero_point);
  const auto* a16 = static_cast<const int16_t*>(a);
  const auto* w8 = static_cast<const uint8_t*>(w);
  const auto groups = static_cast<int32_t>(k_pad / kKr);
  switch (m) {
    case 4: Tile<4>(a16, k_pad, w8, groups, p, n0, valid, row_bias, o, y); break;
    case 3: Tile<3>(a16, k_pad, w8, groups, p, n0, valid, row_bias, o, y); break;
    case 2: Tile<2>(a16, k_pad, w8, groups, p, n0, valid, row_bias, o, y); break;
    default: Tile<1>(a16, k_pad, w8, groups, p, n0, valid, row_bias, o, y); break;
  }
}

void Pack(const int8_t* x, int32_t rows, int32_t depth, size_t k_pad, void* a) {
  PackActivations(x, rows, depth, k_pad, static_cast<int16_t*>(a));
}

// pack_columns (x86/pack_columns.h's loop): b [depth][units] → 4x16c2 panels: in panel p, group g, the 16 units' int16 pairs b[2g + i][16p + j]
// at (g·16 + j)·2 + i, by a word interleave of 2 widened rows (per 128-bit lane, then the lanes
// put in unit order); the column sums by vpmaddwd of those pairs with 1s.
struct ColumnPanel {
  int32_t valid;
  __m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
  explicit ColumnPanel(int32_t v) : valid(v) {}
  void Group(const int8_t* const* rows, uint8_t* dst) {
    __m256i r[kKr];
    for (int32_t i = 0; i < kKr; ++i) {
      alignas(16) int8_t row[kNr] = {};
      if (rows[i] != nullptr) std::memcpy(row, rows[i], static_cast<size_t>(valid));
      r[i] = _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(row)));
    }
    // Pairs of units 0–3 | 8–11 and 4–7 | 12–15 (128-bit lanes).
    const __m256i lo = _mm256_unpacklo_epi16(r[0], r[1]), hi = _mm256_unpackhi_epi16(r[0], r[1]);
    const __m256i u0_7 = _mm256_permute2x128_si256(lo, hi, 0x20), u8_15 = _mm256_permute2x128_si256(lo, hi, 0x31);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), u0_7);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 32), u8_15);
    const __m256i ones = _mm256_set1_epi16(1);
    sum0 = _mm256_add_epi32(sum0, _mm256_madd_epi16(u0_7, ones));
    sum1 = _mm256_add_epi32(sum1, _mm256_madd_epi16(u8_15, ones));
  }
  void Finish(int32_t scale, int32_t* col_term) const {
    const __m256i s = _mm256_set1_epi32(scale);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(col_term), _mm256_mullo_epi32(sum0, s));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(col_term + 8), _mm256_mullo_epi32(sum1, s));
  }
};

}  // namespace

const Qs8GemmKernel kQs8Gemm4x16c2Avx2 = {"qs8_gemm_4x16c2__avx2", kMr, kNr, kKr, 2, 0, &Pack, &Tile4x16,
                                          &PackColumnPanels<kNr, kKr, 2, ColumnPanel>, nullptr};

// ---- LAYER_NORM row (rows.h states the contract; the steps are Qs8LayerNormRowAvx512's, 4
// channels a step in int64 lanes, with AVX2's missing 64-bit abs / unsigned compare / min / max
// / narrowing spelled out) ----
namespace {
inline __m256i Neg64(__m256i v, __m256i sign) { return _mm256_sub_epi64(_mm256_xor_si256(v, sign), sign); }  // sign ? −v : v
inline __m256i Select(__m256i if_false, __m256i if_true, __m256i mask) { return _mm256_blendv_epi8(if_false, if_true, mask); }
}  // namespace

namespace {
// kCase: a RequantCase (rows.h).
template <int kCase>
int32_t LayerNormRow256(const ref::LayerNormParams& p, const int8_t* xr, int32_t z, int64_t sum, int32_t up_log2,
                        int64_t root, double inv, int8_t* yr) {
  const int32_t channels = p.channels & ~3;
  const ref::RequantParams& rq = p.requant;
  const bool per_channel = rq.count != 1;
  const __m256i c_count = _mm256_set1_epi64x(p.channels), zv = _mm256_set1_epi64x(z), sumv = _mm256_set1_epi64x(sum);
  const __m128i up_shift = _mm_cvtsi32_si128(up_log2);
  const __m256d up_d = _mm256_set1_pd(static_cast<double>(int64_t{1} << up_log2)), inv_d = _mm256_set1_pd(inv);
  const int64_t half = root / 2;
  const __m256i half_v = _mm256_set1_epi64x(half), root_v = _mm256_set1_epi64x(root);
  const __m256d half_d = _mm256_set1_pd(static_cast<double>(half) * inv);
  const __m256i one = _mm256_set1_epi64x(1), low32 = _mm256_set1_epi64x(0xffffffff), zero = _mm256_setzero_si256();
  const __m256i all = _mm256_set1_epi64x(-1), top = _mm256_set1_epi64x(INT64_MIN);
  const __m256i r31 = _mm256_set1_epi64x(31), r32 = _mm256_set1_epi64x(32), r33 = _mm256_set1_epi64x(33);
  const __m256i pos_limit = _mm256_set1_epi64x((int64_t{1} << 31) - 1), neg_limit = _mm256_set1_epi64x(int64_t{1} << 31);
  const __m256i zp = _mm256_set1_epi64x(rq.zero_point), act_min = _mm256_set1_epi64x(rq.act_min),
                act_max = _mm256_set1_epi64x(rq.act_max);
  const __m256i m_all = _mm256_set1_epi64x(static_cast<uint32_t>(rq.multiplier[0])), sh_all = _mm256_set1_epi64x(rq.shift[0]);
  const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  const __m256i byte0 = _mm256_setr_epi8(0, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
                                         0, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  auto load4 = [](const int32_t* v) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(v)); };
  for (int32_t c = 0; c < channels; c += 4) {
    int32_t x4;
    std::memcpy(&x4, xr + c, 4);
    const __m256i x = _mm256_cvtepi8_epi64(_mm_cvtsi32_si128(x4));
    const __m256i w = _mm256_sub_epi64(_mm256_mul_epi32(_mm256_sub_epi64(x, zv), c_count), sumv);
    const __m256i w_neg = _mm256_cmpgt_epi64(zero, w);
    const __m256i aw = Neg64(w, w_neg);
    const __m128i aw32 = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(aw, even));
    const __m256d est = _mm256_fmadd_pd(_mm256_mul_pd(_mm256_cvtepi32_pd(aw32), up_d), inv_d, half_d);
    __m256i q = _mm256_cvtepu32_epi64(_mm256_cvttpd_epi32(est));
    const __m256i big_n = _mm256_add_epi64(_mm256_sll_epi64(aw, up_shift), half_v);
    const __m256i rem = _mm256_sub_epi64(big_n, _mm256_mul_epu32(q, root_v));
    q = _mm256_add_epi64(q, _mm256_cmpgt_epi64(zero, rem));                                    // rem < 0: − 1
    q = _mm256_sub_epi64(q, _mm256_xor_si256(_mm256_cmpgt_epi64(root_v, rem), all));           // rem >= root: + 1
    const __m256i n = Neg64(q, w_neg);
    const __m256i gamma = _mm256_cvtepi32_epi64(load4(p.gamma_q + c));
    const __m256i beta = _mm256_cvtepi32_epi64(load4(p.beta_q + c));
    const __m256i acc = _mm256_add_epi64(_mm256_mul_epi32(n, gamma), beta);
    const __m256i m = per_channel ? _mm256_cvtepu32_epi64(load4(rq.multiplier + c)) : m_all;
    const __m256i r = _mm256_sub_epi64(r31, per_channel ? _mm256_cvtepi32_epi64(load4(rq.shift + c)) : sh_all);
    const __m256i neg = _mm256_cmpgt_epi64(zero, acc);
    const __m256i a = Neg64(acc, neg);
    const __m256i p_lo = _mm256_mul_epu32(a, m), p_hi = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
    const __m256i hi = _mm256_add_epi64(p_hi, _mm256_srli_epi64(p_lo, 32));
    const __m256i lo = _mm256_and_si256(p_lo, low32);
    const __m256i round_a = _mm256_sllv_epi64(one, _mm256_sub_epi64(r, one));
    const __m256i lo2 = _mm256_add_epi64(lo, round_a);
    const __m256i hi2 = _mm256_add_epi64(hi, _mm256_srli_epi64(lo2, 32));
    const __m256i overflow = _mm256_xor_si256(_mm256_cmpgt_epi64(round_a, hi2), all);  // both < 2^63
    const __m256i q_a = _mm256_add_epi64(_mm256_sllv_epi64(hi2, _mm256_sub_epi64(r32, r)),
                                         _mm256_srlv_epi64(_mm256_and_si256(lo2, low32), r));
    const __m256i q_b = _mm256_srlv_epi64(_mm256_add_epi64(hi, _mm256_sllv_epi64(one, _mm256_sub_epi64(r, r33))),
                                          _mm256_sub_epi64(r, r32));
    const __m256i limit = Select(pos_limit, neg_limit, neg);
    auto min_limit = [&](__m256i q) {  // unsigned min
      return Select(q, limit, _mm256_cmpgt_epi64(_mm256_xor_si256(q, top), _mm256_xor_si256(limit, top)));
    };
    __m256i qq;
    if constexpr (kCase == kPerLane) {
      const __m256i case_a = _mm256_xor_si256(_mm256_cmpgt_epi64(r, r32), all);
      qq = Select(min_limit(Select(q_b, q_a, case_a)), limit, _mm256_and_si256(case_a, overflow));
    } else if constexpr (kCase == kShortShift) {
      qq = Select(min_limit(q_a), limit, overflow);
    } else {
      qq = min_limit(q_b);
    }
    __m256i v = _mm256_add_epi64(Neg64(qq, neg), zp);
    v = Select(v, act_min, _mm256_cmpgt_epi64(act_min, v));
    v = Select(v, act_max, _mm256_cmpgt_epi64(v, act_max));
    const __m256i bytes = _mm256_shuffle_epi8(v, byte0);  // low byte of each lane: bytes 0, 1 of each half
    const auto lo16 = static_cast<uint16_t>(_mm_extract_epi16(_mm256_castsi256_si128(bytes), 0));
    const auto hi16 = static_cast<uint16_t>(_mm_extract_epi16(_mm256_extracti128_si256(bytes, 1), 0));
    const uint32_t out4 = lo16 | (uint32_t{hi16} << 16);
    std::memcpy(yr + c, &out4, 4);
  }
  return channels;
}
}  // namespace

int32_t Qs8LayerNormRowAvx2(const ref::LayerNormParams& p, const int8_t* xr, int32_t z, int64_t sum, int32_t up_log2,
                            int64_t root, double inv, int8_t* yr) {
  if (p.requant.count != 1) return LayerNormRow256<kPerLane>(p, xr, z, sum, up_log2, root, inv, yr);
  if (31 - p.requant.shift[0] <= 32) return LayerNormRow256<kShortShift>(p, xr, z, sum, up_log2, root, inv, yr);
  return LayerNormRow256<kLongShift>(p, xr, z, sum, up_log2, root, inv, yr);
}

}  // namespace squint::rt::x86
