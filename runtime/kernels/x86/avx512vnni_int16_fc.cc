// FULLY_CONNECTED with int16 activations (portable/misc.h states the contract) on AVX-512 VNNI,
// units in the lanes: 8 rows × 32 units of int32 accumulators, each depth pair one vpdpwssd of
// the pair (x[r][k], x[r][k + 1]) broadcast to every lane against the panel's 32 weight pairs.
// The weight is packed once at prepare (PackQs16FcAvx512) into panels of 32 units as
// [pair][unit][2] int8 (zeros past the units and the depth), widened to int16 by vpmovsxbw as the
// tile reads it; every depth block's int32 sums (within int32 by the block bound of Int16FcBlock)
// are added into int64 totals of 64 rows at a time, which are then requantized 8 units a step in
// int64 lanes: MultiplyByQuantizedMultiplier64 by one vpmuludq while |acc| < 2^32 (the 128-bit
// function for the other lanes), the rounding shift per unit, the zero point, the clamp.
// Compiled with the avx512vnni set's flags; call only after the CPU check.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "runtime/kernels/portable/wide_requant.h"
#include "runtime/kernels/x86/keep_in_registers.h"
#include "runtime/kernels/x86/rows.h"

namespace squint::rt::x86 {
namespace {

constexpr int32_t kMr = 8, kNr = 32, kRowChunk = 64;

// The pair of x[k], x[k + 1] as one dword (x[k + 1] = 0 past the depth).
inline int32_t PairAt(const int16_t* xr, int32_t k, int32_t depth) {
  const auto lo = static_cast<uint16_t>(xr[k]);
  const auto hi = k + 1 < depth ? static_cast<uint16_t>(xr[k + 1]) : uint16_t{0};
  return static_cast<int32_t>(lo | (uint32_t{hi} << 16));
}

// totals[r][0..32) += Σ over the block's pairs [kp0, kp0 + pairs) of rows[r] × the panel (= for
// the first block, kp0 = 0), for r < valid (rows past `valid` repeat the last row; their sums are
// dropped). `odd`: the block ends with one element alone (the depth's last; its pair's second
// weight is 0, its x read as 0).
void Tile(const int16_t* const rows[kMr], int32_t valid, int32_t kp0, int32_t pairs, bool odd, int32_t depth,
          const int8_t* panel, int64_t* totals) {
  // Every loop over the tile's rows unrolled (but in the -Os library): a run-time row index puts
  // the accumulators in memory.
  __m512i acc[kMr][2];
SQUINT_UNROLL_ROWS(8)
  for (int32_t r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_si512();
  const int16_t* xr[kMr];  // the rows from pair kp0 on
SQUINT_UNROLL_ROWS(8)
  for (int32_t r = 0; r < kMr; ++r) xr[r] = rows[r] + 2 * int64_t{kp0};
  // The panel's pairs from kp0 on, widened to int16 as they are read.
  auto weights = [](const int8_t* at, __m512i* w0, __m512i* w1) {
    *w0 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(at)));
    *w1 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(at + kNr)));
  };
  const int8_t* wk = panel + int64_t{kp0} * 2 * kNr;
  for (int32_t i = 0; i < pairs; ++i, wk += 2 * kNr) {
    __m512i w0, w1;
    weights(wk, &w0, &w1);
SQUINT_UNROLL_ROWS(8)
    for (int32_t r = 0; r < kMr; ++r) {
      int32_t pair;
      std::memcpy(&pair, xr[r] + 2 * int64_t{i}, sizeof(pair));
      const __m512i xv = _mm512_set1_epi32(pair);
      acc[r][0] = _mm512_dpwssd_epi32(acc[r][0], xv, w0);
      acc[r][1] = _mm512_dpwssd_epi32(acc[r][1], xv, w1);
    }
#if !defined(__OPTIMIZE_SIZE__)  // (-Os: the rows' loops not unrolled, the accumulators in memory)
    KeepInRegisters(acc);
#endif
  }
  if (odd) {
    const int32_t kp = kp0 + pairs;
    __m512i w0, w1;
    weights(wk, &w0, &w1);
SQUINT_UNROLL_ROWS(8)
    for (int32_t r = 0; r < kMr; ++r) {
      const __m512i xv = _mm512_set1_epi32(PairAt(rows[r], 2 * kp, depth));
      acc[r][0] = _mm512_dpwssd_epi32(acc[r][0], xv, w0);
      acc[r][1] = _mm512_dpwssd_epi32(acc[r][1], xv, w1);
    }
  }
SQUINT_UNROLL_ROWS(8)
  for (int32_t r = 0; r < kMr; ++r) {
    if (r >= valid) break;
SQUINT_UNROLL_ROWS(2)
    for (int32_t h = 0; h < 2; ++h) {
      int64_t* t = totals + int64_t{r} * kNr + 16 * h;
      const __m512i lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(acc[r][h]));
      const __m512i hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(acc[r][h], 1));
      _mm512_storeu_si512(t, kp0 == 0 ? lo : _mm512_add_epi64(_mm512_loadu_si512(t), lo));
      _mm512_storeu_si512(t + 8, kp0 == 0 ? hi : _mm512_add_epi64(_mm512_loadu_si512(t + 8), hi));
    }
  }
}

int64_t PanelBytes(int32_t depth) { return (int64_t{depth} + 1) / 2 * 2 * kNr; }

}  // namespace

size_t Qs16FcAvx512PackedBytes(int32_t units, int32_t depth) {
  return static_cast<size_t>((int64_t{units} + kNr - 1) / kNr * PanelBytes(depth));
}

