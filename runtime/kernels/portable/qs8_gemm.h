// Optimized int8 GEMM for FULLY_CONNECTED (int8 activations, int8 symmetric weights, groups = 1):
// the contract shared by the per-ISA microkernels (avx2.cc, avx512vnni.cc) and the prepare step.
//
// Math. The reference kernel (kernels.h, FULLY_CONNECTED) computes, per row r and unit n,
//   acc[r][n] = bias[n] + Σ_k (x[r][k] − z_x)·w[n][k]
//             = Σ_k (x[r][k] + o)·w[n][k]  +  (bias[n] − (z_x + o)·Σ_k w[n][k])
// for any activation offset o. A kernel feeds the codes x + o to its dot-product instruction
// (o = 0 for AVX2's int16 vpmaddwd, o = 128 for VNNI's unsigned-by-signed vpdpbusd) and starts
// its accumulators at the folded bias b'[n] = bias[n] − (z_x + o)·Σ_k w[n][k], computed once at
// prepare. All int32 sums are taken modulo 2^32 (SIMD adds wrap); prepare has checked
// Int8DotFitsInt32, so the true acc fits int32 and the wrapped sum equals it exactly.
// The output is then the reference's requantization, bit for bit:
//   y = clamp(RoundingDivideByPOT(SRDHM(sat32(acc·2^left), multiplier), right) + zero_point,
//             act_min, act_max),  left = max(shift, 0), right = max(−shift, 0)     (fixed_point.h)
//
// Layouts (k_pad = depth rounded up to kr; nr, kr, element size from the kernel descriptor):
//   weight panels: panel p holds units [p·nr, p·nr + nr); inside it, element (g, j, i) at
//     index (g·nr + j)·kr + i is w[p·nr + j][g·kr + i], 0 past `units` or `depth`; int8 or int16
//     elements (weight_bytes); panels follow one another, each 64-byte aligned in size.
//   per-unit arrays (folded bias, multiplier, left shift, right shift): int32, padded with zeros
//     to a whole number of panels so that a kernel may load full vectors.
//   scratch: the kernel's packed activations, rows × k_pad elements of weight_bytes each.
// Everything here is plain C++ (no intrinsics) for any target: the ISA translation units
// (runtime/kernels/x86, runtime/kernels/arm) hold the only vector code, and export just their
// descriptor (no inline functions cross translation units compiled with different target flags).
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/dispatch.h"
#include "runtime/kernels/reference/kernels.h"

