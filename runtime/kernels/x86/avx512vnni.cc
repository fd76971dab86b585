// AVX-512 VNNI kernels (this translation unit and avx512vnni_rows.cc are compiled with -mavx512f
// -mavx512bw -mavx512dq -mavx512vl -mavx512vnni; the runtime calls them only after the CPU check at
// prepare).
//
// qs8_gemm_8x32c4__avx512vnni: y = requant(x·wᵀ + b') (portable/qs8_gemm.h) with a register tile of 8 rows
// × 32 units (two zmm of 16 int32 lanes, one lane per unit) and depth groups of 4 bytes:
// vpdpbusd adds Σ_{i<4} u[k+i]·w[n][k+i] into lane n, u = x + 128 (unsigned), w signed. Products
// are at most 255·128 and the instruction does not saturate (vpdpbusd, not vpdpbusds), so every
// lane holds the exact sum modulo 2^32; the folded bias b' subtracts (z_x + 128)·Σw.
// Also qs8_gemm_32x32c4__amx (below: the same layout on AMX tiles, its functions compiled for
// amx-tile and amx-int8 by attribute), the GEMM's convolution tiles (an implicit GEMM) and the
// depthwise convolution (rows.h); the
// rows of LAYER_NORM, SOFTMAX and ADD / SUB are in avx512vnni_rows.cc.
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

#include "runtime/kernels/portable/qs8_gemm.h"
#include "runtime/kernels/x86/keep_in_registers.h"
#include "runtime/kernels/x86/output_stage.h"
#include "runtime/kernels/x86/pack_columns.h"
#include "runtime/kernels/x86/rows.h"

namespace squint::rt::x86 {

using portable::Qs8GemmKernel;
using portable::Qs8GemmParams;

namespace {

constexpr int32_t kMr = 8, kNr = 32, kKr = 4;


// Requantizes and stores the 16 units [n0 + 16·H, n0 + 16·H + 16) of M rows (`store`: those that exist).
template <int M, int H>
inline __attribute__((always_inline)) void OutputHalf(const __m512i (&acc)[M][2], const Qs8GemmParams& p, int32_t n0,
                                                      __mmask16 store, const OutputStage& o, int8_t* y) {
  const int64_t units = p.units;  // read once: the int8 stores below may alias p
  const int32_t u0 = n0 + 16 * H;
  int8_t* yh = y + u0;
#if !defined(__OPTIMIZE_SIZE__)  // the -Os library (bench/footprint.sh): Requantize alone, 8 KB less
  const __m512 unit_scale = _mm512_loadu_ps(p.float_scale + u0);
  if (_mm512_cmp_ps_mask(unit_scale, _mm512_setzero_ps(), _CMP_EQ_OQ) == 0) {  // every unit in float
    const FloatOutputs f(unit_scale, _mm512_loadu_ps(p.float_delta + u0), o);
    __m512 low;  // the rows' least f per lane
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i) {
      const __m512 u = f.Estimate(acc[i][H]);
      _mm512_mask_cvtsepi32_storeu_epi8(yh + i * units, store, f.Codes(u, o));
      low = i == 0 ? FloatOutputs::Fraction(u) : _mm512_min_ps(low, FloatOutputs::Fraction(u));
    }
    if (f.Near(low, store) == 0) return;  // the usual case
    uint32_t near_rows = 0;
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i)
      near_rows |= static_cast<uint32_t>(f.Near(FloatOutputs::Fraction(f.Estimate(acc[i][H])), store) != 0) << i;
    // Those rows again by Requantize, one copy of it for all (each row's accumulators picked by
    // masked moves: a run-time index, or a call, would put the tile in memory).
    const __m512i mult = _mm512_loadu_si512(p.multiplier + u0), right = _mm512_loadu_si512(p.right_shift + u0);
    for (; near_rows != 0; near_rows &= near_rows - 1) {
      const int r = __builtin_ctz(near_rows);
      __m512i a = acc[0][H];
#pragma GCC unroll 8
      for (int i = 1; i < M; ++i) a = _mm512_mask_mov_epi32(a, r == i ? __mmask16(0xFFFF) : __mmask16(0), acc[i][H]);
      _mm512_mask_cvtepi32_storeu_epi8(yh + r * units, store, Requantize<false>(a, mult, _mm512_setzero_si512(), right, o));
    }
    return;
  }
#endif
  const __m512i mult = _mm512_loadu_si512(p.multiplier + u0);
  const __m512i left = _mm512_loadu_si512(p.left_shift + u0);
  const __m512i right = _mm512_loadu_si512(p.right_shift + u0);
  if (_mm512_test_epi32_mask(left, left) == 0) {  // no left shift in these 16 units
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i)
      _mm512_mask_cvtepi32_storeu_epi8(yh + i * units, store, Requantize<false>(acc[i][H], mult, left, right, o));
    return;
  }
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i)
    _mm512_mask_cvtepi32_storeu_epi8(yh + i * units, store, Requantize(acc[i][H], mult, left, right, o));
}

// Where a tile's rows read: row i's depth runs (segments) of `groups` kr-byte groups each,
// `segment_step` bytes apart. The GEMM's packed rows: one run, row i at a + i·stride.
struct StridedRows {
  static constexpr bool kSegments = false;  // segments = 1
  const uint8_t* a;
  size_t stride;
  const uint8_t* Row(int i) const { return a + static_cast<size_t>(i) * stride; }
  StridedRows From(int i) const { return {Row(i), stride}; }  // rows from row i on
};
// CONV_2D's patch rows in place (portable::Qs8ConvRows): a pointer per row.
struct PointerRows {
  static constexpr bool kSegments = true;
  const uint8_t* r[kMr];
  const uint8_t* Row(int i) const { return r[i]; }
};