void PackQs16FcAvx512(const int8_t* w, int32_t units, int32_t depth, int8_t* packed) {
  const int32_t pairs = (depth + 1) / 2;
  for (int32_t u0 = 0; u0 < units; u0 += kNr) {
    int8_t* panel = packed + int64_t{u0 / kNr} * PanelBytes(depth);
    for (int32_t kp = 0; kp < pairs; ++kp)
      for (int32_t j = 0; j < kNr; ++j) {
        const int32_t u = u0 + j, k = 2 * kp;
        const int8_t* wu = w + int64_t{u} * depth;
        panel[(int64_t{kp} * kNr + j) * 2] = u < units ? wu[k] : 0;
        panel[(int64_t{kp} * kNr + j) * 2 + 1] = u < units && k + 1 < depth ? wu[k + 1] : 0;
      }
  }
}

void Qs16FullyConnectedAvx512(const ref::FullyConnectedParams& p, const int16_t* x, const int8_t* w,
                              const int64_t* folded_bias, int32_t block, void* scratch, int16_t* y) {
  const int32_t depth = p.depth, units = p.units;
  auto* totals = static_cast<int64_t*>(scratch);  // [kRowChunk][kNr]
  const ref::RequantParams& q = p.requant;
  // Blocks of whole pairs (block >= 511 for int8 weights), the depth's odd last element in the
  // last block when that has room for it, else in a block of its own.
  const int32_t block_pairs = std::max(1, block / 2), whole = depth / 2;
  for (int32_t r0 = 0; r0 < p.rows; r0 += kRowChunk) {
    const int32_t nr = std::min(kRowChunk, p.rows - r0);
    for (int32_t u0 = 0; u0 < units; u0 += kNr) {
      const int32_t nu = std::min(kNr, units - u0);
      const int8_t* panel = w + int64_t{u0 / kNr} * PanelBytes(depth);
      bool tail = depth % 2 != 0;  // the odd element still to add
      for (int32_t kp0 = 0; kp0 < whole || tail; kp0 += block_pairs) {
        const int32_t pairs = std::max(0, std::min(block_pairs, whole - kp0));
        const bool odd = tail && kp0 + pairs == whole && pairs < block_pairs;
        tail = tail && !odd;
        for (int32_t rb = 0; rb < nr; rb += kMr) {
          const int16_t* rows[kMr];
          for (int32_t i = 0; i < kMr; ++i) rows[i] = x + int64_t{r0 + std::min(rb + i, nr - 1)} * depth;
          Tile(rows, std::min(kMr, nr - rb), kp0, pairs, odd, depth, panel, totals + int64_t{rb} * kNr);
        }
      }
      // The per-unit requantization constants of the panel, as 64-bit lanes.
      alignas(64) int64_t mult[kNr], shift[kNr], round[kNr];
      for (int32_t j = 0; j < kNr; ++j) {
        const int32_t c = q.count == 1 ? 0 : std::min(u0 + j, units - 1);
        const int32_t s = 31 - q.shift[c];  // in [1, 62]
        mult[j] = static_cast<uint32_t>(q.multiplier[c]);
        shift[j] = s;
        round[j] = int64_t{1} << (s - 1);
      }
      const __m512i zp = _mm512_set1_epi64(q.zero_point), lo = _mm512_set1_epi64(q.act_min);
      const __m512i hi = _mm512_set1_epi64(q.act_max);
      for (int32_t i = 0; i < nr; ++i) {
        int16_t* yr = y + int64_t{r0 + i} * units + u0;
        for (int32_t j = 0; j < nu; j += 8) {
          const __mmask8 k = nu - j >= 8 ? __mmask8{0xff} : static_cast<__mmask8>((1u << (nu - j)) - 1);
          const __m512i acc = _mm512_add_epi64(_mm512_loadu_si512(totals + int64_t{i} * kNr + j),
                                               _mm512_maskz_loadu_epi64(k, folded_bias + u0 + j));
          const __m512i mag = _mm512_abs_epi64(acc);
          const __mmask8 wide = _mm512_mask_test_epi64_mask(k, mag, _mm512_set1_epi64(int64_t{0xffffffff} << 32));
          __m512i m = _mm512_add_epi64(_mm512_mul_epu32(mag, _mm512_load_si512(mult + j)), _mm512_load_si512(round + j));
          m = _mm512_srlv_epi64(m, _mm512_load_si512(shift + j));
          m = _mm512_mask_sub_epi64(m, _mm512_cmplt_epi64_mask(acc, _mm512_setzero_si512()), _mm512_setzero_si512(), m);
          const __m512i code = _mm512_min_epi64(_mm512_max_epi64(_mm512_add_epi64(m, zp), lo), hi);
          _mm_mask_storeu_epi16(yr + j, k, _mm512_cvtepi64_epi16(code));
          for (uint32_t bits = wide; bits != 0; bits &= bits - 1) {  // |acc| >= 2^32: rare
            const int32_t l = j + __builtin_ctz(bits), c = q.count == 1 ? 0 : u0 + l;
            const int64_t a = totals[int64_t{i} * kNr + l] + folded_bias[u0 + l];
            const int64_t v =
                int64_t{portable::detail::MultiplyByQuantizedMultiplier64Wide(a, q.multiplier[c], q.shift[c])} +
                q.zero_point;
            yr[l] = static_cast<int16_t>(v < q.act_min ? q.act_min : (v > q.act_max ? q.act_max : v));
          }
        }
      }
    }
  }
}

size_t Qs16FullyConnectedAvx512ScratchBytes() { return static_cast<size_t>(kRowChunk) * kNr * sizeof(int64_t); }

}  // namespace squint::rt::x86
