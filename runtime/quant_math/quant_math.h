// Host-side parameter builders: the numbers the quantizer writes into .sqnt options, computed
// with the same constants and conventions as the reference kernels (kernels.h), so quantizer
// and runtime agree by construction. Run at quantize time (doubles, std::vector), never in
// invoke. Every builder states its formula; s = scale, z = zero point, M = real multiplier
// stored as (multiplier, shift) with M ≈ multiplier·2^(shift − 31).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "base/hadamard.h"

#include "runtime/kernels/reference/fixed_point.h"
#include "runtime/kernels/reference/kernels.h"
#include "runtime/requant_derive.h"

namespace squint::quant_math {

using rt::QuantizedMultiplier;

// Code range of a stored type given as a bit width and signedness: int8 [−128, 127],
// uint8 [0, 255], int16 [−32768, 32767].
struct CodeRange {
  int32_t min = -128;
  int32_t max = 127;
};
CodeRange CodeRangeOf(int bits, bool is_signed);

// M → (multiplier, shift) (QuantizeMultiplier). M must be >= 0; M < 2^−32 flushes to 0;
// M >= 2^30 is clamped to the largest representable (shift 30) — callers keep M sane.
// The multipliers below are computed by runtime/requant_derive.h's rules, which the runtime also
// runs at prepare for files that leave them out (schema 1.1): one implementation.
using rt::RequantFromReal;

// Conv / FC: per output channel c, M_c = s_x·s_w[c] / s_y (one entry when s_w has one).
std::vector<QuantizedMultiplier> BuildChannelRequant(double s_x, const std::vector<float>& s_w,
                                                     double s_y);

// Bias: b_q[c] = round(b[c] / (s_x·s_w[c])) clamped to int32 (s_w broadcast when size 1).
std::vector<int32_t> QuantizeBias(const std::vector<float>& bias, double s_x,
                                  const std::vector<float>& s_w);

// Fused activation clamp: codes of the real interval [lo, hi] (use ±infinity for none),
// intersected with the type range: act_min = max(qmin, z + ceil(lo/s)), act_max = min(qmax,
// z + floor(hi/s)) (ReLU: lo = 0 → act_min = max(qmin, z)).
CodeRange BuildActivationRange(CodeRange type, double s, int32_t z, double lo, double hi);

// ADD / SUB (ElementwiseOptions): with t = 2·max(s_a, s_b),
//   M_a = s_a/t, M_b = s_b/t (both <= 1/2), M_out = t / (2^left_shift · s_out);
// y − z_out ≈ (M_a·(a − z_a) ± M_b·(b − z_b))·2^left_shift·M_out.
// left_shift: 20 for int8 inputs, 15 for int16 (keeps |x − z|·2^left_shift < 2^31).
using AddParams = rt::AddRequantParams;
AddParams BuildAddParams(double s_a, double s_b, double s_out, int input_bits);

// MUL: M = s_a·s_b / s_out.
QuantizedMultiplier BuildMulRequant(double s_a, double s_b, double s_out);

// SOFTMAX: exp_table[d] = round(exp(−s_in·d)·2^exp_bits) for d = 0, 1, ...: 256 entries for
// 8-bit input; for 16-bit input, entries up to the first that rounds to 0 (at most 65536).
// exp_bits in [1, 30] (the kernel sums up to depth entries of 2^exp_bits in int64).
std::vector<int32_t> BuildSoftmaxExpTable(float input_scale, int exp_bits, int input_bits = 8);

// LUT for y = f(x): table[i] = clamp(round(f(s_in·(q − z_in))/s_out) + z_out) for q = min_code + i,
// over every code of the input type (min_code = −2^(in_bits−1)); out_bits 8 or 16.
struct Lut {
  int32_t min_code = -128;
  std::vector<int16_t> table;
};
Lut BuildLut(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp,
             const std::function<float(float)>& f, int in_bits, int out_bits = 8);

// LAYER_NORM (kernel: n ≈ normalized·2^norm_bits, acc = n·gamma_q[c] + beta_q[c]):
//   gamma_q[c] = round(γ_c·2^g), beta_q[c] = round(β_c·2^(norm_bits + g)),
//   M = 1 / (2^(norm_bits + g)·s_out),   epsilon_q = round(C²·eps·2^16 / s_in²)
//   (16 = rt::ref::kLayerNormEpsilonBits)
// with g the largest <= 22 − ceil(log2 max|γ|) for which every beta_q fits int32 and M is
// representable. (s_in only enters through epsilon_q: the kernel's n is scale-free.)
// norm_bits: 12 is enough for 8-bit outputs (±1 code); use 16 for 16-bit outputs.
struct LayerNormParamsQ {
  int32_t norm_bits = 12;
  int64_t epsilon_q = 0;
  std::vector<int32_t> gamma_q, beta_q;
  QuantizedMultiplier requant;
};
LayerNormParamsQ BuildLayerNormParams(float s_in, float s_out, const std::vector<float>& gamma,
                                      const std::vector<float>& beta, float epsilon,
                                      int norm_bits = 12);

// AVERAGE_POOL_2D: M = s_in / (s_out·2^kAvgPoolFractionBits).
QuantizedMultiplier BuildAvgPoolRequant(double s_in, double s_out);

// RESIZE: nearest M = s_in/s_out; linear M = s_in / (s_out·2^kResizeFractionBits).
QuantizedMultiplier BuildResizeRequant(double s_in, double s_out, bool linear);

// REQUANTIZE / CONCAT inputs: M = s_in/s_out, clamped to the output type range.
rt::ref::RescaleParams BuildRescale(double s_in, int32_t z_in, double s_out, int32_t z_out,
                                    CodeRange out_type);

// Clipped softmax constants (same rule as the kernel's prepare helper SoftmaxClipParams).
void BuildSoftmaxClip(float zeta, float gamma, int32_t* clip_scale_q16, int32_t* clip_offset_q16);

// Packed int4 (schema ElementType INT4, kernels.h Int4At): codes in [−8, 7], element i in the
// low nibble of byte i/2 for even i, the high nibble for odd i; (count + 1)/2 bytes, an odd
// count leaves the last high nibble 0. Codes outside [−8, 7] are a caller bug (clamped).
std::vector<uint8_t> PackInt4(const std::vector<int8_t>& codes);

// Group-scaled FULLY_CONNECTED weights (kernels.h FullyConnectedLowBit, B = kGroupScaleBits):
// s_w holds units·G group scales laid out [units, G]. Per unit u:
//   s_c[u] = max_g s_w[u][g],  group_multiplier[u·G + g] = round(s_w[u][g]/s_c[u]·2^B) in [0, 2^B],
//   requant M[u] = s_x·s_c[u] / s_y;  the bias goes on the grid s_x·s_c[u]
//   (QuantizeBias(bias, s_x, common_scale)).
struct GroupScaleParams {
  std::vector<float> common_scale;        // s_c, one per unit
  std::vector<uint16_t> group_multiplier;  // [units, G]
  std::vector<QuantizedMultiplier> requant;  // one per unit
};
GroupScaleParams BuildGroupScaleParams(double s_x, const std::vector<float>& s_w, int64_t units, double s_y);

// Hadamard matrices for the online transform (HADAMARD, kernels.h): base/hadamard.h, shared
// with the float side.
using hadamard::BuildHadamardMatrix;
using hadamard::HadamardK;

}  // namespace squint::quant_math