// One tile: M rows (see Rows above) × the 32 units of panel w from unit n0; `valid` of them
// exist. y points at y[r0][0].
template <int M, typename Rows>
void Tile(const Rows& rows, int32_t segments, size_t segment_step, int32_t groups, const uint8_t* w,
          const Qs8GemmParams& p, int32_t n0, int32_t valid, const int32_t* row_bias, const OutputStage& o, int8_t* y) {
  __m512i acc[M][2];
  const __m512i b0 = _mm512_loadu_si512(p.bias + n0), b1 = _mm512_loadu_si512(p.bias + n0 + 16);
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) {
    acc[i][0] = b0;
    acc[i][1] = b1;
  }
  if (row_bias != nullptr) {
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i) {
      const __m512i r = _mm512_set1_epi32(row_bias[i]);
      acc[i][0] = _mm512_add_epi32(acc[i][0], r);
      acc[i][1] = _mm512_add_epi32(acc[i][1], r);
    }
  }
  // acc[i][·] += row i's group at `at` times the panel's group at wg.
  auto step = [&](__m512i(&a)[M][2], size_t at, const uint8_t* wg) __attribute__((always_inline)) {
    const __m512i w0 = _mm512_loadu_si512(wg), w1 = _mm512_loadu_si512(wg + 64);
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i) {
      int32_t quad;
      std::memcpy(&quad, rows.Row(i) + at, sizeof(quad));
      const __m512i x = _mm512_set1_epi32(quad);
      a[i][0] = _mm512_dpbusd_epi32(a[i][0], x, w0);
      a[i][1] = _mm512_dpbusd_epi32(a[i][1], x, w1);
    }
  };
  if constexpr (!Rows::kSegments && M < kMr) {
    // Fewer rows than a whole tile: 2·M accumulator chains, each waiting on its vpdpbusd's
    // latency (5 cycles) a group, would issue at most 2·M/5 a cycle. kMr/M depth phases (group
    // g into phase g mod kP, summed at the end; the sums are exact modulo 2^32 in any order)
    // make 16 chains, as a whole tile has: a one-row GEMV 2.5x the speed.
    constexpr int kP = kMr / M;
    __m512i part[kP - 1][M][2];
#pragma GCC unroll 8
    for (int j = 0; j < kP - 1; ++j)
#pragma GCC unroll 8
      for (int i = 0; i < M; ++i) part[j][i][0] = part[j][i][1] = _mm512_setzero_si512();
    int32_t g = 0;
    for (; g + kP <= groups; g += kP) {
      const size_t at = static_cast<size_t>(g) * kKr;
      step(acc, at, w);
#pragma GCC unroll 8
      for (int j = 1; j < kP; ++j) step(part[j - 1], at + static_cast<size_t>(j) * kKr, w + j * 2 * 64);
      w += kP * 2 * 64;
      KeepInRegisters(acc);
#pragma GCC unroll 8
      for (int j = 0; j < kP - 1; ++j) KeepInRegisters(part[j]);
    }
    for (; g < groups; ++g, w += 2 * 64) step(acc, static_cast<size_t>(g) * kKr, w);
#pragma GCC unroll 8
    for (int j = 0; j < kP - 1; ++j)
#pragma GCC unroll 8
      for (int i = 0; i < M; ++i) {
        acc[i][0] = _mm512_add_epi32(acc[i][0], part[j][i][0]);
        acc[i][1] = _mm512_add_epi32(acc[i][1], part[j][i][1]);
      }
  } else {
    int32_t g = 0;
    size_t at = 0;
#if !defined(__OPTIMIZE_SIZE__)  // the -Os library (bench/footprint.sh): the flat loop alone
    if constexpr (!Rows::kSegments) {
      // The GEMM's rows at depth >= 128: 16 groups an iteration (the loop's exit branch, taken
      // wrongly once a tile, predicted right where the loop runs for fewer iterations; 1.5 % more
      // on 197×768×768 and 1024³). Shorter depths measured no better.
      if (groups >= 32) {
        for (; g + 16 <= groups; g += 16) {
#pragma GCC unroll 16
          for (int u = 0; u < 16; ++u, w += 2 * 64, at += kKr) {
            step(acc, at, w);
            KeepInRegisters(acc);
          }
        }
      }
    }
#endif
    // One flat loop over the groups of every segment (nested loops make GCC 12 keep the
    // accumulators in memory): `at` steps kr bytes a group and jumps to the next segment's start.
    const size_t jump = segment_step - static_cast<size_t>(groups) * kKr;
    for (int32_t in_segment = 0, total = segments * groups; g < total; ++g) {
      step(acc, at, w);
      w += 2 * 64;
      KeepInRegisters(acc);
      at += kKr;
      if constexpr (Rows::kSegments) {
        if (++in_segment == groups) in_segment = 0, at += jump;
      }
    }
  }
  // The two halves of the panel with h a constant, so that acc[i][h] stays in registers (a
  // run-time h makes GCC keep the whole array in memory and copy it on every depth step).
  OutputHalf<M, 0>(acc, p, n0, StoreMask(valid), o, y);
  if (valid > 16) OutputHalf<M, 1>(acc, p, n0, StoreMask(valid - 16), o, y);
}

// a[r][k] = x[r][k] + 128 as u8 (the sign bit flipped), zero past depth up to k_pad.
void PackActivations(const int8_t* x, int32_t rows, int32_t depth, size_t k_pad, uint8_t* a) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  if (k_pad == static_cast<size_t>(depth)) {  // no padding: the rows are one run (short rows of attention heads)
    const int64_t n = int64_t{rows} * depth;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) _mm512_storeu_si512(a + i, _mm512_xor_si512(_mm512_loadu_si512(x + i), flip));
    if (i < n) {
      const __mmask64 k = (__mmask64{1} << (n - i)) - 1;
      _mm512_mask_storeu_epi8(a + i, k, _mm512_xor_si512(_mm512_maskz_loadu_epi8(k, x + i), flip));
    }
    return;
  }
  for (int32_t r = 0; r < rows; ++r) {
    const int8_t* xr = x + static_cast<int64_t>(r) * depth;
    uint8_t* ar = a + static_cast<size_t>(r) * k_pad;
    int32_t k = 0;
    for (; k + 64 <= depth; k += 64)
      _mm512_storeu_si512(ar + k, _mm512_xor_si512(_mm512_loadu_si512(xr + k), flip));
    if (static_cast<size_t>(k) < k_pad) {  // the last < 64 codes and the zeros up to k_pad (k_pad − k <= 64)
      const auto n = static_cast<uint32_t>(k_pad - static_cast<size_t>(k));
      const __mmask64 codes = (__mmask64{1} << (depth - k)) - 1;  // depth − k < 64
      const __mmask64 all = n >= 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1;
      const __m512i v = _mm512_xor_si512(_mm512_maskz_loadu_epi8(codes, xr + k), flip);
      _mm512_mask_storeu_epi8(ar + k, all, _mm512_maskz_mov_epi8(codes, v));
    }
  }
}

// Tile<m> for a run-time m in [1, kMr]: whole tiles, or parts of 4, 2 and 1 rows (four
// instantiations instead of eight: 13 KB less library). Partial tiles are the sweep's last tiles
// (left in place: Qs8GemmKernel::tails_in_place) or calls of fewer than kMr rows.
template <typename Rows>
inline __attribute__((always_inline)) void TileOf(int32_t m, const Rows& rows, int32_t segments, size_t segment_step,
                                                  int32_t groups, const uint8_t* w, const Qs8GemmParams& p, int32_t n0,
                                                  int32_t valid, const int32_t* row_bias, const OutputStage& o,
                                                  int8_t* y) {
  if (m == kMr) return Tile<kMr>(rows, segments, segment_step, groups, w, p, n0, valid, row_bias, o, y);
  for (int32_t i = 0; i < m;) {
    const Rows part = rows.From(i);
    const int32_t* rb = row_bias != nullptr ? row_bias + i : nullptr;
    int8_t* yi = y + static_cast<int64_t>(i) * p.units;
    if (m - i >= 4) Tile<4>(part, segments, segment_step, groups, w, p, n0, valid, rb, o, yi), i += 4;
    else if (m - i >= 2) Tile<2>(part, segments, segment_step, groups, w, p, n0, valid, rb, o, yi), i += 2;
    else Tile<1>(part, segments, segment_step, groups, w, p, n0, valid, rb, o, yi), i += 1;
  }
}

// The convolution's 8-row tile, not inlined: inside ConvTiles8x32's loops GCC 12 keeps the
// tile's accumulators in memory.
__attribute__((noinline)) void ConvTile(const PointerRows& rows, int32_t segments, size_t segment_step, int32_t groups,
                                        const uint8_t* w, const Qs8GemmParams& p, int32_t n0, int32_t valid,
                                        const OutputStage& o, int8_t* y) {
  Tile<kMr>(rows, segments, segment_step, groups, w, p, n0, valid, nullptr, o, y);
}

