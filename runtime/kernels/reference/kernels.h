// Reference integer kernels: the specification of every OpCode in runtime/schema/squint.fbs.
//
// Contract (TFLM style: "prepare validates, invoke runs blind"):
// - Every kernel is a free function taking raw pointers, int32 dims, zero points and the plain
//   parameter structs below (never FlatBuffers types). It returns void and never allocates,
//   logs or fails: the runtime's prepare step checks every precondition documented here.
// - Layouts are row-major; images are NCHW; Conv weights are [C_out, C_in/groups, kH, kW].
// - A code q of a tensor (scale s, zero point z) stands for s·(q − z). Weights are symmetric
//   (zero point 0), per output channel or per tensor.
// - Requantization: y = clamp(MultiplyByQuantizedMultiplier(acc, multiplier[c], shift[c]) + zp,
//   act_min, act_max) (fixed_point.h); an int64 accumulator (int16 activations) uses the exact
//   single-rounding MultiplyByQuantizedMultiplier64 instead.
// - Element counts and every flat index fit in int32 (the loader bounds tensors to 2^31 − 1
//   elements). Inputs and outputs never alias (the planner never runs a kernel in place).
// - Templates are instantiated (kernels_*.cc) only for the types listed at each declaration;
//   "T8" means int8_t, "T16" int16_t, "U8" uint8_t, "I32" int32_t.
//
// Fixed choices (the quantizer's param builders in runtime/quant_math follow them):
// - SOFTMAX output: scale 1/256 with zero point −128 (int8 output) or 0 (uint8 output).
// - AVERAGE_POOL_2D: the window sum is divided by its count with kAvgPoolFractionBits extra
//   fraction bits, so its requant multiplier is s_in / (s_out · 2^kAvgPoolFractionBits).
// - RESIZE linear: weights have kResizeWeightBits fraction bits per axis and the interpolated
//   value is rounded to kResizeFractionBits fraction bits, so the requant multiplier is
//   s_in / (s_out · 2^kResizeFractionBits); nearest uses s_in / s_out.
#pragma once

#include <cstdint>

