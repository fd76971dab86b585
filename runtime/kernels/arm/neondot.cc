// Advanced SIMD kernels with the dot-product extension (this translation unit alone is compiled
// with -march=armv8.2-a+dotprod; the runtime calls it only after the HWCAP_ASIMDDP check at
// prepare, dispatch.cc).
//
// qs8_gemm_4x8c4__neondot: y = requant(x·wᵀ + b') (portable/qs8_gemm.h) with a register tile of
// 4 rows × 8 units (two vectors of 4 int32 lanes, one lane per unit) and depth groups of 4 bytes:
// sdot adds Σ_{i<4} x[k+i]·w[n][k+i] into lane n, signed by signed (activation offset 0), in
// int32 without saturation, so every lane holds the exact sum modulo 2^32 (prepare has checked
// that the true sum fits int32); the folded bias b' subtracts z_x·Σw. Four groups a step take one
// 16-byte load per row and the by-element form (sdot v.4s, w.16b, x.4b[lane]); the remaining
// groups broadcast their 4 bytes.
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "runtime/kernels/arm/neon_gemm.h"
#include "runtime/kernels/portable/qs8_gemm.h"

namespace squint::rt::arm {

using portable::Qs8GemmKernel;
using portable::Qs8GemmParams;

namespace {

constexpr int32_t kMr = 4, kNr = 8, kKr = 4;

// Group `kLane` of the four in x[i] (16 activation bytes per row) against the panel's next 32
// weight bytes (units 0-3, then 4-7).
template <int M, int kLane>
inline void DotLane(int32x4_t (&acc)[M][2], const int8x16_t (&x)[M], const int8_t* w) {
  const int8x16_t w0 = vld1q_s8(w), w1 = vld1q_s8(w + 16);
#pragma GCC unroll 4
  for (int i = 0; i < M; ++i) {
    acc[i][0] = vdotq_laneq_s32(acc[i][0], w0, x[i], kLane);
    acc[i][1] = vdotq_laneq_s32(acc[i][1], w1, x[i], kLane);
  }
}

// M rows (a: packed int8 rows, a_stride apart) × the 8 units of panel w from unit n0; `valid` of
// them exist. y points at y[r0][0].
template <int M>
void Tile(const int8_t* a, size_t a_stride, const int8_t* w, int32_t groups, const Qs8GemmParams& p, int32_t n0,
          int32_t valid, const int32_t* row_bias, int8_t* y) {
  int32x4_t acc[M][2];
  const int32x4_t b0 = vld1q_s32(p.bias + n0), b1 = vld1q_s32(p.bias + n0 + 4);
#pragma GCC unroll 4
  for (int i = 0; i < M; ++i) {
    const int32x4_t r = vdupq_n_s32(row_bias != nullptr ? row_bias[i] : 0);
    acc[i][0] = vaddq_s32(b0, r);
    acc[i][1] = vaddq_s32(b1, r);
  }
  constexpr int32_t kGroupBytes = kNr * kKr;  // 32
  int32_t g = 0;
  for (; g + 4 <= groups; g += 4) {
    int8x16_t x[M];
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i) x[i] = vld1q_s8(a + static_cast<size_t>(i) * a_stride + static_cast<size_t>(g) * kKr);
    DotLane<M, 0>(acc, x, w);
    DotLane<M, 1>(acc, x, w + kGroupBytes);
    DotLane<M, 2>(acc, x, w + 2 * kGroupBytes);
    DotLane<M, 3>(acc, x, w + 3 * kGroupBytes);
    w += 4 * kGroupBytes;
  }
  for (; g < groups; ++g) {
    const int8x16_t w0 = vld1q_s8(w), w1 = vld1q_s8(w + 16);
    w += kGroupBytes;
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i) {
      int32_t four;
      std::memcpy(&four, a + static_cast<size_t>(i) * a_stride + static_cast<size_t>(g) * kKr, sizeof(four));
      const int8x16_t x = vreinterpretq_s8_s32(vdupq_n_s32(four));
      acc[i][0] = vdotq_s32(acc[i][0], w0, x);
      acc[i][1] = vdotq_s32(acc[i][1], w1, x);
    }
  }
  const OutputStage o = MakeOutputStage(p);
#pragma GCC unroll 4
  for (int i = 0; i < M; ++i)
    RequantizeStore8(p, n0, acc[i][0], acc[i][1], o, valid, y + static_cast<int64_t>(i) * p.units + n0);
}

void Tile4x8(const Qs8GemmParams& p, int32_t m, const void* a, size_t k_pad, const void* w, int32_t n0, int32_t valid,
             const int32_t* row_bias, int8_t* y) {
  const auto* a8 = static_cast<const int8_t*>(a);
  const auto* w8 = static_cast<const int8_t*>(w);
  const auto groups = static_cast<int32_t>(k_pad / kKr);
  switch (m) {
    case 4: Tile<4>(a8, k_pad, w8, groups, p, n0, valid, row_bias, y); break;
    case 3: Tile<3>(a8, k_pad, w8, groups, p, n0, valid, row_bias, y); break;
    case 2: Tile<2>(a8, k_pad, w8, groups, p, n0, valid, row_bias, y); break;
    default: Tile<1>(a8, k_pad, w8, groups, p, n0, valid, row_bias, y); break;
  }
}

}  // namespace

const Qs8GemmKernel kQs8Gemm4x8c4NeonDot = {"qs8_gemm_4x8c4__neondot", kMr, kNr, kKr, 1, 0, &PackInt8Rows, &Tile4x8, nullptr,
                                             nullptr};

}  // namespace squint::rt::arm