OutputStage MakeOutputStage(const Qs8GemmParams& p) { return MakeOutputStage(p.zero_point, p.act_min, p.act_max); }

void Tile8x32(const Qs8GemmParams& p, int32_t m, const void* a, size_t k_pad, const void* w, int32_t n0,
              int32_t valid, const int32_t* row_bias, int8_t* y) {
  const OutputStage o = MakeOutputStage(p);
  TileOf(m, StridedRows{static_cast<const uint8_t*>(a), k_pad}, 1, 0, static_cast<int32_t>(k_pad / kKr),
         static_cast<const uint8_t*>(w), p, n0, valid, row_bias, o, y);
}

// conv_tiles (qs8_gemm.h): row tiles of 8 output positions, each a pointer into the padded
// image, the last tile moved back to end at the last position (p.rows >= kConvTilesMinRows);
// the panels in chunks that fit the L2 cache, as the GEMM's sweep.
void ConvTiles8x32(const Qs8GemmParams& p, const portable::Qs8ConvRows& r, int8_t* y) {
  constexpr size_t kChunkBytes = size_t{256} * 1024;
  const OutputStage o = MakeOutputStage(p);
  const int32_t panels = (p.units + kNr - 1) / kNr;
  const int32_t chunk = std::max<int32_t>(1, static_cast<int32_t>(kChunkBytes / std::max<size_t>(r.panel_bytes, 1)));
  const auto* weights = static_cast<const uint8_t*>(p.weights);
  const int64_t row_step = int64_t{r.stride_h} * r.pitch, col_step = int64_t{r.stride_w} * r.channels;
  for (int32_t c0 = 0; c0 < panels; c0 += chunk) {
    const int32_t c1 = std::min(panels, c0 + chunk);
    for (int32_t t = 0; t < p.rows; t += kMr) {
      const int32_t r0 = std::min(t, p.rows - kMr);  // the last tile ends at the last row (p.rows >= kMr)
      int32_t oh = r0 / r.out_w, ow = r0 % r.out_w;
      PointerRows rows;
      for (int32_t i = 0; i < kMr; ++i) {
        rows.r[i] = r.image + oh * row_step + ow * col_step;
        if (++ow == r.out_w) ow = 0, ++oh;
      }
      for (int32_t pi = c0; pi < c1; ++pi) {
        const int32_t n0 = pi * kNr;
        ConvTile(rows, r.segments, static_cast<size_t>(r.segment_step), r.segment_groups,
                 weights + static_cast<size_t>(pi) * r.panel_bytes, p, n0, std::min(kNr, p.units - n0), o,
                 y + int64_t{r0} * p.units);
      }
    }
  }
}

void Pack(const int8_t* x, int32_t rows, int32_t depth, size_t k_pad, void* a) {
  PackActivations(x, rows, depth, k_pad, static_cast<uint8_t*>(a));
}

// The row terms scale·Σx + offset as scale·S + RowTermBase(…), S the sum of a row's bytes x + 128
// (modulo 2^32).
int32_t RowTermBase(int32_t scale, int32_t offset, int32_t depth) {
  return static_cast<int32_t>(static_cast<uint32_t>(offset) -
                              static_cast<uint32_t>(scale) * 128u * static_cast<uint32_t>(depth));
}

// sum_rows on rows of 16 or 32 codes (attention heads' depths), eight a step from the rows as one
// run: each row's vpsadbw sums (2 or 4 qwords) added, the eight sums put in order.
void SumShortRows(const int8_t* x, int32_t rows, int32_t depth, int32_t scale, int32_t offset, int32_t* terms) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80)), zero = _mm512_setzero_si512();
  const __m256i s8 = _mm256_set1_epi32(scale), order = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  const __m256i c8 = _mm256_set1_epi32(RowTermBase(scale, offset, depth));
  const int64_t n = int64_t{rows} * depth;
  for (int32_t r0 = 0; r0 < rows; r0 += 8) {
    const int8_t* x0 = x + int64_t{r0} * depth;
    const int64_t left = n - int64_t{r0} * depth;  // bytes from x0 to the end
    auto sad = [&](int32_t j) {  // the vpsadbw sums of bytes [64j, 64j + 64) from x0 (0 past the end)
      const int64_t from = 64 * int64_t{j};
      const __mmask64 k = left - from >= 64 ? ~__mmask64{0} : left > from ? (__mmask64{1} << (left - from)) - 1 : 0;
      return _mm512_sad_epu8(_mm512_maskz_mov_epi8(k, _mm512_xor_si512(_mm512_maskz_loadu_epi8(k, x0 + from), flip)), zero);
    };
    __m512i t;  // qwords: the sums of rows 0, 4, 1, 5, 2, 6, 3, 7 (of this step)
    if (depth == 16) {  // a 128-bit lane: a row
      const __m512i s0 = sad(0), s1 = sad(1);
      t = _mm512_add_epi64(_mm512_unpacklo_epi64(s0, s1), _mm512_unpackhi_epi64(s0, s1));
    } else {  // depth 32: two 128-bit lanes a row
      __m512i a[4];
      for (int32_t j = 0; j < 4; ++j) a[j] = sad(j), a[j] = _mm512_add_epi64(a[j], _mm512_shuffle_epi32(a[j], _MM_PERM_BADC));
      const __m512i ab = _mm512_add_epi64(_mm512_shuffle_i64x2(a[0], a[1], 0x88), _mm512_shuffle_i64x2(a[0], a[1], 0xdd));
      const __m512i cd = _mm512_add_epi64(_mm512_shuffle_i64x2(a[2], a[3], 0x88), _mm512_shuffle_i64x2(a[2], a[3], 0xdd));
      t = _mm512_unpacklo_epi64(ab, cd);
    }
    const __m256i eight = _mm256_permutevar8x32_epi32(_mm512_cvtepi64_epi32(t), order);
    const int32_t count = std::min(rows - r0, 8);
    _mm256_mask_storeu_epi32(terms + r0, static_cast<__mmask8>((1u << count) - 1),
                             _mm256_add_epi32(_mm256_mullo_epi32(eight, s8), c8));
  }
}

