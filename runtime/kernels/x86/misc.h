// Optimized non-GEMM kernels (int8): ADD / SUB / MUL, LUT, TRANSPOSE, SOFTMAX (uniform grid) and
// LAYER_NORM (and its RMS mode). Plain C++ (baseline x86-64, compiled with the vectorizer on),
// chosen at prepare for every optimized instruction set (dispatch.h); kReference keeps the
// reference kernels. Contract: every output code equals the reference kernel's for the same
// parameters (kernels.h), tolerance zero (tests/runtime/kernels_x86_misc_test.cc).
//
// How each stays exact:
// - ADD / SUB / MUL / LUT on int8: an output code is a function of the input code(s) only, so
//   prepare tabulates the reference kernel itself over every input (65536 pairs, 256 codes) and
//   invoke looks codes up (the broadcast walk is folded to contiguous runs).
// - TRANSPOSE: the same element moves as the reference's strided copy, with the output's axes
//   folded where the input is contiguous and rows copied with memcpy when the last axis is.
// - SOFTMAX, LAYER_NORM: the reference's integer formulas in the same order; the per-element
//   rounded division by a per-row constant den is q = ⌊N / den⌋ estimated as ⌊N·(1/den)⌋ in
//   double (relative error < 2^−51, so off by at most one while q < 2^49) and corrected exactly
//   with the integer remainder N − q·den; a larger quotient falls back to the integer division.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/kernels/reference/kernels.h"

namespace squint::rt::x86 {

// ---- ADD / SUB / MUL (int8) ----
enum class BinaryKind : int32_t { kAdd = 0, kSub = 1, kMul = 2 };
constexpr size_t kQs8BinaryTableBytes = 65536;
// table[(uint8)a·256 + (uint8)b] = the reference kernel's output code for codes a, b.
void BuildQs8BinaryTable(BinaryKind kind, const ref::ElementwiseParams& p, int8_t* table);
// y = the reference ADD/SUB/MUL over the broadcast `s` (ref::ComputeBroadcast), by table lookups.
void Qs8Binary(const ref::BroadcastShape& s, const int8_t* table, const int8_t* a, const int8_t* b, int8_t* y);

// ---- LUT (int8 → int8) ----
// table[(uint8)x] = ref::Lut's output code for x.
void BuildQs8Lut(const int16_t* ref_table, int32_t ref_table_size, int32_t min_code, int8_t* table);
void Qs8Lut(int64_t count, const int8_t* table, const int8_t* x, int8_t* y);

// ---- TRANSPOSE (any element size of 1, 2 or 4 bytes) ----
// y[o] = x[Σ index_j·strides[j]] over the output's (folded) axes, row-major.
struct TransposePlan {
  int32_t rank = 0;  // after folding; 0: a plain copy of `count` elements
  int32_t dims[ref::kMaxKernelRank] = {};
  int64_t strides[ref::kMaxKernelRank] = {};  // in elements of the input
  int64_t count = 0;
  int32_t element_size = 1;
};
// From TRANSPOSE's input dims and perm (output axis j is input axis perm[j]).
TransposePlan PlanTranspose(int32_t rank, const int32_t* in_dims, const int32_t* perm, int32_t element_size);
void Transpose(const TransposePlan& t, const void* x, void* y);

// ---- SOFTMAX (int8 input, uniform-grid int8/uint8 output: p.grid == null) ----
// avx512: each row's table of output codes by Qs8SoftmaxCodesAvx512 (the caller has checked the CPU).
template <typename TOut>
void Qs8Softmax(const ref::SoftmaxParams& p, const int8_t* x, TOut* y, bool avx512 = false);
// One row's output code (the byte of u + output_zero_point) for every d = max − x in [0, d_hi]
// (avx512vnni.cc, 8 at a step; code_of_d holds 256 bytes, d_hi <= 255), given Σe = sum >= 1 over
// the row's kept elements: u = clamp(⌊(⌊(scale·e_d + ⌊sum/2⌋) / sum⌋ + γ·2^24 + 2^(drop−1)) / 2^drop⌋,
// 0, 2^bits − 1), scale = clip_scale_q16·256, exactly as the reference (prepare bounds scale <= 2^28
// and e_d <= 2^30 <= sum·2^30, so every quotient fits 32 bits).
void Qs8SoftmaxCodesAvx512(const ref::SoftmaxParams& p, int64_t sum, int32_t d_hi, uint8_t* code_of_d);
// One whole row (avx512vnni.cc): the kept elements' max, min and Σe, the codes above, and the
// output bytes (u + output_zero_point, or output_zero_point where not kept). mr: the row's mask
// bytes (element i kept when mr[i] != 0), or null when every element is kept.
void Qs8SoftmaxRowAvx512(const ref::SoftmaxParams& p, const int8_t* xr, const uint8_t* mr, uint8_t* yr);

// ---- LAYER_NORM (int8, LayerNorm and RMS modes) ----
// isa: the per-element part of the rows by Qs8LayerNormRowAvx512 / Qs8LayerNormRowAvx2 where
// their bounds hold (the caller has checked the CPU); otherwise plain C++.
enum class RowIsa : int32_t { kCpp = 0, kAvx2 = 1, kAvx512 = 2 };
void Qs8LayerNorm(const ref::LayerNormParams& p, const int8_t* x, int8_t* y, RowIsa isa = RowIsa::kCpp);
// One row's outputs (avx512vnni.cc, 8 channels per step), given the row's constants: z (RMS zero
// point or 0), sum (Σ(x − z), 0 in RMS mode), up = 2^up_log2, root > 0, inv ≈ 1/root. Per channel:
// w = C·(x − z) − sum, n = ⌊w·up / root⌉ (ties away from zero), acc = n·γ + β, y = requant(acc)
// exactly as the reference. Precondition: |w|·up / root < 2^29 for every code of the row and
// |w| < 2^24 (so n, q fit 32 bits and the double estimate of q is off by at most one).
void Qs8LayerNormRowAvx512(const ref::LayerNormParams& p, const int8_t* xr, int32_t z, int64_t sum,
                           int32_t up_log2, int64_t root, double inv, int8_t* yr);
// The same in avx2.cc, 4 channels a step, for channels [0, C − C mod 4); returns that count (the
// caller does the rest).
int32_t Qs8LayerNormRowAvx2(const ref::LayerNormParams& p, const int8_t* xr, int32_t z, int64_t sum,
                            int32_t up_log2, int64_t root, double inv, int8_t* yr);

// ---- depthwise CONV_2D (int8, groups = in_channels = out_channels, int8 weights) ----
// Per channel plane, x − input_zero_point is laid out as int16 in `scratch` with zeros where the
// window leaves the input (the reference skips those taps: their x − zp counts as 0), then every
// output sums its kernel_h·kernel_w taps in int32 (the same integers as the reference, which
// prepare bounds below 2^31) and is requantized by the reference's own per-channel function.
// scratch holds Qs8DepthwiseScratchBytes(p) bytes, 2-byte aligned.
size_t Qs8DepthwiseScratchBytes(const ref::Conv2DParams& p);
void Qs8DepthwiseConv2D(const ref::Conv2DParams& p, const int8_t* x, const int8_t* w, const int32_t* bias,
                        int16_t* scratch, int8_t* y);

}  // namespace squint::rt::x86
