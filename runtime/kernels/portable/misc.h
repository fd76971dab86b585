// Optimized non-GEMM kernels (int8): ADD / SUB / MUL, LUT, TRANSPOSE, SOFTMAX (uniform grid) and
// LAYER_NORM (and its RMS mode), depthwise CONV_2D, global AVERAGE_POOL_2D; GATHER and constant
// PAD of any element type. Plain C++ for any target (x86-64 and aarch64
// builds compile it with -O3, the loop vectorizer on), chosen at prepare for every optimized
// instruction set (dispatch.h); kReference keeps the reference kernels. Contract: every output
// code equals the reference kernel's for the same parameters (kernels.h), tolerance zero
// (tests/runtime/kernels_misc_test.cc, run on both architectures).
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

#include "runtime/kernels/portable/qs8_gemm.h"
#include "runtime/kernels/reference/kernels.h"

namespace squint::rt::portable {

// ---- float inputs to codes (squint_rt_set_input_float) ----
// y[i] = QuantizeValue's code of v[i] on the grid (scale, zero_point) of a tensor whose codes are
// [lo, hi] (runtime/tensor_codes.h: ⌊v/scale⌉ in double, ties to even, + zero_point, clamped;
// NaN → zero_point), vectorized: the rounding is (x + 1.5·2^52) − 1.5·2^52 instead of a libm
// call. T: int8_t, uint8_t or
// int16_t; scale > 0.
template <typename T>
void QuantizeFloats(const float* v, int64_t n, float scale, int32_t zero_point, int32_t lo, int32_t hi, T* y);

// ---- ADD / SUB / MUL (int8) ----
enum class BinaryKind : int32_t { kAdd = 0, kSub = 1, kMul = 2 };
constexpr size_t kQs8BinaryTableBytes = 65536;
// table[(uint8)a·256 + (uint8)b] = the reference kernel's output code for codes a, b; b_major:
// table[(uint8)b·256 + (uint8)a] (the layout for b broadcast along the rows, whose runs then read
// one 256-byte row of the table, a LUT).
void BuildQs8BinaryTable(BinaryKind kind, const ref::ElementwiseParams& p, int8_t* table, bool b_major = false);
// Whether the innermost runs of `s` walk a and hold b fixed (b broadcast along them, as a
// per-channel scale or bias is): the table is best b-major then.
bool BinaryRunsHoldB(const ref::BroadcastShape& s);
// ADD / SUB without the table where it is provably the same (AVX-512 rows of 16): the output code
// is the rounding of a linear function of the two codes, estimated in float as
//   est = fma(float(a), ca, fma(float(b), cb, c0)),  y = clamp(rint(est))
// (c0 = zp − za·ca − zb·cb rounded once);
// the rounding of the int32 requantizations makes est differ from the reference near a rounding
// boundary, so a code pair whose |est − rint(est)| > 1/2 − margin takes the table's code instead.
// BuildQs8BinaryFloat chooses ca, cb, margin from the op's multipliers and then checks all 65536
// code pairs against the table (the vector kernel computes est with the same IEEE operations): it
// returns false, and the op keeps the table alone, if any pair outside the margin differs (or the
// op is MUL, or a requantization is per channel or shifts left).
struct BinaryFloat {
  float ca = 0, cb = 0, c0 = 0, half_minus_margin = 0.5f;
  int32_t act_min = -128, act_max = 127;
};
bool BuildQs8BinaryFloat(BinaryKind kind, const ref::ElementwiseParams& p, const int8_t* table, BinaryFloat* f);
// y = the reference ADD/SUB/MUL over the broadcast `s` (ref::ComputeBroadcast), by table lookups
// (`table` built with the same b_major; a run that holds the table's major operand fixed is a LUT
// over one table row, Qs8Lut with `vbmi`), or (f set, a-major table: x86-64 builds, the CPU has
// AVX-512) by BinaryFloat for runs of both operands.
void Qs8Binary(const ref::BroadcastShape& s, const int8_t* table, const int8_t* a, const int8_t* b, int8_t* y,
               const BinaryFloat* f = nullptr, bool b_major = false, bool vbmi = false);

// int16 ADD (sign 1) / SUB (sign −1): the reference's codes over the broadcast `s`, folded into
// runs; avx512 (x86-64 builds, the CPU has AVX-512): runs of both operands by
// x86::Qs16AddSubAvx512, the other runs by the reference kernel. (Prepare uses it on avx512vnni
// only: without the AVX-512 runs it is the reference.)
void Qs16AddSub(const ref::ElementwiseParams& p, int32_t sign, const ref::BroadcastShape& s, const int16_t* a,
                const int16_t* b, int16_t* y, bool avx512);

// ---- LUT (int8 → int8) ----
// table[(uint8)x] = ref::Lut's output code for x.
void BuildQs8Lut(const int16_t* ref_table, int32_t ref_table_size, int32_t min_code, int8_t* table);
// vbmi (x86-64 builds only; the caller has checked Avx512VbmiSupported()): 64 codes a step by
// x86::Qs8LutAvx512Vbmi (runtime/kernels/x86/rows.h); otherwise plain C++.
void Qs8Lut(int64_t count, const int8_t* table, const int8_t* x, int8_t* y, bool vbmi = false);

// ---- LUT (int16 → int8 or int16) ----
// ref::Lut for int16 inputs and a table that covers every int16 code ([min_code, min_code +
// table_size) ⊇ [−32768, 32767], as prepare checks): y[i] = table[x[i] − min_code], saturated to
// TOut, the reference's index clamp never acting. avx512 (x86-64 builds only; the caller has
// checked the avx512vnni set): x86::Qs16LutAvx512's gathers (runtime/kernels/x86/rows.h);
// otherwise plain C++.
template <typename TOut>
void Qs16Lut(int64_t count, const int16_t* table, int32_t table_size, int32_t min_code, const int16_t* x, TOut* y,
             bool avx512);

// ---- TRANSPOSE (any element size of 1, 2 or 4 bytes) ----
// y[o] = x[Σ index_j·strides[j]] over the output's (folded) axes, row-major.
struct TransposePlan {
  int32_t rank = 0;  // after folding; 0: a plain copy of `count` elements
  int32_t dims[ref::kMaxKernelRank] = {};
  int64_t strides[ref::kMaxKernelRank] = {};  // in elements of the input
  int64_t count = 0;
  int32_t element_size = 1;
  TransposeBytesFn transpose_bytes = &TransposeBytes;  // byte matrices (prepare sets TransposeBytesFor)
};
// From TRANSPOSE's input dims and perm (output axis j is input axis perm[j]).
TransposePlan PlanTranspose(int32_t rank, const int32_t* in_dims, const int32_t* perm, int32_t element_size);
void Transpose(const TransposePlan& t, const void* x, void* y);

// ---- GATHER and PAD (constant mode), any element type: the reference's element moves as runs ----
// y[o][j][·] = x[o][clamp(index_j)][·] (ref::Gather's clamping of run-time indices), a memcpy of
// inner_bytes per (o, j).
void GatherRows(int32_t outer, int32_t axis_dim, int64_t inner_bytes, const int32_t* indices, int32_t num_indices,
                const void* x, void* y);
// ref::Pad in constant mode (pads[i] before and pads[rank + i] after axis i, negative ones crop):
// the output row by row along the last axis, each row `value`, or its runs of value, input, value.
template <typename T>
void PadConstant(int32_t rank, const int32_t* in_dims, const int32_t* pads, T value, const T* x, T* y);

// ---- SOFTMAX (int8 input; uniform-grid int8/uint8 output, or log-grid codes: p.grid set, kCpp rows only) ----
// rows: kCpp plain C++ rows; on x86-64 builds only, after the caller's CPU check, kAvx512 each
// whole row by x86::Qs8SoftmaxRowsAvx512, kAvx512Vbmi by x86::Qs8SoftmaxRowsAvx512Vbmi
// (runtime/kernels/x86/rows.h); the same bytes on every path. Masks: the
// constant byte mask p.mask and/or the run-time int32 mask p.mask32 (an attention mask input);
// with p.mask32, `keep` (p.depth bytes of scratch) receives a row's combined keep bytes, rebuilt
// only when the row's mask offsets change (a [batch, 1, 1, S] mask: once per batch).
// Rows [first_row, last_row) alone (last_row < 0: to p.rows); x and y are the whole tensors.
enum class SoftmaxRows : int32_t { kCpp = 0, kAvx512 = 1, kAvx512Vbmi = 2 };
template <typename TOut>
void Qs8Softmax(const ref::SoftmaxParams& p, const int8_t* x, TOut* y, SoftmaxRows rows = SoftmaxRows::kCpp,
                uint8_t* keep = nullptr, int64_t first_row = 0, int64_t last_row = -1);
// uint8 output: the int8 output's bytes (misc.cc), one instantiation for both.
template <>
void Qs8Softmax<uint8_t>(const ref::SoftmaxParams& p, const int8_t* x, uint8_t* y, SoftmaxRows rows, uint8_t* keep,
                         int64_t first_row, int64_t last_row);

// ---- BATCH_MATMUL with a log-grid left operand (P·V after a log-grid SOFTMAX: a_grid set) ----
// One product y[m][n] of a [m][k] (codes) and b [k][n] (int8), the reference's LogGridDot and
// requantization (kernels.h): with v[q] = c_q·2^(R − shifts[q]) − eta_q (c_q = 2^15, or kSqrt2Q15
// for a √2 code; 0 for the zero code and every byte >= n),
//   total = Σ_k v[a_ik]·(b_kj − z_b) = acc0·2^15 + acc1·kSqrt2Q15 − col·eta_q,
//   acc = ⌊(total + 2^14) / 2^15⌋, y = Requant(acc) (int64, per tensor).
// total is summed in double: every term and partial sum is an integer of magnitude at most
// k·max|b − z_b|·max|v|, exact while that is below 2^53 (LogGridMatMulInDouble; prepare keeps
// the reference otherwise). `v`: 256 coefficients (LogGridCoefficients), scratch:
// Qs8LogGridMatMulScratchBytes (b − z_b as doubles, rows padded to a multiple of 8).
void LogGridCoefficients(const ref::LogGrid& g, double* v);
bool LogGridMatMulInDouble(const ref::BatchMatMulParams& p, const double* v);
int64_t Qs8LogGridMatMulScratchBytes(const ref::BatchMatMulParams& p);
void Qs8LogGridMatMul(const ref::BatchMatMulParams& p, const double* v, const int8_t* a, const int8_t* b, int8_t* y,
                      double* scratch);

// ---- FULLY_CONNECTED with int16 activations (groups = 1, int8 weights or int4 ones unpacked) ----
// y[rows][units] = the reference's FullyConnected<int16_t> (kernels.h: the int64 accumulator
// requantized by MultiplyByQuantizedMultiplier64), from
//   acc[r][u] = folded_bias[u] + Σ_k x[r][k]·w[u][k],  folded_bias[u] = bias[u] − z_x·Σ_k w[u][k]
// (Int16FcFoldedBias, prepare-time). The depth is summed in blocks of `block` elements, each in
// int32 and then added in int64: Int16FcBlock(max |w|) keeps every partial sum of a block inside
// int32 (block·2^15·max|w| < 2^31). scratch: Int16FcScratchBytes(block) bytes, 8-byte aligned.
// The same source (int16_fc_impl.h) is compiled for the baseline here and for AVX2 in x86/rows.h's
// Qs16FullyConnectedAvx2; AVX-512 VNNI has its own kernel there (Qs16FullyConnectedAvx512).
int32_t Int16FcBlock(int32_t max_abs_weight, int32_t depth);
size_t Int16FcScratchBytes(int32_t block);
void Int16FcFoldedBias(const int8_t* w, int32_t units, int32_t depth, const int32_t* bias, int32_t input_zero_point,
                       int64_t* folded_bias);
void Qs16FullyConnected(const ref::FullyConnectedParams& p, const int16_t* x, const int8_t* w,
                        const int64_t* folded_bias, int32_t block, void* scratch, int16_t* y);

// ---- LAYER_NORM (int8 and int16, LayerNorm and RMS modes) ----
// isa: the per-element part of the rows by x86::Qs8LayerNormRowAvx512 / Qs8LayerNormRowAvx2
// (runtime/kernels/x86/rows.h) where their bounds hold (the caller has checked the CPU);
// otherwise plain C++. kAvx2 and kAvx512 exist in x86-64 builds only: elsewhere (aarch64) the
// caller passes kCpp, and any other value is a programming error (the rows stay plain C++).
enum class RowIsa : int32_t { kCpp = 0, kAvx2 = 1, kAvx512 = 2 };
// The per-channel constants of the kAvx512 rows (x86::LayerNormFloat): the largest |γ| and |β|,
// and for at most kLayerNormFloatChannels channels g = γ·m/2^r and b = β·m/2^r + zp in double
// and in float with their largest |g| and |b| (null and 0 for more channels). LayerNormConstsInit
// computes them from p into LayerNormConstsBytes(p) bytes of `memory` (8-byte aligned), which must
// outlive their use: once at prepare, or by Qs8LayerNorm / Qs16LayerNorm per call when the
// caller passes none.
struct LayerNormConsts {
  int64_t gamma_max = 0, beta_max = 0;
  const double* g = nullptr;
  const double* b = nullptr;
  const float* g32 = nullptr;
  const float* b32 = nullptr;
  double g_max = 0.0, b_max = 0.0;
};
constexpr int32_t kLayerNormFloatChannels = 1024;
size_t LayerNormConstsBytes(const ref::LayerNormParams& p);
LayerNormConsts LayerNormConstsInit(const ref::LayerNormParams& p, void* memory);
void Qs8LayerNorm(const ref::LayerNormParams& p, const int8_t* x, int8_t* y, RowIsa isa = RowIsa::kCpp,
                  const LayerNormConsts* consts = nullptr);
// The same for int16 codes (kAvx512: x86::Qs16LayerNormRowAvx512 where its bounds hold; kAvx2 has
// no int16 row, plain C++ there). Prepare uses it on avx512vnni only (the plain C++ rows alone are
// no faster than the reference).
void Qs16LayerNorm(const ref::LayerNormParams& p, const int16_t* x, int16_t* y, RowIsa isa = RowIsa::kCpp,
                   const LayerNormConsts* consts = nullptr);

// ---- RESIZE (nearest) and CONCAT with requantized inputs, by code tables ----
// table[c − min] = the reference's requantization (ref::detail::Rescale) of each code c of an
// 8-bit type T (256 entries); returns whether it is the identity (every code maps to itself).
template <typename T>
bool BuildRescaleTable(const ref::RescaleParams& p, T* table);
// RESIZE, nearest mode: rows[oh] and cols[ow] the source indices (ref::ResizeNearestIndices);
// table: BuildRescaleTable's (8-bit T), or null for the identity; an output row equal to the one
// before (the same source row) is copied.
template <typename T>
void ResizeNearest(const ref::ResizeParams& p, const int32_t* rows, const int32_t* cols, const T* table, const T* x,
                   T* y);
// CONCAT of 8-bit codes (ref::Concat): input i's rows copied when identity[i], else looked up in
// tables + 256·i.
template <typename T>
void ConcatTables(int32_t num_inputs, const T* const* inputs, const int32_t* axis_sizes, int32_t outer, int32_t inner,
                  const T* tables, const bool* identity, T* y);

// ---- MAX_POOL_2D / AVERAGE_POOL_2D (kMax), int8 or int16, dilation 1 ----
// The reference's codes (kernels.h). The int8 max separably (each column's max over the window's
// rows, then each window's over its columns; windows up to 256 columns wide), the average from each
// window's bounds per axis with the division by the inverse and its exact correction; the int16
// max and wider windows by the reference kernel itself.
template <typename T, bool kMax>
void Pool2D(const ref::Pool2DParams& p, const T* x, T* y);

// ---- global AVERAGE_POOL_2D (int8) ----
// One window covering each whole plane: 1×1 output, kernel = input size, no padding, dilation 1.
bool IsGlobalPool(const ref::Pool2DParams& p);
// The reference's average of such a window per plane (Σ(x − z) over in_h·in_w codes, the same
// rounded division and requantization), the sum vectorizable.
void Qs8GlobalAveragePool(const ref::Pool2DParams& p, const int8_t* x, int8_t* y);

// ---- depthwise CONV_2D (int8, groups = in_channels = out_channels, int8 weights) ----
// Per channel plane, x − input_zero_point is laid out as int16 in `scratch` with zeros where the
// window leaves the input (the reference skips those taps: their x − zp counts as 0), then every
// output sums its kernel_h·kernel_w taps in int32 (the same integers as the reference, which
// prepare bounds below 2^31) and is requantized by the reference's own per-channel function.
// avx512 (x86-64 builds only; the caller has checked the CPU), which also takes a groups = 1 conv
// with one input channel (w [C_out][1][kH][kW], the same layout) that PairsConv accepts: where
// PairsConv holds, per channel its padded plane and x86::PairsChannelAvx512 (rows.h), NCHW in and
// out; otherwise per image the input transposed to channels last, the weights to [tap][channel]
// int32, x86::Qs8DepthwiseChannelsLastAvx512 over 16 channels at a time, and its
// [position][channel] codes transposed back to NCHW.
// scratch holds Qs8DepthwiseScratchBytes(p) bytes (either way), 4-byte aligned. `transpose`: the
// avx512 path's NCHW ↔ channels-last copies (TransposeBytesFor, qs8_gemm.h).
// FULLY_CONNECTED and CONV_2D (groups = 1) with group-scaled weights (kernels.h: Σ_g m·a_g, each group
// sum a_g exact in int32) on int8 activations, the weight's codes given as int8 [units][depth] (an int4
// weight unpacked at prepare); group_size <= 4096 and depth <= 2^24 (what prepare gives). Per row, or
// per output position of the conv (its patch in the weight's own depth order, padding x = z_x), x − z_x
// once as int16 into `scratch` (depth values), then each unit's group sums over it: int16 × int8
// products, plain C++ that -O3 vectorizes. The same integers as the reference in the same order: the
// reference's codes. group_scaled.cc.
// ref::detail::GroupScaledOutput out of line, compiled for the architecture's baseline: the
// optimized sets' kernels call it for their rare lanes instead of instantiating the reference's
// inline functions in their own translation units (compiled with other target flags).
int32_t GroupScaledOutputCode(const ref::RequantParams& requant, const int32_t* bias, int32_t u, int64_t t);
void Qs8GroupScaledFc(const ref::FullyConnectedLowBitParams& p, const int8_t* x, const int8_t* w, const int32_t* bias,
                      int16_t* scratch, int8_t* y);
void Qs8GroupScaledConv2D(const ref::Conv2DGroupScaledParams& p, const int8_t* x, const int8_t* w,
                          const int32_t* bias, int16_t* scratch, int8_t* y);
size_t Qs8DepthwiseScratchBytes(const ref::Conv2DParams& p);
// The convolutions the avx512 path computes a channel's plane at a time, straight from and into
// NCHW (x86::PairsChannelAvx512): one input plane per output channel (depthwise, or groups = 1
// with one input channel: only these), stride_w 1 or 2, dilation 1, output rows of 8 or more, at
// most 32 pair weights (kernel_h·⌈kernel_w / 2⌉). Other depthwise convolutions take the
// channels-last kernel.
bool PairsConv(const ref::Conv2DParams& p);
// x86-64 builds, the CPU has AVX-512 VNNI: output planes [first, last) of a PairsConv convolution,
// item n·C_out + c the plane of image n and output channel c (Qs8DepthwiseConv2D's avx512 path is
// all of them), with a scratch of Qs8DepthwiseScratchBytes(p) bytes of its own (threads may share
// the items out, each with its own scratch).
void Qs8PairsConvItems(const ref::Conv2DParams& p, const int8_t* x, const int8_t* w, const int32_t* bias,
                       int16_t* scratch, int8_t* y, int64_t first, int64_t last);
void Qs8DepthwiseConv2D(const ref::Conv2DParams& p, const int8_t* x, const int8_t* w, const int32_t* bias,
                        int16_t* scratch, int8_t* y, bool avx512 = false, TransposeBytesFn transpose = &TransposeBytes);

}  // namespace squint::rt::portable