// Qs8GemmKernel::sum_rows: per row, 64 codes a step as bytes x + 128 (sign bit flipped) summed by
// vpsadbw into 64-bit lanes, four rows side by side and their lanes reduced at once (|Σ| <=
// 128·depth < 2^31); short rows by SumShortRows.
void SumRows(const int8_t* x, int32_t rows, int32_t depth, int32_t scale, int32_t offset, int32_t* terms) {
  if (depth == 16 || depth == 32) return SumShortRows(x, rows, depth, scale, offset, terms);
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80)), zero = _mm512_setzero_si512();
  const __m128i s4 = _mm_set1_epi32(scale), c4 = _mm_set1_epi32(RowTermBase(scale, offset, depth));
  const int32_t whole = depth / 64 * 64;
  const __mmask64 k = (__mmask64{1} << (depth - whole)) - 1;  // the last depth − whole < 64 codes
  for (int32_t r0 = 0; r0 < rows; r0 += 4) {
    // Four rows (past `rows`: row r0 again, not stored), their steps interleaved.
    const int8_t* xr[4];
    __m512i acc[4];
SQUINT_UNROLL_ROWS(4)
    for (int32_t r = 0; r < 4; ++r) xr[r] = x + static_cast<int64_t>(r0 + r < rows ? r0 + r : r0) * depth, acc[r] = zero;
    for (int32_t i = 0; i < whole; i += 64)
SQUINT_UNROLL_ROWS(4)
      for (int32_t r = 0; r < 4; ++r)
        acc[r] = _mm512_add_epi64(acc[r], _mm512_sad_epu8(_mm512_xor_si512(_mm512_loadu_si512(xr[r] + i), flip), zero));
    if (k != 0)
SQUINT_UNROLL_ROWS(4)
      for (int32_t r = 0; r < 4; ++r) {  // the lanes past the row 0
        const __m512i v = _mm512_maskz_mov_epi8(k, _mm512_xor_si512(_mm512_maskz_loadu_epi8(k, xr[r] + whole), flip));
        acc[r] = _mm512_add_epi64(acc[r], _mm512_sad_epu8(v, zero));
      }
    // 128-bit lane r of t: row r's sum in both qwords.
    const __m512i ab = _mm512_add_epi64(_mm512_shuffle_i64x2(acc[0], acc[1], 0x44), _mm512_shuffle_i64x2(acc[0], acc[1], 0xee));
    const __m512i cd = _mm512_add_epi64(_mm512_shuffle_i64x2(acc[2], acc[3], 0x44), _mm512_shuffle_i64x2(acc[2], acc[3], 0xee));
    __m512i t = _mm512_add_epi64(_mm512_shuffle_i64x2(ab, cd, 0x88), _mm512_shuffle_i64x2(ab, cd, 0xdd));
    t = _mm512_add_epi64(t, _mm512_shuffle_epi32(t, _MM_PERM_BADC));
    const __m128i four =
        _mm256_castsi256_si128(_mm512_cvtepi64_epi32(_mm512_permutexvar_epi64(_mm512_set_epi64(0, 0, 0, 0, 6, 4, 2, 0), t)));
    const int32_t n = std::min(rows - r0, 4);
    _mm_mask_storeu_epi32(terms + r0, static_cast<__mmask8>((1u << n) - 1), _mm_add_epi32(_mm_mullo_epi32(four, s4), c4));
  }
}

// pack_columns (x86/pack_columns.h's loop): b [depth][units] → 8x32c4 panels: in panel p, group g, the 32 units' 4 bytes b[4g + i][32p + j]
// at (g·32 + j)·4 + i, by byte and word interleaves of 4 rows (per 128-bit lane, then the lanes
// put in unit order); the column sums by vpdpbusd of 1s with those signed quads.
struct ColumnPanel {
  __mmask32 k;
  __m512i sum0 = _mm512_setzero_si512(), sum1 = _mm512_setzero_si512();
  explicit ColumnPanel(int32_t valid) : k(valid == kNr ? ~__mmask32{0} : (__mmask32{1} << valid) - 1) {}
  void Group(const int8_t* const* rows, uint8_t* dst) {
    __m256i r[kKr];
    for (int32_t i = 0; i < kKr; ++i) r[i] = rows[i] != nullptr ? _mm256_maskz_loadu_epi8(k, rows[i]) : _mm256_setzero_si256();
    const __m256i lo01 = _mm256_unpacklo_epi8(r[0], r[1]), hi01 = _mm256_unpackhi_epi8(r[0], r[1]);
    const __m256i lo23 = _mm256_unpacklo_epi8(r[2], r[3]), hi23 = _mm256_unpackhi_epi8(r[2], r[3]);
    // Quads of units 0–3 | 16–19, 4–7 | 20–23, 8–11 | 24–27, 12–15 | 28–31 (128-bit lanes).
    const __m256i q0 = _mm256_unpacklo_epi16(lo01, lo23), q1 = _mm256_unpackhi_epi16(lo01, lo23);
    const __m256i q2 = _mm256_unpacklo_epi16(hi01, hi23), q3 = _mm256_unpackhi_epi16(hi01, hi23);
    const __m512i u0_15 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_permute2x128_si256(q0, q1, 0x20)),
                                             _mm256_permute2x128_si256(q2, q3, 0x20), 1);
    const __m512i u16_31 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_permute2x128_si256(q0, q1, 0x31)),
                                              _mm256_permute2x128_si256(q2, q3, 0x31), 1);
    _mm512_storeu_si512(dst, u0_15);
    _mm512_storeu_si512(dst + 64, u16_31);
    const __m512i ones = _mm512_set1_epi8(1);
    sum0 = _mm512_dpbusd_epi32(sum0, ones, u0_15);
    sum1 = _mm512_dpbusd_epi32(sum1, ones, u16_31);
  }
  void Finish(int32_t scale, int32_t* col_term) const {
    const __m512i s = _mm512_set1_epi32(scale);
    _mm512_storeu_si512(col_term, _mm512_mullo_epi32(sum0, s));
    _mm512_storeu_si512(col_term + 16, _mm512_mullo_epi32(sum1, s));
  }
};

}  // namespace

const Qs8GemmKernel kQs8Gemm8x32c4Avx512Vnni = {"qs8_gemm_8x32c4__avx512vnni", kMr, kNr, kKr, 1, 128, &Pack,
                                                 &Tile8x32, &PackColumnPanels<kNr, kKr, 1, ColumnPanel>,
                                                 &ConvTiles8x32, nullptr, &SumRows, true};