namespace squint::rt::portable {

// Optional parallelism of one call: run(pool, task, ctx, n) calls task(ctx, i) for every i in
// [0, n), possibly concurrently, and returns when all are done (runtime/thread_pool.h). Unset or
// threads = 1: serial. A call is split only when each thread gets min_part_macs or more; the split is over rows (each thread packs its rows and computes them against every
// panel) or, when the rows are too few, over whole panels of units. Every output code is computed
// by the same instructions whatever the thread count.
struct Qs8Parallel {
  void (*run)(void* pool, void (*task)(void* ctx, int32_t index), void* ctx, int32_t n) = nullptr;
  void* pool = nullptr;
  int32_t threads = 1;
  // The fewest multiply-accumulates worth a thread. Below about 4 M, moving the activations
  // between the cores' caches costs more than the second thread saves: vit_tiny's GEMMs, 2–4 M
  // MACs each, made the model 1.7x slower on two threads when all were split (docs/benchmarks.md,
  // "Two threads"). Tests lower it to split small shapes.
  int64_t min_part_macs = int64_t{1} << 22;
};

// One call: y[rows][units] from x[rows][depth] (row-major, int8) with a packed block.
struct Qs8GemmParams {
  int32_t rows = 0, units = 0, depth = 0;
  const void* weights = nullptr;        // panels (see above)
  const int32_t* bias = nullptr;        // folded bias b'[n]
  const int32_t* multiplier = nullptr;  // per unit (a per-tensor requant is expanded)
  const int32_t* left_shift = nullptr;
  const int32_t* right_shift = nullptr;
  int32_t zero_point = 0, act_min = -128, act_max = 127;
  // Per unit, the AVX-512 VNNI tiles' float output stage (x86/avx512vnni.cc, FloatOutputs):
  // float(multiplier)·2^−(31+r) where the unit has no left shift and a right shift r >=
  // kQs8FloatOutputMinShift, else 0; and δ = 2^−13 + 2^−(min(r, 12) + 1).
  const float* float_scale = nullptr;
  const float* float_delta = nullptr;
  const int32_t* row_bias = nullptr;  // [rows] added to every unit of a row, or null (Qs8MatMul's z_b term)
  void* scratch = nullptr;            // Qs8GemmScratchBytes(kernel, rows, depth) bytes
  Qs8Parallel parallel;
};

// CONV_2D's patch rows read in place (an implicit GEMM, Qs8GemmKernel::conv_tiles): the input
// image channels-last with its padding around it, every code as the kernel's packed byte
// (x XOR o; the padding z_x XOR o), `pitch` bytes per padded row of pixels `channels` bytes each.
// Output position pos = oh·out_w + ow (GEMM row pos) reads `segments` runs (one per kernel row
// kh), each of `segment_groups` whole kr-byte groups (kernel_w·channels bytes, a multiple of kr:
// dilation_w = 1), the run of kh at image + oh·stride_h·pitch + ow·stride_w·channels +
// kh·segment_step (segment_step = dilation_h·pitch): exactly row pos of the patch matrix.
struct Qs8ConvRows {
  const uint8_t* image = nullptr;
  int64_t pitch = 0, segment_step = 0;
  int32_t channels = 0, out_w = 0, stride_h = 0, stride_w = 0, segments = 0, segment_groups = 0;
  size_t panel_bytes = 0;  // the distance between the weight panels of p.weights
};

// A microkernel and the layout it reads. `name` follows <type>_<op>_<tile>__<isa>. The ISA
// translation unit provides the two vector steps; the loops around them (Qs8Gemm) are shared.
struct Qs8GemmKernel {
  const char* name;
  int32_t mr;                 // rows per register tile
  int32_t nr;                 // units per panel
  int32_t kr;                 // depth per group
  int32_t weight_bytes;       // 1: int8 panel and scratch elements, 2: int16
  int32_t activation_offset;  // o above
  // a[r][k] = x[r][k] + o as the kernel's element, for r < rows, k < depth; 0 for depth <= k < k_pad.
  void (*pack_activations)(const int8_t* x, int32_t rows, int32_t depth, size_t k_pad, void* a);
  // Output rows [0, m) (m <= mr) × units [n0, n0 + nr) of which `valid` exist: a = packed row 0
  // (rows k_pad elements apart), w = the panel of unit n0, row_bias = the rows' extra bias or
  // null, y = output row 0 (rows p.units apart).
  void (*tile)(const Qs8GemmParams& p, int32_t m, const void* a, size_t k_pad, const void* w, int32_t n0,
               int32_t valid, const int32_t* row_bias, int8_t* y);
  // BATCH_MATMUL's right operand b [depth][units] (row-major int8) → every byte of the
  // ⌈units/nr⌉ panels (panel_bytes apart; zeros past units or depth), and col_term[j] =
  // col_scale·Σ_d b[d][j] modulo 2^32 for j < ⌈units/nr⌉·nr (0 past units). Null: Qs8MatMul's
  // plain C++ packing.
  void (*pack_columns)(const int8_t* b, int32_t depth, int32_t units, size_t k_pad, size_t panel_bytes, void* panels,
                       int32_t col_scale, int32_t* col_term);
  // y[rows][units] = the GEMM of p on the patch rows of `r` (above) instead of packed
  // activations, single-threaded (every panel, every row tile), for p.rows >= kConvTilesMinRows.
  // Null: the set has none (im2col).
  void (*conv_tiles)(const Qs8GemmParams& p, const Qs8ConvRows& r, int8_t* y);
  // `tile` over `panels` consecutive panels from unit n0 (w their first, panel_bytes apart), the
  // same codes as one tile call per panel, for kernels with a per-call set-up to share (AMX's
  // tile configuration). Null: the sweep calls `tile` per panel.
  void (*row_panels)(const Qs8GemmParams& p, int32_t m, const void* a, size_t k_pad, const void* w, size_t panel_bytes,
                     int32_t n0, int32_t panels, const int32_t* row_bias, int8_t* y) = nullptr;
  // terms[r] = scale·Σ_{i<depth} x[r·depth + i] + offset modulo 2^32 for r < rows (BATCH_MATMUL's
  // row terms when b has a zero point). Null: Qs8MatMul's plain C++ sums.
  void (*sum_rows)(const int8_t* x, int32_t rows, int32_t depth, int32_t scale, int32_t offset, int32_t* terms) = nullptr;
  // `tile` of m < mr rows costs about m/mr of a whole tile: the GEMM's sweep leaves a last
  // partial tile in place instead of moving it back over rows of the tile before.
  bool tails_in_place = false;
};
// conv_tiles' fewest output positions: every tile is a whole 8-row tile (the last one moved back
// to end at the last row, recomputing some rows with the same instructions), so that the
// library holds one tile instantiation for the patch rows instead of one per row count.
constexpr int32_t kConvTilesMinRows = 8;

// y = FULLY_CONNECTED(x) with kernel k: packs the activations into p.scratch, then sweeps the
// panels in chunks that fit the L2 cache, row tile by row tile (with p.parallel: each thread a
// contiguous range of rows, or of panels; see Qs8Parallel). Invoke-time: no allocation.
void Qs8Gemm(const Qs8GemmKernel& k, const Qs8GemmParams& p, const int8_t* x, int8_t* y);
// The same on activations already packed in p.scratch (pack_activations' layout: rows × k_pad).
void Qs8GemmPacked(const Qs8GemmKernel& k, const Qs8GemmParams& p, int8_t* y);

// The microkernel of an instruction set (defined in its translation unit: x86/avx2.cc,
// x86/avx512vnni.cc, arm/neon.cc, arm/neondot.cc), or null when the set has none in this build
// (kReference, kAuto, the other architecture's sets). Call it only after IsaSupported (dispatch.h).
// depth, rows: the GEMM's (0: unknown). avx512vnni: qs8_gemm_32x32c4__amx where AmxSupported()
// and depth >= kAmxMinDepth, or rows >= kAmxMinRows and depth >= kAmxMinRowsDepth (a pointwise
// convolution over many positions); else qs8_gemm_8x32c4__avx512vnni: on small products a tile
// call's fixed cost (tile configuration, the zero-padded copies of a partial depth step, C
// through memory) outweighs AMX's speed (docs/benchmarks.md, "Fast kernels").
constexpr int32_t kAmxMinDepth = 256, kAmxMinRows = 128, kAmxMinRowsDepth = 64;
const Qs8GemmKernel* Qs8GemmKernelFor(Isa isa, int32_t depth = 0, int64_t rows = 0);

// Byte offsets of the parts of a packed block (the block itself 64-byte aligned).
struct Qs8GemmLayout {
  size_t weights = 0, bias = 0, multiplier = 0, left_shift = 0, right_shift = 0, float_scale = 0, float_delta = 0,
         total = 0;
};
// The smallest right shift of Qs8GemmParams::float_scale's units (smaller ones: the integer
// requantization; the float stage's margin, 2^−(r+1), would send too many rows to it).
constexpr int32_t kQs8FloatOutputMinShift = 8;
// The float output stage's constants (x86/avx512vnni.cc, FloatOutputs) of a requantization with
// no left shift and right shift r in [0, 31]: float(multiplier)·2^−(31+r) (float(multiplier)
// rounded to nearest, then an exact power of two), and δ = 2^−13 + 2^−(min(r, 12) + 1).
float Qs8FloatOutputScale(int32_t multiplier, int32_t right_shift);
float Qs8FloatOutputDelta(int32_t right_shift);
Qs8GemmLayout Qs8GemmPackedLayout(const Qs8GemmKernel& k, int32_t units, int32_t depth);
size_t Qs8GemmScratchBytes(const Qs8GemmKernel& k, int32_t rows, int32_t depth);

// The constant part of one FULLY_CONNECTED: weight w [units][depth] (int8, symmetric), bias
// [units] or null, the activation zero point and the output requantization (count 1 or units).
struct Qs8GemmProblem {
  int32_t units = 0, depth = 0;
  const int8_t* w = nullptr;
  const int32_t* bias = nullptr;
  int32_t input_zero_point = 0;
  ref::RequantParams requant;
};
// Writes the block (Qs8GemmPackedLayout(k, units, depth).total bytes at `block`). Prepare-time.
void PackQs8Gemm(const Qs8GemmKernel& k, const Qs8GemmProblem& problem, void* block);
// Points p's weights/bias/requant arrays into a packed block and copies the output constants.
void BindQs8Gemm(const Qs8GemmKernel& k, const Qs8GemmProblem& problem, const void* block, Qs8GemmParams* p);

// ---- BATCH_MATMUL on the same microkernels ----
// One int8 matrix product of two activations, a [m][depth] and b [depth][n] (row-major), with a
// per-tensor requantization (kernels.h BATCH_MATMUL):
//   acc[i][j] = Σ_k (a[i][k] − z_a)(b[k][j] − z_b)
//             = Σ_k (a[i][k] + o)·b[k][j]  −  (z_a + o)·Σ_k b[k][j]  −  z_b·Σ_k (a[i][k] − z_a)
// b's raw codes are the panel "weights" (packed per call into scratch with the column term as
// the folded bias); the row term is the tile's row_bias. All sums wrap modulo 2^32 as in the
// GEMM, exact because prepare checked Int8MatMulFitsInt32. p holds the requant arrays (a block
// packed with depth 0: no panels, n padded per-unit arrays), rows = m, units = n, depth.
size_t Qs8MatMulScratchBytes(const Qs8GemmKernel& k, int32_t m, int32_t n, int32_t depth);
void Qs8MatMul(const Qs8GemmKernel& k, const Qs8GemmParams& p, int32_t a_zero_point, int32_t b_zero_point,
               const int8_t* a, const int8_t* b, int8_t* y);

// ---- CONV_2D (groups = 1) on the same microkernels, by im2col ----
// Per image: the input in channels-last order (xt[ih][iw][ic]; the NCHW input as it is when
// in_channels = 1), then the patch matrix col[pos][(kh·kernel_w + kw)·in_channels + ic] =
// xt[ih][iw][ic], or the input zero point where (ih, iw) is padding (so that x − z_x = 0 there, as
// the reference skips it), pos = oh·out_w + ow: with dilation_w = 1 the kernel columns inside the
// image are one contiguous run of xt per kernel row (memcpy), and a 1×1 kernel with stride 1 and
// no padding uses xt itself. A kernel whose packed element is one byte x XOR o (weight_bytes 1,
// o = 0 or 128: VNNI and NEON) gets the patch matrix written as its packed rows (the codes flipped,
// rows k_pad apart, zeros to k_pad) straight into its scratch, with no packing pass. Then the
// FULLY_CONNECTED GEMM with the weight reordered at prepare to the same depth order (ReorderConvWeights: w'[oc][(kh·kernel_w + kw)·in_channels + ic] =
// w[oc][ic][kh][kw], a permutation of each unit's depth, so every sum is the reference's), rows =
// out_h·out_w, into [pos][C_out], transposed into the NCHW output. With a kernel's conv_tiles
// (AVX-512 VNNI), when kernel_w·in_channels is a multiple of kr, dilation_w = 1 and the call is
// single-threaded, no patch matrix at all: the channels-last input is copied once into a padded,
// packed image (Qs8ConvRows) that the tiles read in place. p: the packed FC block of w'
// (units = out_channels, depth D = in_channels·kernel_h·kernel_w, rows = out_h·out_w).
void ReorderConvWeights(const ref::Conv2DParams& c, const int8_t* w, int8_t* reordered);
// t[j][i] = x[i][j] for an x of rows × cols bytes (NCHW ↔ channels-last; also the depthwise conv's).
void TransposeBytes(const int8_t* x, int64_t rows, int64_t cols, int8_t* t);
// The fastest TransposeBytes for a prepared op of instruction set `isa` (prepare-time): on
// avx512vnni with AVX-512 VBMI (Avx512VbmiSupported) x86::TransposeBytesAvx512Vbmi (vpermb,
// x86/rows.h), else the plain C++ one above. Every one writes the same bytes.
using TransposeBytesFn = void (*)(const int8_t* x, int64_t rows, int64_t cols, int8_t* t);
TransposeBytesFn TransposeBytesFor(Isa isa);
size_t Qs8Conv2DScratchBytes(const Qs8GemmKernel& k, const ref::Conv2DParams& c);
// A convolution's padded input along one axis: the input at pad_before, and room for every tap of
// every output position (in + pad_before, or more when the windows reach past the end).
int64_t PaddedSize(int32_t in, int32_t pad_before, int32_t out, int32_t stride, int32_t kernel, int32_t dilation);
// `transpose`: the NCHW ↔ channels-last copies (TransposeBytesFor).
void Qs8Conv2D(const Qs8GemmKernel& k, const Qs8GemmParams& p, const ref::Conv2DParams& c, const int8_t* x, int8_t* y,
               TransposeBytesFn transpose = &TransposeBytes);

}  // namespace squint::rt::portable

// The descriptors themselves, one per ISA translation unit of this build's architecture.
#if defined(SQUINT_X86_KERNELS)
namespace squint::rt::x86 {
extern const portable::Qs8GemmKernel kQs8Gemm4x16c2Avx2;
extern const portable::Qs8GemmKernel kQs8Gemm8x32c4Avx512Vnni;
extern const portable::Qs8GemmKernel kQs8Gemm32x32c4Amx;  // AmxSupported() (dispatch.h) only
}  // namespace squint::rt::x86
#endif
#if defined(SQUINT_ARM_KERNELS)
namespace squint::rt::arm {
extern const portable::Qs8GemmKernel kQs8Gemm2x8c8Neon;
extern const portable::Qs8GemmKernel kQs8Gemm4x8c4NeonDot;
}  // namespace squint::rt::arm
#endif
