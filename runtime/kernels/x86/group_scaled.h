// Group-scaled FULLY_CONNECTED and CONV_2D (groups = 1) on AVX-512 VNNI (avx512vnni_group.cc,
// compiled with the avx512vnni set's flags; call only after the CPU check). They compute exactly
// the reference's FullyConnectedLowBit / Conv2DGroupScaled group path (kernels.h):
//   a[g] = Σ_{k in g} (x_k − z_x)·w[u][k]        (int32, exact)
//   t    = Σ_g m[u][g]·a[g]                      (int64, exact)
//   y    = Requant(bias[u] + RoundDiv(t, 2^B))   (kernel_util.h GroupScaledOutput)
// for 16 units at a time:
// - a[g] by vpdpbusd on u = x + 128 (unsigned) and w (signed), the accumulator started at
//   −(128 + z_x)·Σ_{k in g} w[u][k], so it ends at Σ (u − 128 − z_x)·w = a[g];
// - m·a[g] in int64 by vpmuldq, on the even and the odd int32 lanes;
// - the requantization of MultiplyByQuantizedMultiplier64 in int64 lanes when |acc| < 2^32
//   (|acc|·multiplier < 2^63: one vpmuludq, one rounding shift); lanes with a larger |acc| take the
//   reference's own function.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/kernels/reference/kernels.h"

namespace squint::rt::x86 {

// The packed weight's shape. The units are taken in blocks of 16 (the last padded with zero
// weights and multipliers); each group's depth is padded with zero weights to group_bytes, a
// multiple of 4 (one vpdpbusd step); activations are laid out the same way (row_bytes a row).
struct GroupScaledLayout {
  int32_t units = 0, depth = 0, group_size = 0;
  int32_t groups = 0, group_bytes = 0, blocks = 0;
  int64_t row_bytes = 0;    // groups · group_bytes
  int64_t block_bytes = 0;  // one block of 16 units: per group, its weight steps, then −(128 + z)·Σw and m
                            // (16 int32 each); then the requantization's 16 multipliers and 16 shifts
};
// Preconditions: units, depth >= 1, group_size in [1, 4096] divides depth.
GroupScaledLayout GroupScaledLayoutOf(int32_t units, int32_t depth, int32_t group_size);

// Bytes of the packed weight (a multiple of 64).
int64_t GroupScaledPackedBytes(const GroupScaledLayout& l);
// Packs the weight's codes ([units][depth] int8; int4 unpacked), its multipliers ([units][groups],
// in [0, 2^B]), the input zero point and the requantization for the kernels below.
void PackGroupScaledAvx512(const GroupScaledLayout& l, const int8_t* codes, const uint16_t* group_multiplier,
                           int32_t input_zero_point, const ref::RequantParams& requant, uint8_t* packed);

// Scratch bytes of one call: rows of activations (and, for CONV_2D, a padded copy of one image).
int64_t GroupScaledFcScratchBytes(const GroupScaledLayout& l, int32_t rows);
int64_t GroupScaledConvScratchBytes(const GroupScaledLayout& l, const ref::Conv2DParams& p);

// y [rows, units] (FULLY_CONNECTED; p's units, depth and group size those of l, int8 x), the
// reference's codes. bias may be null.
void Qs8GroupScaledFcAvx512(const GroupScaledLayout& l, const uint8_t* packed, const ref::FullyConnectedLowBitParams& p,
                            const int8_t* x, const int32_t* bias, uint8_t* scratch, int8_t* y);
// y [batch, out_channels, out_h, out_w] (CONV_2D with groups = 1; units = out_channels, depth =
// in_channels·kernel_h·kernel_w in the weight's order (c, ky, kx)).
void Qs8GroupScaledConv2DAvx512(const GroupScaledLayout& l, const uint8_t* packed,
                                const ref::Conv2DGroupScaledParams& p, const int8_t* x, const int32_t* bias,
                                uint8_t* scratch, int8_t* y);

}  // namespace squint::rt::x86