// ---- qs8_gemm_32x32c4__amx ----
// The same layout and math as the VNNI kernel (packed rows u = x + 128, panels of 32 units in
// groups of 4 bytes, folded bias), on AMX tiles: a group row of a panel is 128 bytes, units 0–15
// then 16–31, so 16 groups of one half are a B tile of 16 rows × 64 bytes at stride 128, and 16
// packed rows × 64 bytes of depth an A tile at stride k_pad. TDPBUSD adds Σ u·w over 4 bytes into
// each int32 of C (u unsigned, w signed, no saturation: the exact sum modulo 2^32, as vpdpbusd).
// Tiles: C 0–3 (rows 0–15 / 16–31 × units 0–15 / 16–31), A 4–5, B 6–7, each 64 bytes wide; a
// row tile of m rows configures its A and C tiles to min(m, 16) and m − 16 rows, so no tile reads
// past the scratch's row m and a short tile's products cost its rows. Depth steps of 64 bytes;
// the last step's depth past k_pad comes from zeroed copies on the stack (a panel ends at group
// k_pad/4). C goes to the stack and through the VNNI kernel's requantization with the folded
// bias and row bias.
namespace {

constexpr int32_t kAmxMr = 32, kAmxVnniRows = 4;

struct alignas(64) AmxTileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// `rows` (<= 16) packed rows from `a` (k_pad apart), depth bytes [k, k + bytes) and zeros past
// them, as the first rows of a 64-byte-wide block.
void CopyRows(const uint8_t* a, size_t k_pad, int32_t rows, size_t k, size_t bytes, uint8_t (*block)[64]) {
  const __mmask64 keep = bytes >= 64 ? ~__mmask64{0} : (__mmask64{1} << bytes) - 1;
  for (int32_t i = 0; i < rows; ++i)
    _mm512_store_si512(block[i], _mm512_maskz_loadu_epi8(keep, a + static_cast<size_t>(i) * k_pad + k));
}

// Tiles 0, 1 and 4 (C rows 0–15, A rows 0–15) get m0 rows, tiles 2, 3 and 5 (rows 16–31) m1, the B
// tiles 16: a tile product then costs its rows, and a tile load reads no row past m.
__attribute__((target("amx-tile,amx-int8"))) void ConfigureAmx(int32_t m0, int32_t m1) {
  AmxTileConfig cfg;
  for (int32_t t = 0; t < 8; ++t) cfg.colsb[t] = 64;
  cfg.rows[0] = cfg.rows[1] = cfg.rows[4] = static_cast<uint8_t>(m0);
  cfg.rows[2] = cfg.rows[3] = cfg.rows[5] = static_cast<uint8_t>(m1 > 0 ? m1 : 16);
  cfg.rows[6] = cfg.rows[7] = 16;
  asm volatile("" ::: "memory");  // the config's bytes are written before ldtilecfg reads them
  _tile_loadconfig(&cfg);
}

// The row tile's zero-padded copies of partial A blocks and of the panel's last depth step.
struct AmxCopies {
  alignas(64) uint8_t a[2][16][64];
  alignas(64) uint8_t b[16][128];
};

// A panel's int32 block (32 units from n0, of which `valid` exist; rows [0, m)) waiting for its
// requantization.
struct AmxBlock {
  const int32_t (*c)[32] = nullptr;
  int32_t m = 0, n0 = 0, valid = 0;
};

// Requantizes rows [first, last) of block b into y (rows p.units apart).
inline void OutputAmx(const Qs8GemmParams& p, const AmxBlock& b, int32_t first, int32_t last,
                      const int32_t* row_bias, int8_t* y) {
  const OutputStage o = MakeOutputStage(p);
  const int64_t units = p.units;  // read once: the int8 stores below may alias p
  for (int32_t h = 0; h < 2 && 16 * h < b.valid; ++h) {
    const int32_t u0 = b.n0 + 16 * h;
    const __m512i bias = _mm512_loadu_si512(p.bias + u0), mult = _mm512_loadu_si512(p.multiplier + u0);
    const __m512i left = _mm512_loadu_si512(p.left_shift + u0), right = _mm512_loadu_si512(p.right_shift + u0);
    const __mmask16 store = StoreMask(b.valid - 16 * h);
    const bool no_left = _mm512_test_epi32_mask(left, left) == 0;
    for (int32_t i = first; i < last; ++i) {
      __m512i acc = _mm512_add_epi32(_mm512_load_si512(b.c[i] + 16 * h), bias);
      if (row_bias != nullptr) acc = _mm512_add_epi32(acc, _mm512_set1_epi32(row_bias[i]));
      const __m512i q = no_left ? Requantize<false>(acc, mult, left, right, o) : Requantize(acc, mult, left, right, o);
      _mm512_mask_cvtepi32_storeu_epi8(y + i * units + u0, store, q);
    }
  }
}

// Issues the tile products of rows [0, m) (4 < m <= 32) × the panel `w` into C tiles 0–3 (the
// tiles configured by ConfigureAmx); StoreAmx writes them out. Between the depth steps it
// requantizes the previous panel's block `prev` (if any), a share of its rows a step, so that the
// vector work runs while the tile unit computes (placed after all the tile products it would wait
// behind them in the reorder buffer).
__attribute__((target("amx-tile,amx-int8"))) inline void IssueAmx(const Qs8GemmParams& p, int32_t m, const uint8_t* a,
                                                                  size_t k_pad, const uint8_t* w, AmxCopies* copies,
                                                                  const AmxBlock& prev, const int32_t* row_bias,
                                                                  int8_t* y) {
  const int32_t steps = static_cast<int32_t>((k_pad + 63) / 64);
  const int32_t share = (prev.m + steps - 1) / steps;
  int32_t done = 0;
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  const bool two = m > 16;
  const int32_t m0 = std::min(m, 16), m1 = m - m0;
  const size_t full = k_pad / 64 * 64;
  for (size_t k = 0; k < k_pad; k += 64) {
    const size_t bytes = std::min<size_t>(64, k_pad - k);
    const uint8_t *a0 = a + k, *a1 = two ? a + 16 * k_pad + k : a0, *b = w + k * 32;
    size_t a0_stride = k_pad, a1_stride = k_pad;
    if (k >= full) CopyRows(a, k_pad, m0, k, bytes, copies->a[0]), a0 = copies->a[0][0], a0_stride = 64;
    if (two && k >= full) CopyRows(a + 16 * k_pad, k_pad, m1, k, bytes, copies->a[1]), a1 = copies->a[1][0], a1_stride = 64;
    if (k >= full) {  // the panel's last groups, then zero rows
      for (size_t g = 0; g < 16; ++g) {
        const bool in = g < bytes / 4;
        _mm512_store_si512(copies->b[g], in ? _mm512_loadu_si512(b + g * 128) : _mm512_setzero_si512());
        _mm512_store_si512(copies->b[g] + 64, in ? _mm512_loadu_si512(b + g * 128 + 64) : _mm512_setzero_si512());
      }
      b = copies->b[0];
    }
    asm volatile("" ::: "memory");  // the copies are written before the tile loads read them
    _tile_loadd(4, a0, a0_stride);
    _tile_loadd(6, b, 128);
    _tile_loadd(7, b + 64, 128);
    _tile_dpbusd(0, 4, 6);
    _tile_dpbusd(1, 4, 7);
    if (two) {
      _tile_loadd(5, a1, a1_stride);
      _tile_dpbusd(2, 5, 6);
      _tile_dpbusd(3, 5, 7);
    }
    if (done < prev.m) {
      const int32_t next = std::min(prev.m, done + share);
      OutputAmx(p, prev, done, next, row_bias, y);
      done = next;
    }
  }
}

__attribute__((target("amx-tile,amx-int8"))) inline void StoreAmx(int32_t m, int32_t (*c)[32]) {
  _tile_stored(0, c[0], 128);
  _tile_stored(1, c[0] + 16, 128);
  if (m > 16) {
    _tile_stored(2, c[16], 128);
    _tile_stored(3, c[16] + 16, 128);
  }
}

// Rows [0, m) × `panels` panels from unit n0 (panel_bytes apart), each panel's `valid` units
// derived from p.units: the tiles configured once, each panel's requantization run between the next
// panel's depth steps (IssueAmx). A few rows use a sliver of the 16-row tiles while every B tile
// still streams in: the VNNI tile is faster there (1×768×768: 90 against 56 GMAC/s,
// docs/benchmarks.md).
__attribute__((target("amx-tile,amx-int8"))) void PanelsAmx32x32(const Qs8GemmParams& p, int32_t m, const void* a_v,
                                                                   size_t k_pad, const void* w_v, size_t panel_bytes,
                                                                   int32_t n0, int32_t panels, const int32_t* row_bias,
                                                                   int8_t* y) {
  const auto* a = static_cast<const uint8_t*>(a_v);
  const auto* w = static_cast<const uint8_t*>(w_v);
  auto valid_of = [&p](int32_t n) { return p.units - n < kNr ? p.units - n : kNr; };
  if (m <= kAmxVnniRows) {
    for (int32_t j = 0; j < panels; ++j)
      Tile8x32(p, m, a, k_pad, w + j * panel_bytes, n0 + j * kNr, valid_of(n0 + j * kNr), row_bias, y);
    return;
  }
  ConfigureAmx(std::min(m, 16), m - std::min(m, 16));
  AmxCopies copies;
  alignas(64) int32_t c[2][kAmxMr][32];
  AmxBlock prev;
  for (int32_t j = 0; j < panels; ++j) {
    IssueAmx(p, m, a, k_pad, w + j * panel_bytes, &copies, prev, row_bias, y);
    StoreAmx(m, c[j & 1]);
    const int32_t n = n0 + j * kNr;
    prev = AmxBlock{c[j & 1], m, n, valid_of(n)};
  }
  _tile_release();
  OutputAmx(p, prev, 0, m, row_bias, y);
}

// One panel (the kernel's `tile`; its `valid` is the one PanelsAmx32x32 derives from p.units).
void TileAmx32x32(const Qs8GemmParams& p, int32_t m, const void* a, size_t k_pad, const void* w, int32_t n0,
                  int32_t /*valid*/, const int32_t* row_bias, int8_t* y) {
  PanelsAmx32x32(p, m, a, k_pad, w, 0, n0, 1, row_bias, y);
}

}  // namespace

