// FULLY_CONNECTED with int16 activations (portable/misc.h states the contract), written once and
// compiled per instruction set: portable/int16_fc.cc (the architecture's baseline: pmaddwd on
// x86-64, smlal on aarch64) and x86/avx2_int16_fc.cc, where the compiler turns the same dot products
// into vpmaddwd on 16 int16 lanes. The including file defines
// SQUINT_INT16_FC_NAMESPACE (the namespace under squint::rt holding the function: one per
// translation unit, so that no inline function is shared between units compiled with different
// target flags) and SQUINT_INT16_FC (the function's name). Internal to runtime/kernels.
//
// The loops: 64 rows at a time (kRowChunk); in them, 16 units at a time (kUnitChunk), whose
// weights are widened to int16 into scratch one depth block at a time (`block` elements: every
// partial sum of a block fits int32, portable/misc.h); each block's dot products of 4 rows by 4
// units (a plain C++ reduction over the depth, which the vectorizer keeps in vector accumulators
// and sums once per block), added into int64 totals; then the totals requantized.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "runtime/kernels/portable/wide_requant.h"
#include "runtime/kernels/reference/kernels.h"

namespace squint::rt::SQUINT_INT16_FC_NAMESPACE {
namespace {                // NOLINT(build/namespaces): internal linkage, one copy per translation unit
namespace int16_fc_detail {

constexpr int32_t kRowChunk = 64, kUnitChunk = 16, kRows = 4, kUnits = 4;

// sums[r][u] = Σ_{k < n} x[r][k]·w[u][k] (x rows and w rows `stride` elements apart in w), in
// int32: the caller's block bound keeps every partial sum inside it.
inline void Dots(const int16_t* const x[kRows], const int16_t* w, int64_t stride, int32_t n,
                 int32_t sums[kRows][kUnits]) {
  int32_t acc[kRows][kUnits] = {};
  const int16_t *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3];
  const int16_t *w0 = w, *w1 = w + stride, *w2 = w + 2 * stride, *w3 = w + 3 * stride;
  for (int32_t k = 0; k < n; ++k) {
    const int32_t a[kRows] = {x0[k], x1[k], x2[k], x3[k]};
    const int32_t b[kUnits] = {w0[k], w1[k], w2[k], w3[k]};
#pragma GCC unroll 4
    for (int32_t r = 0; r < kRows; ++r)
#pragma GCC unroll 4
      for (int32_t u = 0; u < kUnits; ++u) acc[r][u] += a[r] * b[u];
  }
  std::memcpy(sums, acc, sizeof(acc));
}

}  // namespace int16_fc_detail
}  // namespace

void SQUINT_INT16_FC(const ::squint::rt::ref::FullyConnectedParams& p, const int16_t* x, const int8_t* w,
                       const int64_t* folded_bias, int32_t block, void* scratch, int16_t* y) {
  using namespace int16_fc_detail;
  const int32_t depth = p.depth, units = p.units;
  auto* ws = static_cast<int16_t*>(scratch);                                   // [kUnitChunk][block]
  auto* totals = reinterpret_cast<int64_t*>(ws + int64_t{kUnitChunk} * block);  // [kRowChunk][kUnitChunk]
  const ::squint::rt::ref::RequantParams& q = p.requant;
  for (int32_t r0 = 0; r0 < p.rows; r0 += kRowChunk) {
    const int32_t nr = std::min(kRowChunk, p.rows - r0);
    for (int32_t u0 = 0; u0 < units; u0 += kUnitChunk) {
      const int32_t nu = std::min(kUnitChunk, units - u0);
      std::fill(totals, totals + int64_t{kRowChunk} * kUnitChunk, int64_t{0});
      for (int32_t k0 = 0; k0 < depth; k0 += block) {
        const int32_t kb = std::min(block, depth - k0);
        for (int32_t j = 0; j < kUnitChunk; ++j) {  // units past the last: zero weights
          int16_t* wj = ws + int64_t{j} * kb;
          if (j < nu) {
            const int8_t* src = w + int64_t{u0 + j} * depth + k0;
            for (int32_t k = 0; k < kb; ++k) wj[k] = src[k];
          } else {
            std::fill(wj, wj + kb, int16_t{0});
          }
        }
        for (int32_t rb = 0; rb < nr; rb += kRows) {
          const int16_t* rows[kRows];  // rows past the last repeat it (their sums are not kept)
          for (int32_t i = 0; i < kRows; ++i)
            rows[i] = x + int64_t{r0 + std::min(rb + i, nr - 1)} * depth + k0;
          const int32_t valid = std::min(kRows, nr - rb);
          for (int32_t ub = 0; ub < kUnitChunk; ub += kUnits) {
            if (ub >= nu) break;
            int32_t sums[kRows][kUnits];
            Dots(rows, ws + int64_t{ub} * kb, kb, kb, sums);
            for (int32_t i = 0; i < valid; ++i)
              for (int32_t j = 0; j < kUnits; ++j) totals[(rb + i) * kUnitChunk + ub + j] += sums[i][j];
          }
        }
      }
      // acc = folded bias + Σ x·w → MultiplyByQuantizedMultiplier64: ⌊(|acc|·M + 2^(s−1)) / 2^s⌋,
      // s = 31 − shift, the sign put back; one 32 × 32 → 64-bit product while |acc| < 2^32 (the
      // 128-bit function otherwise). The reference's saturation at 2^31 is left to the clamp to the
      // int16 range after the zero point, which gives the same code.
      for (int32_t i = 0; i < nr; ++i) {
        int16_t* yr = y + int64_t{r0 + i} * units + u0;
        for (int32_t j = 0; j < nu; ++j) {
          const int32_t u = u0 + j, c = q.count == 1 ? 0 : u;
          const int64_t acc = folded_bias[u] + totals[i * kUnitChunk + j];
          const uint64_t mag = acc < 0 ? uint64_t{0} - static_cast<uint64_t>(acc) : static_cast<uint64_t>(acc);
          int64_t v = 0;
          if ((mag >> 32) == 0) {
            const int32_t s = 31 - q.shift[c];
            const auto m = static_cast<int64_t>((mag * static_cast<uint32_t>(q.multiplier[c]) + (uint64_t{1} << (s - 1))) >> s);
            v = acc < 0 ? -m : m;
          } else {
            v = ::squint::rt::portable::detail::MultiplyByQuantizedMultiplier64Wide(acc, q.multiplier[c], q.shift[c]);
          }
          v += q.zero_point;
          yr[j] = static_cast<int16_t>(v < q.act_min ? q.act_min : (v > q.act_max ? q.act_max : v));
        }
      }
    }
  }
}

}  // namespace squint::rt::SQUINT_INT16_FC_NAMESPACE