namespace squint::rt::ref {

constexpr int kMaxKernelRank = 6;
constexpr int kAvgPoolFractionBits = 8;
constexpr int kResizeWeightBits = 20;
constexpr int kResizeFractionBits = 8;

// One requantization (schema table Requantization plus the output zero point).
// multiplier/shift point to `count` values: 1 (per tensor) or one per output channel.
// Preconditions: multiplier[i] in [2^30, 2^31) or 0; shift[i] in [−31, 30];
// type_min <= act_min <= act_max <= type_max of the output type; zero_point within the type.
struct RequantParams {
  const int32_t* multiplier = nullptr;
  const int32_t* shift = nullptr;
  int32_t count = 1;
  int32_t zero_point = 0;
  int32_t act_min = -128;
  int32_t act_max = 127;
};

// Change of (scale, zero point, type) of single codes: y = clamp(MBQM(x − in_zp, M) + out_zp).
// M == 1 exactly (multiplier 2^30, shift 1) with equal zero points is the identity.
struct RescaleParams {
  int32_t input_zero_point = 0;
  int32_t multiplier = 1 << 30;
  int32_t shift = 1;
  int32_t output_zero_point = 0;
  int32_t act_min = -128;
  int32_t act_max = 127;
};

// ---- Linear algebra ---------------------------------------------------------------------

// CONV_2D. x [batch, in_channels, in_h, in_w], w [out_channels, in_channels/groups, kernel_h,
// kernel_w] (int8, symmetric), bias [out_channels] int32 or null, y [batch, out_channels, out_h,
// out_w]. Padded positions contribute 0 (they hold the input zero point).
//   acc[c] = bias[c] + Σ (x − input_zero_point)·w      over the receptive field of group(c)
// Preconditions: groups >= 1 divides in_channels and out_channels; strides, dilations >= 1;
// pads >= 0; out_h/out_w are the ONNX output sizes (any value >= 0 is memory-safe);
// requant.count is 1 or out_channels.
// int8: the int32 accumulator must not overflow: prepare checks Int8DotFitsInt32(K, ...) with
// K = (in_channels/groups)·kernel_h·kernel_w. int16: int64 accumulator, K <= 2^24.
// Instantiated for T = T8, T16 (x and y of the same type).
struct Conv2DParams {
  int32_t batch = 1, in_channels = 0, in_h = 0, in_w = 0;
  int32_t out_channels = 0, out_h = 0, out_w = 0;
  int32_t kernel_h = 1, kernel_w = 1;
  int32_t stride_h = 1, stride_w = 1;
  int32_t dilation_h = 1, dilation_w = 1;
  int32_t pad_top = 0, pad_left = 0;  // bottom/right are implied by out_h/out_w
  int32_t groups = 1;
  int32_t input_zero_point = 0;
  RequantParams requant;
};
template <typename T>
void Conv2D(const Conv2DParams& p, const T* x, const int8_t* w, const int32_t* bias, T* y);

// CONV_TRANSPOSE_2D (ONNX ConvTranspose; kernels_conv_transpose.cc). The Conv2DParams fields
// mean what they mean for CONV_2D, with pad_top/pad_left ConvTranspose's begin pads (>= 0) and
// out_h/out_w the output sizes; w [out_channels, in_channels/groups, kernel_h, kernel_w] as CONV_2D's
// (ONNX's [C_in, C_out/groups, kH, kW] with the channel axes swapped per group). Output position
// (oh, ow) of channel oc in group g = oc / (out_channels/groups) gathers every input position
// whose scatter lands on it:
//   acc = bias[oc] + Σ (x[g·cin_g + ic, ih, iw] − input_zero_point)·w[oc, ic, kh, kw]
//   over ic < cin_g, kh, kw with oh + pad_top − kh·dilation_h = ih·stride_h, 0 <= ih < in_h
//   (and the same for w); positions no input reaches get the bias only.
// Preconditions: those of Conv2D (groups divides both channel counts; strides, dilations >= 1;
// any out_h/out_w >= 0 is memory-safe) with pad_top, pad_left >= 0. The accumulator sums at most
// (in_channels/groups)·kernel_h·kernel_w products: prepare checks Int8DotFitsInt32 with that depth
// (int16: <= 2^24). Instantiated for T = T8, T16.
template <typename T>
void ConvTranspose2D(const Conv2DParams& p, const T* x, const int8_t* w, const int32_t* bias, T* y);

// FULLY_CONNECTED. x [rows, depth], w [units, D] (int8, symmetric) with D = depth/groups, bias
// [units] or null, y [rows, units]. Unit n belongs to group g = n / (units/groups) and reads the
// D input channels of its group:
//   acc[r][n] = bias[n] + Σ_{k<D} (x[r][g·D + k] − input_zero_point)·w[n][k]
// (groups = 1: the dense layer, D = depth). Preconditions: groups >= 1 divides depth and units;
// requant.count is 1 or units; int8: Int8DotFitsInt32(D, ...); int16: D <= 2^24. Instantiated
// for T = T8, T16.
struct FullyConnectedParams {
  int32_t rows = 0, depth = 0, units = 0;
  int32_t groups = 1;
  int32_t input_zero_point = 0;
  RequantParams requant;
};
template <typename T>
void FullyConnected(const FullyConnectedParams& p, const T* x, const int8_t* w, const int32_t* bias,
                    T* y);

// A power-of-two softmax-output grid (schema LogGridQuantization, which states the value of each
// code): n codes ordered by decreasing value, code q standing for
//   delta·2^−shifts[q]·(sqrt2[q] ? kSqrt2Q15/2^15 : 1) − eta;
// the byte kLogGridZeroCode is probability 0. thresholds[j] (Q30, non-increasing) separates code
// j from j + 1 (thresholds[n − 1]: the last code from 0). max_shift = max shifts[q]; eta_q =
// LogGridEtaQ(delta, eta, max_shift). Arrays point into the model (or the caller's storage).
inline constexpr int32_t kLogGridZeroCode = 0xFF;  // stored byte of probability 0 (int8: −1)
inline constexpr int32_t kLogGridMaxCodes = 255;   // 0xFF is never a code
inline constexpr int32_t kLogGridMaxShift = 20;    // keeps P·V's int64 terms far from overflow
inline constexpr int32_t kSqrt2Q15 = 46341;        // ⌊√2·2^15⌉
inline constexpr uint32_t kLogGridOne = uint32_t{1} << 30;  // probability 1 in Q30
struct LogGrid {
  int32_t n = 0;
  const uint32_t* thresholds = nullptr;
  const uint8_t* shifts = nullptr;
  const uint8_t* sqrt2 = nullptr;  // null: all 0
  int32_t max_shift = 0;
  int64_t eta_q = 0;
};
// The real value of a code with this shift and sqrt2 flag (kSqrt2Q15/2^15 stands for √2, as in
// P·V); host-side helper for dequantization and the quantizer's grid search.
inline double LogGridValue(double delta, double eta, int32_t shift, bool sqrt2) {
  const double root2 = sqrt2 ? kSqrt2Q15 / 32768.0 : 1.0;
  return delta * root2 / static_cast<double>(int64_t{1} << shift) - eta;
}
// #{ j < n : p_q30 < thresholds[j] }, or kLogGridZeroCode when that count is n.
int32_t LogGridCode(const LogGrid& g, uint32_t p_q30);
// ⌊eta/delta·2^(max_shift + 15)⌉ (prepare-time helper; eta, delta finite, delta > 0).
int64_t LogGridEtaQ(float delta, float eta, int32_t max_shift);

// BATCH_MATMUL. a [batch..., m, k], b [batch..., k, n] (both activations), y [batch..., m, n].
// Leading dims broadcast (NumPy): batch_rank output dims with, per input, the stride in whole
// matrices for each batch axis (0 where the input's dim is 1 or absent).
//   acc = Σ_k (a − a_zp)(b − b_zp);   per-tensor requant (requant.count == 1).
// Preconditions: batch_rank <= 4; int8: k·255·255 < 2^31 (k <= 32768, see Int8MatMulFitsInt32);
// int16: int64 accumulator, k <= 2^28. Instantiated for T = T8, T16.
// Log-grid left operand (a_grid set, a = SOFTMAX codes on a LogGrid, see below): a's byte is a
// code q < n or kLogGridZeroCode (probability 0), a_zero_point is unused, and with R =
// a_grid->max_shift, b̃ = b − b_zp, the sums over the k with a code below n
//   acc0 = Σ_{sqrt2[q] = 0} b̃ << (R − shifts[q]),   acc1 = Σ_{sqrt2[q] = 1} b̃ << (R − shifts[q]),
//   col = Σ b̃                                                  (int64; shifts and adds only)
//   acc = ⌊(acc0·2^15 + acc1·kSqrt2Q15 − col·eta_q + 2^14) / 2^15⌋      (int64, then requant)
// ≈ Σ value(q)·b̃ in units of delta·2^−R (eta_q = ⌊eta/delta·2^(R + 15)⌉, the rank-1 term of
// SULQ; 15 fraction bits kept until the one rounding), so the accumulator's real scale is
// s_b·delta·2^−R (R <= 20 keeps the requant multiplier representable). Codes at or above n
// count as 0 like the zero code. Extra preconditions (checked at prepare): a int8;
// k·max|b̃|·(2^(R + 15)·(1 + √2) + eta_q) < 2^62.
struct BatchMatMulParams {
  int32_t batch_rank = 0;
  int32_t batch_dims[4] = {};
  int32_t a_batch_strides[4] = {};  // in matrices of m·k elements
  int32_t b_batch_strides[4] = {};  // in matrices of k·n elements
  int32_t m = 0, k = 0, n = 0;
  int32_t a_zero_point = 0, b_zero_point = 0;
  const LogGrid* a_grid = nullptr;  // set: a holds log-grid codes (see above)
  RequantParams requant;
};
template <typename T>
void BatchMatMul(const BatchMatMulParams& p, const T* a, const T* b, T* y);

// True when Σ_{k<depth} (x − zx)·w + bias fits int32 for every int8 x and int8 w (|w| <= 128):
// depth·max|x − zx|·128 + max_abs_bias <= 2^31 − 1. Prepare calls this for CONV_2D (depth =
// C_in/groups·kH·kW) and FULLY_CONNECTED. With zx anywhere in [−128, 127] and |bias| <= 2^30,
// depth <= 32768 always fits.
bool Int8DotFitsInt32(int64_t depth, int32_t input_zero_point, int64_t max_abs_bias);
// Same for BATCH_MATMUL: k·max|a − za|·max|b − zb| <= 2^31 − 1.
bool Int8MatMulFitsInt32(int64_t k, int32_t a_zero_point, int32_t b_zero_point);

// ---- Elementwise ------------------------------------------------------------------------

// NumPy broadcasting, precomputed by prepare (ComputeBroadcast): the output has `rank` dims;
// a_strides/b_strides are the element strides of each input per output axis, 0 where the
// input is broadcast along it. rank 0 is a scalar.
struct BroadcastShape {
  int32_t rank = 0;
  int32_t out_dims[kMaxKernelRank] = {};
  int32_t a_strides[kMaxKernelRank] = {};
  int32_t b_strides[kMaxKernelRank] = {};
};
// Fills `out` for inputs of dims a_dims/b_dims (right-aligned). Returns false when the shapes
// do not broadcast or a rank exceeds kMaxKernelRank. Host/prepare helper, not an invoke kernel.
bool ComputeBroadcast(const int32_t* a_dims, int32_t a_rank, const int32_t* b_dims, int32_t b_rank,
                      BroadcastShape* out);

// ADD / SUB (schema ElementwiseOptions):
//   a' = MBQM((a − a_zp)·2^left_shift, a_mult, a_shift),  b' likewise,
//   y  = clamp(MBQM(a' ± b', output) + output.zero_point)
// MUL: acc = (a − a_zp)(b − b_zp), y = clamp(MBQM(acc, output) + output.zero_point)
// (left_shift and the input multipliers are unused). int16 MUL uses an int64 accumulator.
// Preconditions: output.count == 1; ADD/SUB: max|a − a_zp|·2^left_shift < 2^31 (int8: left_shift
// <= 22, int16: <= 15), same for b. Instantiated for T = T8, T16 (a, b, y of the same type).
struct ElementwiseParams {
  int32_t a_zero_point = 0, b_zero_point = 0;
  int32_t left_shift = 20;
  int32_t a_multiplier = 0, a_shift = 0;
  int32_t b_multiplier = 0, b_shift = 0;
  RequantParams output;
};
template <typename T>
void Add(const ElementwiseParams& p, const BroadcastShape& s, const T* a, const T* b, T* y);
template <typename T>
void Sub(const ElementwiseParams& p, const BroadcastShape& s, const T* a, const T* b, T* y);
template <typename T>
void Mul(const ElementwiseParams& p, const BroadcastShape& s, const T* a, const T* b, T* y);

// ---- Attention non-linearities ----------------------------------------------------------

// SOFTMAX over the last axis of x viewed as [rows, depth].
// Per row: m = max of the unmasked x; for each unmasked i, d = m − x_i (>= 0) and
//   e_i = d < exp_table_size ? exp_table[d] : 0      (exp_table[d] ≈ exp(−s_in·d)·2^exp_bits)
//   S = Σ e_i (int64);  t_i = ⌊clip_scale_q16·e_i·256 / S⌉;
//   u_i = clamp(⌊(t_i + clip_offset_q16) / 2^(24−b)⌉, 0, 2^b − 1);   y_i = u_i + output_zero_point,
// where b = output_bits in [2, 8] (the uniform softmax grid of step 1/2^b; b = 8: step 1/256).
// Masked positions, and every position of a row with no unmasked position, get u = 0: the code
// of probability exactly 0. Plain softmax: clip_scale_q16 = 2^16, clip_offset_q16 = 0; clipped
// softmax clip((ζ−γ)p + γ, 0, 1): clip_scale_q16 = ⌊(ζ−γ)·2^16⌉, clip_offset_q16 = ⌊γ·2^24⌉
// (SoftmaxClipParams). Output scale is 1/2^b: output_zero_point −128 (int8) or 0 (uint8).
// Masks: bytes `mask` and int32 values `mask32`, each null or (nonzero = keep) broadcast to x's
// shape; a position is kept when every mask given keeps it. x has `rank` dims `dims` (last =
// depth); mask_strides[i] / mask32_strides[i] are each mask's element stride along x's axis i
// (0 where broadcast).
// Preconditions: exp_table_size >= 1 with exp_table[0] = 2^exp_bits, table non-increasing and
// >= 0; exp_bits in [0, 30]; int8 input: exp_table_size <= 256 suffices (d <= 255); 0 <=
// clip_scale_q16 <= 2^20; |clip_offset_q16| <= 2^30; 2 <= output_bits <= 8; rows·depth fits
// int32; rank >= 1 when a mask is given. Instantiated for TIn = T8, T16 and TOut = T8, U8.
//
// Log-grid output (grid set: log2, log√2 or SULQ, schema LogGridQuantization): from the same e_i
// and S, the (clipped) probability in Q30
//   P_i = clamp(⌊clip_scale_q16·e_i·2^14 / S⌉ + clip_offset_q16·2^6, 0, 2^30)
// (plain softmax: ⌊e_i·2^30 / S⌉) and y_i = LogGridCode(*grid, P_i) (the number of thresholds
// above P_i; n → kLogGridZeroCode). Masked positions and rows with no unmasked position get
// kLogGridZeroCode. The stored byte is the code itself (no zero point). Extra precondition:
// clip_scale_q16 <= 2^17 (ζ − γ <= 2).
struct SoftmaxParams {
  int32_t rows = 0, depth = 0;
  const int32_t* exp_table = nullptr;
  int32_t exp_table_size = 0;
  int32_t exp_bits = 0;
  int32_t clip_scale_q16 = 1 << 16;
  int32_t clip_offset_q16 = 0;
  int32_t output_zero_point = -128;
  int32_t output_bits = 8;
  const LogGrid* grid = nullptr;  // set: log-grid output (see above); null: uniform grid
  const uint8_t* mask = nullptr;
  const int32_t* mask32 = nullptr;
  int32_t rank = 0;
  int32_t dims[kMaxKernelRank] = {};
  int32_t mask_strides[kMaxKernelRank] = {};
  int32_t mask32_strides[kMaxKernelRank] = {};
};
template <typename TIn, typename TOut>
void Softmax(const SoftmaxParams& p, const TIn* x, TOut* y);

// (ζ, γ) of a clipped softmax → the kernel's integer clip constants (prepare-time helper).
void SoftmaxClipParams(float zeta, float gamma, int32_t* clip_scale_q16, int32_t* clip_offset_q16);

// LAYER_NORM over the last axis of x viewed as [rows, channels] (input zero point cancels).
// Per row, all integer (C = channels):
//   Σx, Σx² (int64);  N = C·Σx² − (Σx)²  (= C²·var, exact);
//   epsilon_q = ⌊C²·eps·2^16 / s_in²⌉ (eps in units of (s_in/C)²·2^−16: fine even when eps ~ s_in²
//   and C is small);  with F = 16 if N < 2^45, else F = 0 (large N: int16 input only):
//   D = N·2^F + ⌊epsilon_q / 2^(16 − F)⌋  (= C²·(var + eps)·2^F in code² units);
//   k = largest with D·4^k < 2^62;  r = IntegerSqrt(D·4^k)  (≈ C·sqrt(var + eps)·2^(k + F/2));
//   n_i = ⌊(C·x_i − Σx)·2^(norm_bits + k + F/2) / r⌉  (D == 0: n_i = 0) — n ≈ normalized·2^norm_bits
//   acc_i = n_i·gamma_q[c] + beta_q[c] (int64), y = requant(acc_i) per channel c or per tensor.
// RMS mode (rms = true, squint.RMSNorm): the same with x_i replaced by x_i − input_zero_point and
//   Σx by 0, i.e. N = C·Σ(x − z)² and n_i = ⌊C·(x_i − z)·2^(norm_bits + k + F/2) / r⌉ (n ≈ (x − z)/rms·2^nb).
//   N <= 2^15·2^15·2^32 = 2^62 for int16 codes with any zero point, so the LayerNorm bounds hold.
// Preconditions: 1 <= channels <= 32768; norm_bits in [0, 20]; 0 <= epsilon_q <= 2^60;
// requant.count is 1 or channels; |acc| < 2^62 (|n_i| <= sqrt(C)·2^norm_bits).
// Instantiated for T = T8, T16 (x and y of the same type).
struct LayerNormParams {
  int32_t rows = 0, channels = 0;
  bool rms = false;
  int32_t input_zero_point = 0;  // RMS mode only
  int32_t norm_bits = 12;
  int64_t epsilon_q = 0;
  const int32_t* gamma_q = nullptr;
  const int32_t* beta_q = nullptr;
  RequantParams requant;
};
template <typename T>
void LayerNorm(const LayerNormParams& p, const T* x, T* y);
// Fraction bits of LayerNormParams::epsilon_q (in units of (s_in/C)²).
constexpr int kLayerNormEpsilonBits = 16;

// floor(sqrt(n)) for every n in [0, 2^64), exact (bitwise digit-by-digit method).
uint64_t IntegerSqrt(uint64_t n);

// LUT: y = table[clamp(x − min_code, 0, table_size − 1)], saturated to TOut.
// Preconditions: table_size >= 1 (prepare should require the table to cover every code of TIn).
// Instantiated for (TIn, TOut) in {T8, T16} × {T8, T16}.
template <typename TIn, typename TOut>
void Lut(int32_t count, const TIn* x, const int16_t* table, int32_t table_size, int32_t min_code,
         TOut* y);

// ---- Pooling ----------------------------------------------------------------------------

// MAX_POOL_2D / AVERAGE_POOL_2D, x [batch, channels, in_h, in_w], y [batch, channels, out_h,
// out_w]. Window of output (oh, ow): rows oh·stride_h − pad_top + i·dilation_h, i < kernel_h
// (columns alike). Only positions inside the image are read.
// Max: y = clamp(max code, act_min, act_max) (same scale/zero point in and out: prepare
// checks); a window with no position inside the image yields act_min.
// Average: acc = Σ (x − input_zero_point) over the inside positions; count = number of inside
// positions, or with count_include_pad the positions inside the padded image [−pad_top,
// in_h + pad_bottom) × [−pad_left, in_w + pad_right);
//   avg = ⌊acc·2^kAvgPoolFractionBits / count⌉ (int64),  y = requant(avg)  (count == 0 → acc 0)
// with requant multiplier s_in / (s_out·2^kAvgPoolFractionBits) (BuildAvgPoolRequant).
// Global average pool: kernel = in size, stride 1, no pads.
// Preconditions: kernel, stride, dilation >= 1; pads >= 0; requant.count == 1; kernel_h·kernel_w
// <= 2^22 (int16: 2^16). Instantiated for T = T8, T16.
struct Pool2DParams {
  int32_t batch = 1, channels = 0, in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int32_t kernel_h = 1, kernel_w = 1;
  int32_t stride_h = 1, stride_w = 1;
  int32_t dilation_h = 1, dilation_w = 1;
  int32_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  bool count_include_pad = false;
  int32_t input_zero_point = 0;
  RequantParams requant;
};
template <typename T>
void MaxPool2D(const Pool2DParams& p, const T* x, T* y);
template <typename T>
void AveragePool2D(const Pool2DParams& p, const T* x, T* y);

// MEAN over the middle dim of x viewed as [outer, r, inner]: for each (o, i),
//   acc = Σ_k (x[o, k, i] − input_zero_point) over the kept k, n = their count,
//   avg = n == 0 ? 0 : ⌊acc·2^kAvgPoolFractionBits / n⌉ (int64),  y[o, i] = requant(avg)
// (requant multiplier s_in / (s_out·2^kAvgPoolFractionBits), as the average pool). keep: null
// (every k kept) or int32 values, nonzero = kept, at keep[o·keep_outer + k·keep_r + i·keep_inner]
// (strides 0 where broadcast). Preconditions: r·255·2^8 < 2^62 (int16: r·65535·2^8).
struct MeanParams {
  int32_t outer = 1, r = 1, inner = 1;
  int32_t input_zero_point = 0;
  RequantParams requant;
  const int32_t* keep = nullptr;
  int64_t keep_outer = 0, keep_r = 0, keep_inner = 0;
};
template <typename T>
void Mean(const MeanParams& p, const T* x, T* y);

// ---- Data movement (exact; instantiated for T = T8, U8, T16, I32) -------------------------
// RESHAPE has no kernel: the output aliases the input or is a byte copy.

// TRANSPOSE: y[i_0..i_{r-1}] with y's axis j = x's axis perm[j]; in_dims are x's dims.
// Preconditions: 0 <= rank <= kMaxKernelRank; perm a permutation of 0..rank−1.
template <typename T>
void Transpose(int32_t rank, const int32_t* in_dims, const int32_t* perm, const T* x, T* y);

// CONCAT along an axis, x_i viewed as [outer, axis_sizes[i]·inner]: y [outer, Σ axis_sizes ·
// inner]. rescale: null (all inputs share the output's scale/zero point: plain copy) or one
// RescaleParams per input (identity ones are allowed). Preconditions: num_inputs >= 1.
template <typename T>
void Concat(int32_t num_inputs, const T* const* inputs, const int32_t* axis_sizes, int32_t outer,
            int32_t inner, const RescaleParams* rescale, T* y);

// SLICE: y[j] = x[starts + j·steps] per axis; out_dims are y's dims.
// Preconditions: for every axis with out_dims > 0, starts and starts + (out_dims − 1)·steps lie
// in [0, in_dims); steps != 0 (negative allowed).
template <typename T>
void Slice(int32_t rank, const int32_t* in_dims, const int32_t* starts, const int32_t* steps,
           const int32_t* out_dims, const T* x, T* y);

// GATHER: x viewed as [outer, axis_dim, inner], indices (num_indices int32, any shape), y
// [outer, num_indices, inner]. A negative index counts from the end (ONNX); an index still
// outside [0, axis_dim) is clamped into it (memory safety for activation indices; the result is
// then unspecified by ONNX). Preconditions: axis_dim >= 1 when outer·num_indices·inner > 0.
template <typename T>
void Gather(int32_t outer, int32_t axis_dim, int32_t inner, const int32_t* indices,
            int32_t num_indices, const T* x, T* y);

// SPLIT: x [outer, Σ sizes, inner] into outputs[i] [outer, sizes[i], inner].
template <typename T>
void Split(int32_t outer, int32_t inner, int32_t num_outputs, const int32_t* sizes, const T* x,
           T* const* outputs);

// PAD: pads = [begin_0..begin_{r−1}, end_0..end_{r−1}], all >= 0; out dim = in + begin + end.
// mode 0 constant (pad_value, the zero point code), 1 reflect (mirror excluding the edge, ONNX
// 'reflect': needs begin, end <= in dim − 1 on every axis), 2 edge (repeat the border: needs
// in dim >= 1 on padded axes). Preconditions: as stated; rank <= kMaxKernelRank.
template <typename T>
void Pad(int32_t rank, const int32_t* in_dims, const int32_t* pads, int32_t mode, int32_t pad_value,
         const T* x, T* y);

// RESIZE over H and W of x [batch, channels, in_h, in_w] → y [batch, channels, out_h, out_w],
// using the exact rational scale in/out per axis (schema ResizeOptions values):
//   coordinate_mode 0 half_pixel: xi = (xo + ½)·in/out − ½;  1 asymmetric: xo·in/out;
//   2 align_corners: xo·(in − 1)/(out − 1) (0 if out == 1); 3 pytorch_half_pixel: half_pixel if
//   out > 1 else 0.
// Nearest (mode 0): index by nearest_mode (0 round_prefer_floor, 1 round_prefer_ceil, 2 floor,
//   3 ceil) on the exact rational coordinate, clamped to [0, in − 1]; y = rescale(x) by requant
//   (multiplier s_in/s_out; the identity for equal parameters).
// Linear (mode 1): coordinate clamped to [0, in − 1], weights w = ⌊frac·2^W⌉ per axis (W =
//   kResizeWeightBits), acc = Σ w_h·w_w·(x − input_zero_point) (int64),
//   v = ⌊acc / 2^(2W − kResizeFractionBits)⌉, y = requant(v) with multiplier
//   s_in/(s_out·2^kResizeFractionBits). (10-bit weights were 32 codes off for int16.)
// Preconditions: in, out sizes >= 1 where out > 0; requant.count == 1.
// Instantiated for T = T8, T16 (linear and nearest), U8 (nearest and linear).
struct ResizeParams {
  int32_t batch = 1, channels = 0, in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int32_t mode = 0, coordinate_mode = 0, nearest_mode = 0;
  int32_t input_zero_point = 0;
  RequantParams requant;
};
template <typename T>
void Resize(const ResizeParams& p, const T* x, T* y);
// Nearest mode's source index of every output row (rows = true: indices[oh], oh < out_h) or
// column (indices[ow], ow < out_w): the indices Resize reads, for the optimized kernels.
void ResizeNearestIndices(const ResizeParams& p, bool rows, int32_t* indices);

// REQUANTIZE: y = clamp(MBQM(x − in_zp, M) + out_zp, act_min, act_max).
// Instantiated for (TIn, TOut) in {T8, U8, T16} × {T8, U8, T16}.
template <typename TIn, typename TOut>
void Requantize(const RescaleParams& p, int32_t count, const TIn* x, TOut* y);

// ---- Low-bit and group-scaled weights (W4A8) ---------------------------------------------

// Packed int4 (schema ElementType INT4): 4-bit two's-complement codes in [−8, 7], element i of
// the flat array in byte i/2, the low nibble for even i and the high nibble for odd i; a buffer
// of `count` elements has (count + 1)/2 bytes and an odd count leaves the last high nibble 0.
inline int32_t Int4At(const uint8_t* packed, int64_t i) {
  const int32_t byte = packed[i >> 1];
  const int32_t nibble = (i & 1) != 0 ? (byte >> 4) : (byte & 0x0F);
  return nibble >= 8 ? nibble - 16 : nibble;
}
inline int64_t Int4Bytes(int64_t count) { return (count + 1) / 2; }
// Unpacks `count` codes (host and test helper; the kernel reads packed weights in place).
void UnpackInt4(const uint8_t* packed, int64_t count, int8_t* codes);

// Fraction bits of the per-group multipliers of group-scaled weights (below).
constexpr int kGroupScaleBits = 15;  // multipliers in [0, 2^15] fit uint16

// FULLY_CONNECTED with low-bit or group-scaled weights. x [rows, depth] int8 or int16, w
// [units, depth] either int8 (one code per byte, weight_int4 false) or packed int4 (weight_int4
// true, flat index u·depth + k as above), bias [units] int32 or null, y [rows, units] of x's type.
// group_size == 0 (weights per channel or per tensor):
//   acc[r][u] = bias[u] + Σ_k (x[r][k] − input_zero_point)·w[u][k]   (int32; int16 x: int64),
//   y = requant(acc)
// — the same as FullyConnected<T> on the unpacked weights, bit for bit (int16: the int64
// accumulator requantized by MultiplyByQuantizedMultiplier64, as FullyConnected<int16_t>).
// group_size = N > 0 (G = depth/N groups per unit, weight scale s_w[u][g] per group):
//   a[g]   = Σ_{k = gN}^{gN+N−1} (x[r][k] − input_zero_point)·w[u][k]   (int32; int16 x: int64)
//   t      = Σ_g group_multiplier[u·G + g]·a[g]                                (int64)
//   acc    = bias[u] + RoundDiv(t, 2^B)    (B = kGroupScaleBits; ties away from zero; int64)
//   y      = clamp(MultiplyByQuantizedMultiplier64(acc, M[u]) + zero_point, act_min, act_max)
// Derivation: the real output is Σ_g s_x·s_w[u][g]·a[g] + b[u]. With the unit's common scale
// s_c[u] = max_g s_w[u][g] and m[u][g] = round(s_w[u][g]/s_c[u]·2^B) (s_w[u][g] ≈ s_c[u]·m·2^−B,
// m in [0, 2^B]) it is s_x·s_c[u]·(t·2^−B) + b[u]: t/2^B is the accumulator on the per-channel
// grid s_x·s_c[u], so the bias is quantized on that grid (bias[u] = round(b[u]/(s_x·s_c[u])))
// and M[u] = s_x·s_c[u]/s_y, exactly as for per-channel weights of scale s_c[u] (dividing t by
// 2^B in the kernel, not in M, keeps M in the range every requant handles).
// runtime/quant_math BuildGroupScaleParams computes m, s_c and M. Approximations beyond the
// per-channel path's: m's rounding (relative error <= 2^−(B+1)/ratio on a group whose scale is
// `ratio` times the unit's largest) and t's rounding (half a unit of s_x·s_c[u]).
// Preconditions: group_size == 0, or group_size >= 1 dividing depth with group_multiplier[i] in
// [0, 2^B] for units·G entries; int8 x: per group the int32 sum fits: Int8DotFitsInt32(group_size,
// zx, 0) (and Int8DotFitsInt32(depth, zx, max|bias|) when group_size == 0); int16 x: depth <= 2^24
// when group_size == 0; GroupedDotFitsInt64 (the int64 sum stays below 2^62,
// MultiplyByQuantizedMultiplier64's bound; with int16_input for int16 x); requant.count is 1 or
// units. Int4 codes need no range check (every nibble is a code); int8 weights are symmetric.
// Instantiated for T = T8, T16.
struct FullyConnectedLowBitParams {
  int32_t rows = 0, depth = 0, units = 0;
  int32_t input_zero_point = 0;
  bool weight_int4 = false;
  int32_t group_size = 0;
  const uint16_t* group_multiplier = nullptr;  // [units, depth/group_size] when group_size > 0
  RequantParams requant;
};
template <typename T>
void FullyConnectedLowBit(const FullyConnectedLowBitParams& p, const T* x, const uint8_t* w, const int32_t* bias,
                          T* y);
// CONV_2D with packed int4 weights (per output channel or per tensor; no group scales): the
// Conv2D contract above with w read by Int4At from the flat [C_out, C_in/groups, kH, kW] array,
// int8 x and y only. Same preconditions as Conv2D<int8_t> (Int8DotFitsInt32 bounds |w| by 128).
void Conv2DInt4(const Conv2DParams& p, const int8_t* x, const uint8_t* w, const int32_t* bias, int8_t* y);
// CONV_2D with group-scaled weights (int8 codes, or packed int4 when weight_int4), int8 x and y:
// the Conv2D contract above with FULLY_CONNECTED's group rescaling per output position. Unit u
// is output channel u, its depth the flat (C_in/groups)·kH·kW elements of w[u] in layout order
// (c, ky, kx); group g covers depth elements [g·N, (g+1)·N) (N = group_size, G = depth/N):
//   a[g] = Σ_{k in group g} (x_k − input_zero_point)·w[u][k]   (padded taps contribute 0; int32)
//   t    = Σ_g group_multiplier[u·G + g]·a[g]                   (int64)
//   y    = the FullyConnectedLowBit group_size > 0 formula from t: acc = bias[u] + RoundDiv(t, 2^B),
//          requant by M[u] (the same code computes it)
// so a group may span input channels and kernel rows. Preconditions: those of Conv2D<int8_t>
// except the int32 bound on the whole depth, and those of FullyConnectedLowBit's group path with
// units = out_channels, depth = (C_in/groups)·kH·kW (group_size >= 1 divides depth; multipliers
// in [0, 2^B]; Int8DotFitsInt32(group_size, zx, 0); GroupedDotFitsInt64).
struct Conv2DGroupScaledParams {
  Conv2DParams conv;
  bool weight_int4 = false;
  int32_t group_size = 0;
  const uint16_t* group_multiplier = nullptr;  // [out_channels, depth/group_size]
};
void Conv2DGroupScaled(const Conv2DGroupScaledParams& p, const int8_t* x, const uint8_t* w, const int32_t* bias,
                       int8_t* y);

// True when 2^B·depth·max|x − zx|·max_abs_weight + max_abs_bias < 2^62 for int8 x, or int16 x
// with int16_input (bounds |t| and |acc| of the group-scaled path above; max_abs_weight 8 for
// int4, 128 for int8). With B = 15 this holds for every int8 depth <= 2^31 and |bias| <= 2^31,
// and for int16 x with zero point 0 and int4 weights up to depth 2^24; prepare checks it
// regardless.
bool GroupedDotFitsInt64(int64_t depth, int32_t input_zero_point, int64_t max_abs_bias, int32_t max_abs_weight,
                         bool int16_input = false);

// ---- Online transforms ------------------------------------------------------------------

// HADAMARD over the last axis of x viewed as [rows, channels], block by block (channels =
// blocks·block, block = k·2^m): for each row and block b, with the block's channels i,
//   v_i = sign_i·(x_i − input_zero_point)                    (int32; signs null: all +1)
//   u   = (H_k ⊗ H_{2^m})·v   — first m butterfly stages (a, b) → (a + b, a − b) within each
//         contiguous segment of 2^m channels (Sylvester H_{2^m}), then the k×k ±1 matrix h_k
//         across the k segments (element j of segment a: u[a·2^m + j] = Σ_c h_k[a·k + c]·w[c·2^m + j])
//   y_i = requant(u_i)   (per tensor; the quantizer folds the orthonormal 1/√block into the
//                         multiplier: M = s_x / (√block · s_y))
// n·log2(2^m) additions and n·k multiply-adds per block; no multiplies when k == 1.
// Preconditions: block >= 1 divides channels; block = k·2^m; k == 1 (h_k ignored) or h_k holds
// k·k entries ±1 with h_k·h_kᵀ = k·I (prepare checks); signs null or ±1 per channel;
// requant.count == 1. Input int8 or int16, output int8 (the quantizer feeds the higher-precision
// pre-transform activation and emits int8 for the following linear layer).
// int32 accumulator: |v_i| <= D = max|x − input_zero_point| (255 for int8, 65535 for int16),
// every butterfly stage doubles the bound and h_k (±1 entries) multiplies it by k, so
// |u_i| <= block·D (so does every partial sum); prepare requires block·D < 2^31 (int16 with
// zero point 0: D = 32768, so block < 2^16; int8: block < 2^31/255).
struct HadamardParams {
  int32_t rows = 0, channels = 0;
  int32_t block = 1, k = 1;
  const int8_t* h_k = nullptr;
  const int8_t* signs = nullptr;
  int32_t input_zero_point = 0;
  RequantParams requant;
  int32_t* scratch = nullptr;  // 2·block int32 entries owned by the caller (the kernel never allocates)
};
template <typename TIn>
void Hadamard(const HadamardParams& p, const TIn* x, int8_t* y);

}  // namespace squint::rt::ref