// The convolutions whose patch rows are read in place keep the VNNI tiles (ConvTiles8x32).
const Qs8GemmKernel kQs8Gemm32x32c4Amx = {"qs8_gemm_32x32c4__amx", kAmxMr, kNr, kKr, 1, 128, &Pack,
                                           &TileAmx32x32, &PackColumnPanels<kNr, kKr, 1, ColumnPanel>,
                                           &ConvTiles8x32, &PanelsAmx32x32, &SumRows};

// ---- depthwise CONV_2D, channels last (rows.h states the contract) ----
// 16 channels a step in int32 lanes: acc = bias + Σ (x − z_x)·w over the taps inside the image
// (exact: prepare bounds |acc| < 2^31), then the GEMM's Requantize (the int32 reference's).
void Qs8DepthwiseChannelsLastAvx512(const ref::Conv2DParams& p, const int8_t* xt, const int32_t* wt,
                                    const int32_t* bias, int8_t* yt) {
  const int32_t channels = p.out_channels, cpad = (channels + 15) / 16 * 16;
  const int32_t in_h = p.in_h, in_w = p.in_w, out_h = p.out_h, out_w = p.out_w, kernel_h = p.kernel_h,
                kernel_w = p.kernel_w, stride_h = p.stride_h, stride_w = p.stride_w, dilation_h = p.dilation_h,
                dilation_w = p.dilation_w, pad_top = p.pad_top, pad_left = p.pad_left;
  const ref::RequantParams& rq = p.requant;
  const __m512i zx = _mm512_set1_epi32(p.input_zero_point), zero = _mm512_setzero_si512();
  const OutputStage o = MakeOutputStage(rq);
  // Taps [lo, hi) of one axis inside the image: position o0 + t·dilation in [0, size).
  auto inside = [](int64_t o0, int32_t kernel, int32_t dilation, int32_t size, int32_t* lo, int32_t* hi) {
    *lo = 0, *hi = kernel;
    while (*lo < *hi && o0 + int64_t{*lo} * dilation < 0) ++*lo;
    while (*hi > *lo && o0 + int64_t{*hi - 1} * dilation >= size) --*hi;
  };
  for (int32_t c0 = 0; c0 < channels; c0 += 16) {
    const __mmask16 k = StoreMask(channels - c0);
    const __m512i b = bias != nullptr ? _mm512_maskz_loadu_epi32(k, bias + c0) : zero;
    __m512i mult = _mm512_set1_epi32(rq.multiplier[0]), shift = _mm512_set1_epi32(rq.shift[0]);
    if (rq.count != 1) mult = _mm512_maskz_loadu_epi32(k, rq.multiplier + c0), shift = _mm512_maskz_loadu_epi32(k, rq.shift + c0);
    const __m512i left = _mm512_max_epi32(shift, zero), right = _mm512_max_epi32(_mm512_sub_epi32(zero, shift), zero);
    // (x − z_x)·w of one tap at input position `at` (ih·in_w + iw): one vpmaddwd (a single uop,
    // against vpmulld's two), whose lane sums x_lo·w_lo + x_hi·w_hi with w_hi = 0 (the weights'
    // contract) and x_lo = x − z_x as int16 (|x − z_x| <= 255), so exactly (x − z_x)·w.
    auto tap = [&](__m512i w, int64_t at) {
      const __m512i x = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(k, xt + at * channels + c0));
      return _mm512_madd_epi16(_mm512_sub_epi32(x, zx), w);
    };
    // A 3×3 kernel with dilation 1: its nine weight vectors held in registers, and the output
    // positions whose nine taps are all inside the image summed unrolled (the same int32 sum
    // modulo 2^32 in another order: exact, as prepare bounds |acc| < 2^31).
    const bool k3 = kernel_h == 3 && kernel_w == 3 && dilation_h == 1 && dilation_w == 1;
    __m512i w3[9];
#pragma GCC unroll 9
    for (int32_t t = 0; t < 9; ++t) w3[t] = k3 ? _mm512_loadu_si512(wt + int64_t{t} * cpad + c0) : zero;
    // Output columns [ow_lo, ow_hi) have all three kernel columns inside the image.
    const int64_t ow_lo = (int64_t{pad_left} + stride_w - 1) / stride_w;
    const int64_t last_iw = int64_t{in_w} - 3 + pad_left;  // ow·stride_w <= last_iw
    const int64_t ow_hi = last_iw < 0 ? 0 : std::min<int64_t>(out_w, last_iw / stride_w + 1);
    for (int32_t oh = 0; oh < out_h; ++oh) {
      const int64_t ih0 = int64_t{oh} * stride_h - pad_top;
      int32_t kh_lo, kh_hi;
      inside(ih0, kernel_h, dilation_h, in_h, &kh_lo, &kh_hi);
      const bool rows_inside = k3 && kh_lo == 0 && kh_hi == 3;
      for (int32_t ow = 0; ow < out_w; ++ow) {
        const int64_t iw0 = int64_t{ow} * stride_w - pad_left;
        if (rows_inside && ow >= ow_lo && ow < ow_hi) {
          const int64_t at = ih0 * in_w + iw0;
          __m512i r0 = _mm512_add_epi32(_mm512_add_epi32(b, tap(w3[0], at)), _mm512_add_epi32(tap(w3[1], at + 1), tap(w3[2], at + 2)));
          __m512i r1 = _mm512_add_epi32(tap(w3[3], at + in_w), _mm512_add_epi32(tap(w3[4], at + in_w + 1), tap(w3[5], at + in_w + 2)));
          __m512i r2 = _mm512_add_epi32(tap(w3[6], at + 2 * in_w),
                                        _mm512_add_epi32(tap(w3[7], at + 2 * in_w + 1), tap(w3[8], at + 2 * in_w + 2)));
          const __m512i acc = _mm512_add_epi32(r0, _mm512_add_epi32(r1, r2));
          _mm_mask_storeu_epi8(yt + (int64_t{oh} * out_w + ow) * channels + c0, k,
                               _mm512_cvtepi32_epi8(Requantize(acc, mult, left, right, o)));
          continue;
        }
        int32_t kw_lo, kw_hi;
        inside(iw0, kernel_w, dilation_w, in_w, &kw_lo, &kw_hi);
        __m512i acc = b;
        for (int32_t kh = kh_lo; kh < kh_hi; ++kh) {
          const int64_t at = (ih0 + int64_t{kh} * dilation_h) * in_w + iw0;
          const int32_t* w_row = wt + int64_t{kh} * kernel_w * cpad + c0;
          for (int32_t kw = kw_lo; kw < kw_hi; ++kw)
            acc = _mm512_add_epi32(acc, tap(_mm512_loadu_si512(w_row + int64_t{kw} * cpad), at + int64_t{kw} * dilation_w));
        }
        _mm_mask_storeu_epi8(yt + (int64_t{oh} * out_w + ow) * channels + c0, k,
                             _mm512_cvtepi32_epi8(Requantize(acc, mult, left, right, o)));
      }
    }
  }
}

