// Advanced SIMD kernels for every aarch64 CPU (armv8-a baseline; no target flags).
//
// qs8_gemm_2x8c8__neon: y = requant(x·wᵀ + b') (portable/qs8_gemm.h) with a register tile of
// 2 rows × 8 units and depth groups of 8 bytes, without the dot-product extension. Per group,
// row r and unit j: smull multiplies the 8 int8 pairs x[r][k]·w[j][k] into 8 int16 lanes, and
// sadalp adds adjacent lanes pairwise into the 4 int32 lanes of accumulator (r, j). No int16 sum is
// ever formed: one product lies in [−128·127, 128·128] = [−16256, 16384], inside int16, and each
// pair is added in int32. (smlal, which would add a second product into the int16 lane, can
// overflow: (−128)·(−128) + (−128)·(−128) = 32768; it is not used.) After the depth, addp folds
// the 8 accumulators of a row into 2 vectors of 4 units. Lanes hold the exact sum modulo 2^32
// (adds wrap; prepare has checked that the true sum fits int32), activation offset 0 (signed by
// signed); the folded bias b' subtracts z_x·Σw. 2 rows × 8 units use 16 of the 32 vector
// registers for accumulators, leaving room for the activations, one weight and the products.
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "runtime/kernels/arm/neon_gemm.h"
#include "runtime/kernels/portable/qs8_gemm.h"

namespace squint::rt::arm {

using portable::Qs8GemmKernel;
using portable::Qs8GemmParams;

void PackInt8Rows(const int8_t* x, int32_t rows, int32_t depth, size_t k_pad, void* a) {
  auto* out = static_cast<int8_t*>(a);
  for (int32_t r = 0; r < rows; ++r) {
    int8_t* ar = out + static_cast<size_t>(r) * k_pad;
    std::memcpy(ar, x + static_cast<int64_t>(r) * depth, static_cast<size_t>(depth));
    std::memset(ar + depth, 0, k_pad - static_cast<size_t>(depth));
  }
}

namespace {

constexpr int32_t kMr = 2, kNr = 8, kKr = 8;

// The 4 int32 lanes of each of a, b, c, d summed: {Σa, Σb, Σc, Σd}.
inline int32x4_t Fold4(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
  return vpaddq_s32(vpaddq_s32(a, b), vpaddq_s32(c, d));
}

// M rows (a: packed int8 rows, a_stride apart) × the 8 units of panel w from unit n0; `valid` of
// them exist. y points at y[r0][0].
template <int M>
void Tile(const int8_t* a, size_t a_stride, const int8_t* w, int32_t groups, const Qs8GemmParams& p, int32_t n0,
          int32_t valid, const int32_t* row_bias, int8_t* y) {
  int32x4_t acc[M][kNr];
#pragma GCC unroll 2
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < kNr; ++j) acc[i][j] = vdupq_n_s32(0);
  for (int32_t g = 0; g < groups; ++g) {
    int8x8_t x[M];
#pragma GCC unroll 2
    for (int i = 0; i < M; ++i) x[i] = vld1_s8(a + static_cast<size_t>(i) * a_stride + static_cast<size_t>(g) * kKr);
#pragma GCC unroll 8
    for (int j = 0; j < kNr; ++j) {
      const int8x8_t wj = vld1_s8(w + j * kKr);
#pragma GCC unroll 2
      for (int i = 0; i < M; ++i) acc[i][j] = vpadalq_s16(acc[i][j], vmull_s8(x[i], wj));
    }
    w += kNr * kKr;
  }
  const int32x4_t b0 = vld1q_s32(p.bias + n0), b1 = vld1q_s32(p.bias + n0 + 4);
  const OutputStage o = MakeOutputStage(p);
#pragma GCC unroll 2
  for (int i = 0; i < M; ++i) {
    int32x4_t s0 = vaddq_s32(Fold4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]), b0);
    int32x4_t s1 = vaddq_s32(Fold4(acc[i][4], acc[i][5], acc[i][6], acc[i][7]), b1);
    if (row_bias != nullptr) {
      const int32x4_t r = vdupq_n_s32(row_bias[i]);
      s0 = vaddq_s32(s0, r);
      s1 = vaddq_s32(s1, r);
    }
    RequantizeStore8(p, n0, s0, s1, o, valid, y + static_cast<int64_t>(i) * p.units + n0);
  }
}

void Tile2x8(const Qs8GemmParams& p, int32_t m, const void* a, size_t k_pad, const void* w, int32_t n0, int32_t valid,
             const int32_t* row_bias, int8_t* y) {
  const auto* a8 = static_cast<const int8_t*>(a);
  const auto* w8 = static_cast<const int8_t*>(w);
  const auto groups = static_cast<int32_t>(k_pad / kKr);
  if (m == 2) Tile<2>(a8, k_pad, w8, groups, p, n0, valid, row_bias, y);
  else Tile<1>(a8, k_pad, w8, groups, p, n0, valid, row_bias, y);
}

}  // namespace

const Qs8GemmKernel kQs8Gemm2x8c8Neon = {"qs8_gemm_2x8c8__neon", kMr, kNr, kKr, 1, 0, &PackInt8Rows, &Tile2x8, nullptr,
                                          nullptr};

}  // namespace squint::rt::arm
