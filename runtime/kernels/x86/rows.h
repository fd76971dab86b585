// The x86-64 vector rows of SOFTMAX, LAYER_NORM and ADD / SUB, the depthwise conv and the vector
// LUT, that portable/misc.cc calls when its caller asks for them (Qs8Softmax's SoftmaxRows,
// Qs8LayerNorm's RowIsa, Qs8Binary's BinaryFloat, Qs8Lut's vbmi): defined in avx2.cc,
// avx512vnni_rows.cc (the depthwise conv in avx512vnni.cc) and avx512vbmi.cc, compiled with those
// sets' target flags; call only after the CPU check.
#pragma once

#include <cstdint>

#include "runtime/kernels/portable/misc.h"
#include "runtime/kernels/reference/kernels.h"

// A loop over a few rows unrolled n times (so that GCC keeps each row's registers by constant
// indices), in the x86 translation units; no unrolling where the build optimizes for size
// (bench/footprint.sh's -Os library: one copy of each loop, the same work in the same order).
#define SQUINT_PRAGMA_(x) _Pragma(#x)
#if defined(__OPTIMIZE_SIZE__)
#define SQUINT_UNROLL_ROWS(n)
#else
#define SQUINT_UNROLL_ROWS(n) SQUINT_PRAGMA_(GCC unroll n)
#endif