namespace {
// PairsChannelAvx512's sums (rows.h): blocks of 32 output columns in row-major order, two at a
// time (across row ends), each in two accumulators a and b. Output o's taps of kernel row kh and
// weight pair q are the plane's int16 pair at column s·o + 2q (s = stride_w), the dword there,
// multiplied by wv[kh·np + q] = (w[kh][2q], w[kh][2q + 1]) as int16 pairs broadcast (w[kh][kernel_w]
// = 0 for an odd kernel_w); off[t] = kh·pitch + 2q. Stride 1: a block from column c holds the even
// outputs c + 2i in a (lane i's dword from plane column c + 2q + 2i) and the odd ones in b (from
// c + 2q + 1 + 2i), its codes interleaved back by bytes. Stride 2: a holds outputs c + i (dwords
// from 2c + 2q + 2i), b outputs c + 16 + i (from 2c + 32 + 2q + 2i). The loads are whole vectors: a
// row's last block reads past out_w into the next row, the last row's into the plane's slack, in
// lanes whose outputs are not stored.
void PairsBlocks(const ref::Conv2DParams& p, const int16_t* plane, int64_t pitch, const __m512i* wv,
                 const int64_t* off, int32_t taps, __m512i b, __m512i mult, __m512i left, __m512i right,
                 const OutputStage& o, int8_t* yc) {
  const bool shifts_left = _mm512_test_epi32_mask(left, left) != 0;  // (rare: one loop, a branch)
  // The fields in locals: the byte stores may alias p for the compiler.
  const int32_t out_w = p.out_w, out_h = p.out_h, stride_w = p.stride_w;
  const int64_t row_step = int64_t{p.stride_h} * pitch, b_at = stride_w == 1 ? 1 : 32;
  const bool interleave = stride_w == 1;
  auto code = [&](__m512i acc) {
    return _mm512_cvtepi32_epi8(shifts_left ? Requantize<true>(acc, mult, left, right, o)
                                            : Requantize<false>(acc, mult, left, right, o));
  };
  int32_t oh = 0, ow = 0;  // the next block's first output
  while (oh < out_h) {
    const int16_t* at[2];
    int8_t* y[2];
    __mmask32 k[2];
    __m512i acc_a[2], acc_b[2];
#pragma GCC unroll 2
    for (int32_t i = 0; i < 2; ++i) {  // (unrolled: the arrays stay in registers)
      acc_a[i] = b, acc_b[i] = b;
      const bool past = oh == out_h;  // past the last block (i = 1): the one before again, not stored
      at[i] = past ? at[0] : plane + oh * row_step + int64_t{ow} * stride_w;
      y[i] = past ? y[0] : yc + int64_t{oh} * out_w + ow;
      const int32_t n = std::min(out_w - ow, 32);
      k[i] = past ? __mmask32{0} : static_cast<__mmask32>(n == 32 ? ~0u : (1u << n) - 1u);
      if (!past && (ow += 32) >= out_w) ow = 0, ++oh;
    }
    for (int32_t t = 0; t < taps; ++t) {
      const __m512i w = wv[t];
#pragma GCC unroll 2
      for (int32_t i = 0; i < 2; ++i) {
        const int16_t* r = at[i] + off[t];
        acc_a[i] = _mm512_dpwssd_epi32(acc_a[i], _mm512_loadu_si512(r), w);
        acc_b[i] = _mm512_dpwssd_epi32(acc_b[i], _mm512_loadu_si512(r + b_at), w);
      }
    }
#pragma GCC unroll 2
    for (int32_t i = 0; i < 2; ++i) {
      const __m128i e = code(acc_a[i]), d = code(acc_b[i]);
      _mm_mask_storeu_epi8(y[i], static_cast<__mmask16>(k[i]), interleave ? _mm_unpacklo_epi8(e, d) : e);
      _mm_mask_storeu_epi8(y[i] + 16, static_cast<__mmask16>(k[i] >> 16), interleave ? _mm_unpackhi_epi8(e, d) : d);
    }
  }
}
}  // namespace

void PadPlaneAvx512(const ref::Conv2DParams& p, const int8_t* xc, int64_t rows, int64_t pitch, int16_t* plane) {
  const int64_t in_h = p.in_h, in_w = p.in_w, pad_top = p.pad_top, pad_left = p.pad_left;
  const __m512i z = _mm512_set1_epi16(static_cast<int16_t>(p.input_zero_point));
  // The columns [j, j + 32) inside the input row (input column j + e − pad_left in [0, in_w)), and
  // those inside the padded row (j + e < pitch), as masks.
  auto inside = [&](int64_t j) {
    const int64_t lo = std::max<int64_t>(0, pad_left - j), hi = std::min<int64_t>({32, in_w + pad_left - j, pitch - j});
    return hi <= lo ? __mmask32{0} : static_cast<__mmask32>(((uint64_t{1} << hi) - 1u) & ~((uint64_t{1} << lo) - 1u));
  };
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t ih = i - pad_top;
    const bool empty = ih < 0 || ih >= in_h;
    const int8_t* xr = xc + (empty ? 0 : ih) * in_w - pad_left;  // masked loads: no lane outside the row is read
    int16_t* pr = plane + i * pitch;
    for (int64_t j = 0; j < pitch; j += 32) {
      const int64_t n = std::min<int64_t>(pitch - j, 32);
      const auto k = static_cast<__mmask32>(n == 32 ? ~0u : (1u << n) - 1u);
      const __mmask32 e = empty ? __mmask32{0} : inside(j);
      _mm512_mask_storeu_epi16(pr + j, k,
                               _mm512_maskz_sub_epi16(e, _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(e, xr + j)), z));
    }
  }
}

void PairsChannelAvx512(const ref::Conv2DParams& p, const int16_t* plane, int64_t pitch, const int8_t* wc,
                        int32_t bias, int32_t multiplier, int32_t shift, int8_t* yc) {
  const int32_t np = (p.kernel_w + 1) / 2, taps = p.kernel_h * np;
  __m512i wv[kPairsMaxWeights];
  int64_t off[kPairsMaxWeights];
  for (int32_t kh = 0; kh < p.kernel_h; ++kh)
    for (int32_t q = 0; q < np; ++q) {
      const int32_t kw = 2 * q;
      const auto lo = static_cast<uint16_t>(int16_t{wc[kh * p.kernel_w + kw]});
      const auto hi = static_cast<uint16_t>(kw + 1 < p.kernel_w ? int16_t{wc[kh * p.kernel_w + kw + 1]} : int16_t{0});
      wv[kh * np + q] = _mm512_set1_epi32(static_cast<int32_t>(lo | (uint32_t{hi} << 16)));
      off[kh * np + q] = kh * pitch + kw;
    }
  const OutputStage o = MakeOutputStage(p.requant);
  const __m512i b = _mm512_set1_epi32(bias), mult = _mm512_set1_epi32(multiplier);
  const __m512i left = _mm512_set1_epi32(shift > 0 ? shift : 0), right = _mm512_set1_epi32(shift > 0 ? 0 : -shift);
  PairsBlocks(p, plane, pitch, wv, off, taps, b, mult, left, right, o, yc);
}

namespace {
// Qs16AddSubAvx512's loop; kLeft = false when no requantization of the three has a left shift
// (the usual case: Requantize without its saturating left shift, the same codes).
template <bool kLeft>
void AddSub16(const ref::ElementwiseParams& p, int32_t sign, int64_t n, const int16_t* a, const int16_t* b, int16_t* y) {
  // The inputs' requantizations keep their int32 result (no zero point, no clamp); the output's
  // clamps to the activation range and adds the zero point.
  OutputStage none = MakeOutputStage(0, 0, 0);  // Requantize's fields: no clamp, no zero point
  none.lo = _mm512_set1_epi32(INT32_MIN), none.hi = _mm512_set1_epi32(INT32_MAX);
  const OutputStage o = MakeOutputStage(p.output);
  auto constants = [](int32_t multiplier, int32_t shift, __m512i* m, __m512i* left, __m512i* right) {
    *m = _mm512_set1_epi32(multiplier);
    *left = _mm512_set1_epi32(shift > 0 ? shift : 0);
    *right = _mm512_set1_epi32(shift > 0 ? 0 : -shift);
  };
  __m512i am, al, ar, bm, bl, br, om, ol, orr;
  constants(p.a_multiplier, p.a_shift, &am, &al, &ar);
  constants(p.b_multiplier, p.b_shift, &bm, &bl, &br);
  constants(p.output.multiplier[0], p.output.shift[0], &om, &ol, &orr);
  const __m512i za = _mm512_set1_epi32(p.a_zero_point), zb = _mm512_set1_epi32(p.b_zero_point);
  // (x − z)·2^left_shift: |x − z| < 2^16 and left_shift <= 15 (prepare), so the shift is the product.
  const __m512i input_left = _mm512_set1_epi32(p.left_shift);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = StoreMask(static_cast<int32_t>(std::min<int64_t>(n - i, 16)));
    const __m512i av = _mm512_sllv_epi32(_mm512_sub_epi32(_mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(k, a + i)), za), input_left);
    const __m512i bv = _mm512_sllv_epi32(_mm512_sub_epi32(_mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(k, b + i)), zb), input_left);
    const __m512i as = Requantize<kLeft>(av, am, al, ar, none), bs = Requantize<kLeft>(bv, bm, bl, br, none);
    // The reference clamps the int64 sum to int32 (reached only when both are ±2^30): lanes whose
    // int32 sum wrapped take the bound of as's sign.
    const __m512i sum = sign > 0 ? _mm512_add_epi32(as, bs) : _mm512_sub_epi32(as, bs);
    const __m512i other = sign > 0 ? _mm512_xor_si512(bs, sum) : _mm512_xor_si512(as, bs);
    const __mmask16 wrapped =
        _mm512_cmplt_epi32_mask(_mm512_and_si512(_mm512_xor_si512(as, sum), other), _mm512_setzero_si512());
    const __m512i bound = _mm512_xor_si512(_mm512_srai_epi32(as, 31), _mm512_set1_epi32(INT32_MAX));
    const __m512i total = _mm512_mask_mov_epi32(sum, wrapped, bound);
    _mm256_mask_storeu_epi16(y + i, k, _mm512_cvtepi32_epi16(Requantize<kLeft>(total, om, ol, orr, o)));
  }
}
}  // namespace

void Qs16AddSubAvx512(const ref::ElementwiseParams& p, int32_t sign, int64_t n, const int16_t* a, const int16_t* b,
                      int16_t* y) {
#if !defined(__OPTIMIZE_SIZE__)  // the -Os library (bench/footprint.sh): the general loop alone
  if (p.a_shift <= 0 && p.b_shift <= 0 && p.output.shift[0] <= 0) return AddSub16<false>(p, sign, n, a, b, y);
#endif
  AddSub16<true>(p, sign, n, a, b, y);
}

// REQUANTIZE's float path from this right shift on: about 2^−r of the lanes are near a boundary
// (δ ≈ 2^−(r+1)), so a 16-lane step falls back to Requantize about 16·2^−r of the time (a speed
// choice; int16 → int8 requantizations have r of 7 or 8).
constexpr int32_t kRequantizeFloatMinShift = 6;

void Qs16RequantizeAvx512(const ref::RescaleParams& p, int64_t n, const int16_t* x, void* y, int32_t out_bytes) {
  const OutputStage o = MakeOutputStage(p.output_zero_point, p.act_min, p.act_max);
  const __m512i m = _mm512_set1_epi32(p.multiplier), z = _mm512_set1_epi32(p.input_zero_point);
  const __m512i left = _mm512_set1_epi32(p.shift > 0 ? p.shift : 0), right = _mm512_set1_epi32(p.shift > 0 ? 0 : -p.shift);
#if !defined(__OPTIMIZE_SIZE__)  // the -Os library (bench/footprint.sh): Requantize alone
  const int32_t r = p.shift > 0 ? 0 : -p.shift;
  if (out_bytes == 1 && p.shift <= 0 && r >= kRequantizeFloatMinShift && r <= 31) {
    // 8-bit codes from int16 inputs in float where float decides them, as the GEMM's output stage
    // (FloatOutputs states the bound; |x − z| < 2^17 keeps |e| < 2^17 at any r, so r needs no
    // floor of 8 here), the 16 lanes with one near a rounding boundary by Requantize. Codes clamps
    // to a range narrower than int8's (a uint8 range among them), which the truncating store then
    // keeps; the int8 range is the saturating store's.
    const FloatOutputs f(_mm512_set1_ps(portable::Qs8FloatOutputScale(p.multiplier, r)),
                         _mm512_set1_ps(portable::Qs8FloatOutputDelta(r)), o);
    auto* y8 = static_cast<int8_t*>(y);
    for (int64_t i = 0; i < n; i += 16) {
      const __mmask16 k = StoreMask(static_cast<int32_t>(std::min<int64_t>(n - i, 16)));
      const __m512i v = _mm512_sub_epi32(_mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(k, x + i)), z);
      const __m512 u = f.Estimate(v);
      const __m512i code = f.Codes(u, o);
      if (f.Near(FloatOutputs::Fraction(u), k) != 0) {
        _mm_mask_storeu_epi8(y8 + i, k, _mm512_cvtepi32_epi8(Requantize<false>(v, m, left, right, o)));
      } else if (o.full) {
        _mm512_mask_cvtsepi32_storeu_epi8(y8 + i, k, code);
      } else {
        _mm512_mask_cvtepi32_storeu_epi8(y8 + i, k, code);
      }
    }
    return;
  }
#endif
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = StoreMask(static_cast<int32_t>(std::min<int64_t>(n - i, 16)));
    const __m512i v = _mm512_sub_epi32(_mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(k, x + i)), z);
    const __m512i code = Requantize<true>(v, m, left, right, o);
    if (out_bytes == 2) _mm256_mask_storeu_epi16(static_cast<int16_t*>(y) + i, k, _mm512_cvtepi32_epi16(code));
    else _mm_mask_storeu_epi8(static_cast<int8_t*>(y) + i, k, _mm512_cvtepi32_epi8(code));
  }
}

}  // namespace squint::rt::x86