namespace squint::rt::x86 {

// Whole rows (avx512vnni_rows.cc): the kept elements' max, min and Σe = sum >= 1, and the output
// bytes: u + output_zero_point for a kept element, output_zero_point otherwise, where
// u = clamp(⌊(⌊(scale·e_d + ⌊sum/2⌋) / sum⌋ + γ·2^24 + 2^(drop−1)) / 2^drop⌋, 0, 2^bits − 1),
// d = max − x, scale = clip_scale_q16·256, exactly as the reference (prepare bounds scale <= 2^28
// and e_d <= 2^30 <= sum·2^30, so every quotient fits 32 bits). The codes are tabulated per d (8 a
// step) up to max − min or the first d with u = 0, found first from the exp table alone (u is
// non-increasing in d; larger d are capped there); e_d and the codes are looked up by vpermi2d from registers when their range is at most
// 128 entries, else by gathers. mr: the row's mask bytes (element i kept when mr[i] != 0), or null
// when every element is kept. count (1 or 2) such rows, the first halves of both before the
// second halves (their latency chains overlap).
void Qs8SoftmaxRowsAvx512(const ref::SoftmaxParams& p, int32_t count, const int8_t* const xr[2],
                          const uint8_t* const mr[2], uint8_t* const yr[2]);

// The SOFTMAX rows on AVX-512 VBMI (avx512vbmi_softmax.cc, which states the method; the CPU
// condition of Qs8LutAvx512Vbmi), the same bytes as Qs8SoftmaxRowsAvx512, up to kSoftmaxVbmiGroup
// rows a call. Per call, SoftmaxVbmiTables holds the exp table as four byte planes (plane k: byte
// k of e_d, so that Σe = Σ_k 2^8k·Σ plane_k[d], each sum exact over bytes looked up by vpermb in
// the plane's 64-entry quarters), where the planes have non-zero bytes (quarters[k]: plane k is 0
// from d = 64·quarters[k] on; planes_in[j]: every plane from planes_in[j] on is 0 in quarter j,
// d in [64j, 64j + 64)), the table as floats in the order the codes' packing wants (e_float), the
// float codes' constants and d_zero: u(d) = 0 in every row for d >= d_zero (256 when no such d;
// e_float and d_zero are set for rows longer than 64 only).
constexpr int32_t kSoftmaxVbmiGroup = 4;
struct SoftmaxVbmiTables {
  alignas(64) uint8_t planes[4][256];
  int32_t quarters[4] = {}, planes_in[4] = {};
  alignas(64) float e_float[256];
  float scale_pot = 0, inv_pot = 0, round_pot = 0;  // scale/2^drop, 1/2^drop, round/2^drop
  float eps = 0;                                     // the float codes' margin (∞: all exact)
  int32_t u_max = 0, zero_code = 0, d_zero = 256;
};
void SoftmaxVbmiTablesInit(const ref::SoftmaxParams& p, SoftmaxVbmiTables* t);
// count (1 .. kSoftmaxVbmiGroup) rows, their stages interleaved; mr[r]: the row's mask bytes or null.
void Qs8SoftmaxRowsAvx512Vbmi(const ref::SoftmaxParams& p, const SoftmaxVbmiTables& t, int32_t count,
                              const int8_t* const xr[kSoftmaxVbmiGroup], const uint8_t* const mr[kSoftmaxVbmiGroup],
                              uint8_t* const yr[kSoftmaxVbmiGroup]);

// The LAYER_NORM rows' requantization divides by 2^r, r = 31 − shift, in one of two ways (r <= 32
// or r > 32): per lane (per-channel shifts), or one way for the whole row (a per-tensor shift),
// the other not computed. kNarrow: every |acc| of the row is below 2^32 (the caller's bound), so
// |acc|·multiplier < 2^63 is one 32×32-bit product and the rounding one add and shift, any r.
enum RequantCase { kPerLane = 0, kShortShift = 1, kLongShift = 2, kNarrow = 3 };

// A LAYER_NORM row's statistics (avx512vnni_rows.cc, 32 codes a step): Σv and Σv² over v = x − z,
// and the smallest and largest code, for channels in [1, 32768] (so |Σv| < 2^23, Σv² < 2^31).
struct RowStats {
  int32_t sum = 0;
  uint32_t sum_sq = 0;
  int32_t lo = 127, hi = -128;
};
// out[r] for count (1 to 8) rows, `channels` codes apart from x: the rows' loops side by side,
// their reductions together.
void Qs8RowStats8Avx512(const int8_t* x, int32_t count, int32_t channels, int32_t z, RowStats* out);
// The same of an int16 row, z = 0 (LayerNorm mode): |Σx| <= 2^30, Σx² < 2^46 for C <= 32768.
struct Row16Stats {
  int32_t sum = 0;
  int64_t sum_sq = 0;
  int32_t lo = 32767, hi = -32768;
};
Row16Stats Qs16RowStatsAvx512(const int16_t* xr, int32_t channels);

// Per channel c of a LAYER_NORM call, in double: g = γ_c·m/2^r and b = β_c·m/2^r + zp (the
// channel's requantization m, r = 31 − shift, and output zero point). With them a row whose
// |n|·|g| + |b| stays below 2^21 computes its outputs in double (n the nearest integer of
// q = w·up / root, each output the rounding of n·g + b, clamped), and exactly, in int64, the
// 8-channel steps where q or an output is within its estimate's error of a rounding boundary
// (avx512vnni_rows.cc, LayerNormRowFloat512). g32, b32: the same in float, for int8 rows whose
// |n|·|g| + |b| stays below a bound under 2^18 (LayerNormRowFloat32: 16 channels a step, the
// steps near a boundary in double).
struct LayerNormFloat {
  const double* g = nullptr;
  const double* b = nullptr;
  const float* g32 = nullptr;
  const float* b32 = nullptr;
};

// One row's outputs (avx512vnni_rows.cc, 8 channels per step), given the row's constants: z (RMS zero
// point or 0), sum (Σ(x − z), 0 in RMS mode), up = 2^up_log2, root > 0, inv ≈ 1/root. Per channel:
// w = C·(x − z) − sum, n = ⌊w·up / root⌉ (ties away from zero), acc = n·γ + β, y = requant(acc)
// exactly as the reference. Precondition: |w|·up / root < 2^29 for every code of the row and
// |w| < 2^24 (so n, q fit 32 bits and the double estimate of q is off by at most one).
// narrow: |acc| < 2^32 for every channel of the row (the caller's bound; kNarrow above). f: the
// call's LayerNormFloat when the row meets its bound, or null. y_bound32: 0, or (with f, g32 and
// b32 set) a bound below 2^18 on the row's |n|·|g| + |b| with |q| < 2^21: the
// float rows.
void Qs8LayerNormRowAvx512(const ref::LayerNormParams& p, const int8_t* xr, int32_t z, int64_t sum,
                           int32_t up_log2, int64_t root, double inv, bool narrow, const LayerNormFloat* f,
                           double y_bound32, int8_t* yr);
// The same for an int16 row (the same preconditions; no float rows).
void Qs16LayerNormRowAvx512(const ref::LayerNormParams& p, const int16_t* xr, int32_t z, int64_t sum,
                            int32_t up_log2, int64_t root, double inv, bool narrow, const LayerNormFloat* f,
                            int16_t* yr);
// The same in avx2.cc, 4 channels a step, for channels [0, C − C mod 4); returns that count (the
// caller does the rest).
int32_t Qs8LayerNormRowAvx2(const ref::LayerNormParams& p, const int8_t* xr, int32_t z, int64_t sum,
                            int32_t up_log2, int64_t root, double inv, int8_t* yr);

// Depthwise CONV_2D of one image in channels-last order (avx512vnni.cc, 16 channels a step):
// xt[ih][iw][c] (C = p.in_channels = p.out_channels); wt[t][c] the weights of tap
// t = kh·kernel_w + kw as int16 in the low half of an int32 whose high half is 0, in rows of C
// rounded up to 16 (zeros past C), bias [C] or null; yt[oh·out_w + ow][c] = the reference's output
// code (kernels.h CONV_2D: taps outside the image skipped, the per-channel or per-tensor int32
// MultiplyByQuantizedMultiplier of fixed_point.h). Precondition: prepare's bound |acc| < 2^31.
void Qs8DepthwiseChannelsLastAvx512(const ref::Conv2DParams& p, const int8_t* xt, const int32_t* wt,
                                    const int32_t* bias, int8_t* yt);

// Convolutions of one input plane per output channel (depthwise, or groups = 1 with one input
// channel) with stride_w 1 or 2 and dilation 1, straight from and into NCHW (avx512vnni.cc;
// portable::PairsConv says which). PadPlaneAvx512 writes the padded plane of input plane xc
// (in_h × in_w codes) as p pads it, `rows` × pitch int16: plane[i][j] = x − z_x at input
// (i − pad_top, j − pad_left), 0 outside the input (so the taps outside the image add 0, as the
// reference skips them). PairsChannelAvx512 computes one output channel yc[oh][ow] from it: 32
// output columns a block in two accumulators' int32 lanes, each kernel row ⌈kernel_w / 2⌉ vpdpwssd
// per accumulator on the plane's int16 column pairs, (x[s·o + kw], x[s·o + kw + 1]) times
// (w[kw], w[kw + 1]) with w[kernel_w] = 0 (s = stride_w); wc[kh][kw]
// int8, then the requantization (multiplier, shift) with p.requant's output stage. The same
// output codes as Qs8DepthwiseChannelsLastAvx512. Preconditions: |acc| < 2^31,
// kernel_h·⌈kernel_w / 2⌉ <= kPairsMaxWeights, rows >= (out_h − 1)·stride_h + kernel_h,
// pitch >= (out_w − 1)·stride_w + kernel_w, and kPairsSlack int16 readable after the rows × pitch
// (read into lanes whose outputs are not stored).
constexpr int32_t kPairsMaxWeights = 32, kPairsSlack = 64;
void PadPlaneAvx512(const ref::Conv2DParams& p, const int8_t* xc, int64_t rows, int64_t pitch, int16_t* plane);
void PairsChannelAvx512(const ref::Conv2DParams& p, const int16_t* plane, int64_t pitch, const int8_t* wc,
                        int32_t bias, int32_t multiplier, int32_t shift, int8_t* yc);

// ADD / SUB over n elements of a and b (avx512vnni_rows.cc, 16 a step): portable::BinaryFloat's code
// where the estimate is outside the margin, table[(uint8)a·256 + (uint8)b] for the other lanes.
void Qs8BinaryFloatAvx512(const portable::BinaryFloat& f, const int8_t* table, int64_t n, const int8_t* a,
                          const int8_t* b, int8_t* y);

// int16 ADD (sign 1) / SUB (sign −1) of n elements of a and b (avx512vnni.cc, 16 a step): the
// reference's three int32 requantizations (per tensor) in 32-bit lanes, the same codes.
void Qs16AddSubAvx512(const ref::ElementwiseParams& p, int32_t sign, int64_t n, const int16_t* a, const int16_t* b,
                      int16_t* y);

// REQUANTIZE of n int16 codes (avx512vnni.cc, 16 a step): the reference's int32 requantization
// (ref::Requantize), into int8, uint8 (out_bytes 1: the codes are inside the output's activation
// range) or int16 (out_bytes 2) codes.
void Qs16RequantizeAvx512(const ref::RescaleParams& p, int64_t n, const int16_t* x, void* y, int32_t out_bytes);

// portable::QuantizeFloats (misc.h, the same codes) on AVX-512 (avx512vnni_rows.cc, 16 a step): the
// quotient by a product with 1/scale in double; a lane within 2^-30 of a tie takes the division.
// out_bytes 1: int8 or uint8 codes, 2: int16.
void QuantizeFloatsAvx512(const float* v, int64_t n, float scale, int32_t zero_point, int32_t lo, int32_t hi,
                          void* y, int32_t out_bytes);

// y[i] = table[(uint8)x[i]] for i < count (avx512vbmi.cc; the CPU must have AVX-512 VBMI:
// Avx512VbmiSupported() in dispatch.h). table: 256 bytes.
void Qs8LutAvx512Vbmi(int64_t count, const int8_t* table, const int8_t* x, int8_t* y);
// y[i] = table[x[i]] for int16 entries, table[c] readable for c in [−128, 127] (avx512vbmi.cc;
// the same CPU condition; not in the -Os library).
void Qs8ToQs16LutAvx512Vbmi(int64_t count, const int16_t* table, const int8_t* x, int16_t* y);

// y[i] = the table's entry for code x[i] (portable::Qs16Lut's contract: entry x[i] − min_code, the
// table covering every int16 code, table_size >= 2), saturated to int8 (out_bytes 1) or as it is
// (out_bytes 2); 16 codes a step by vpgatherdd (avx512vnni_rows.cc; not in the -Os library).
void Qs16LutAvx512(int64_t count, const int16_t* table, int32_t table_size, int32_t min_code, const int16_t* x,
                   void* y, int32_t out_bytes);

// ref::Hadamard (kernels.h: the same codes) on AVX-512 (avx512vnni_hadamard.cc; not in the -Os
// library), for blocks whose Sylvester segments block / k are at least kHadamardAvx512MinSegment
// channels; p.scratch holds HadamardAvx512ScratchInts int32 (the reference's 2·block, then h_k's
// k·k entries as offsets).
constexpr int32_t kHadamardAvx512MinSegment = 16;
inline int64_t HadamardAvx512ScratchInts(int32_t block, int32_t k) {
  return 2 * int64_t{block} + (k > 1 ? int64_t{k} * k : 0);
}
void HadamardAvx512(const ref::HadamardParams& p, const int8_t* x, int8_t* y);
void HadamardAvx512(const ref::HadamardParams& p, const int16_t* x, int8_t* y);

// portable::TransposeBytes (qs8_gemm.h) by vpermb, 8 × 8 bytes a step (avx512vbmi.cc; the same
// CPU condition): t[j][i] = x[i][j] for an x of rows × cols bytes.
void TransposeBytesAvx512Vbmi(const int8_t* x, int64_t rows, int64_t cols, int8_t* t);

// The log-grid P·V product (portable::Qs8LogGridMatMul's contract and scratch) compiled for
// AVX-512 (avx512vnni_log_grid.cc).
void Qs8LogGridMatMulAvx512(const ref::BatchMatMulParams& p, const double* v, const int8_t* a, const int8_t* b,
                            int8_t* y, double* scratch);

// portable::Qs16FullyConnected (misc.h, the same contract) compiled for AVX2 from the same
// source (avx2_int16_fc.cc: vpmaddwd), and on AVX-512 VNNI (avx512vnni_int16_fc.cc: vpdpwssd with
// the units in the lanes), where w is the weight packed by PackQs16FcAvx512 (prepare-time,
// Qs16FcAvx512PackedBytes bytes) and the scratch Qs16FullyConnectedAvx512ScratchBytes() bytes.
void Qs16FullyConnectedAvx2(const ref::FullyConnectedParams& p, const int16_t* x, const int8_t* w,
                            const int64_t* folded_bias, int32_t block, void* scratch, int16_t* y);
size_t Qs16FcAvx512PackedBytes(int32_t units, int32_t depth);
void PackQs16FcAvx512(const int8_t* w, int32_t units, int32_t depth, int8_t* packed);
void Qs16FullyConnectedAvx512(const ref::FullyConnectedParams& p, const int16_t* x, const int8_t* packed,
                              const int64_t* folded_bias, int32_t block, void* scratch, int16_t* y);
size_t Qs16FullyConnectedAvx512ScratchBytes();

}  // namespace squint::rt::x86
