// Requantization multipliers derived from scales: the one implementation of the real
// multiplier M of every op kind and of M → (multiplier, shift). The quantizer computes the
// multipliers it writes with these functions (runtime/quant_math), and the runtime computes the
// same numbers at prepare when a file leaves them out (schema Requantization: schema 1.1 omits
// every pair these rules reproduce exactly). Pure IEEE double arithmetic on the stored float
// scales (products, quotients, sqrt, ldexp, frexp, round), no libm transcendental: the result is
// the same on every platform. Run at prepare or quantize time, never in invoke.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/kernels/reference/fixed_point.h"
#include "runtime/model.h"

namespace squint::rt {

// M → (multiplier, shift) (QuantizeMultiplier). M must be >= 0; M < 2^−32 flushes to 0;
// M >= 2^30 is clamped to the largest representable (shift 30).
QuantizedMultiplier RequantFromReal(double m);

// CONV_2D / FULLY_CONNECTED / CONV_TRANSPOSE_2D channel c, BATCH_MATMUL and MUL (s_w: the second
// operand's scale): M = s_x·s_w / s_y.
QuantizedMultiplier ProductRequant(double s_x, double s_w, double s_y);
// Group-scaled weight unit u: s_c = max_g s_w[u, g] (1 when not positive), M = s_x·s_c / s_y.
float GroupCommonScale(const float* group_scales, int64_t groups);
// ADD / SUB with t = 2·max(s_a, s_b): M_a = s_a/t, M_b = s_b/t, M_out = t / (2^left_shift·s_out).
struct AddRequantParams {
  int32_t left_shift = 20;
  QuantizedMultiplier a, b, out;
};
AddRequantParams AddRequant(double s_a, double s_b, double s_out, int32_t left_shift);
// s_in / (s_out·2^fraction_bits): REQUANTIZE and CONCAT inputs (0), nearest RESIZE (0), linear
// RESIZE (kResizeFractionBits), AVERAGE_POOL_2D and MEAN (kAvgPoolFractionBits).
QuantizedMultiplier RatioRequant(double s_in, double s_out, int32_t fraction_bits);
// HADAMARD: M = s_in / (√block·s_out) (the orthonormal 1/√block folded in).
QuantizedMultiplier HadamardRequant(double s_in, double s_out, int32_t block);

// Requantization `slot` of an op: 0 for the single `requant` of an op's options; ADD/SUB/MUL:
// 0 input1, 1 input2, 2 output; CONCAT: input k. RequantAt: null when absent; NumRequantSlots:
// how many slots the op's options have; RequantSlot: -1 when `r` is not one of op's.
const fb::Requantization* RequantAt(const fb::Operator& op, int32_t slot);
int32_t NumRequantSlots(const fb::Operator& op);
int32_t RequantSlot(const fb::Operator& op, const fb::Requantization* r);

// The pairs the rules above give for requantization `slot` of op `index` of a loaded model, from
// the stored scales of its tensors (one per output channel where the op has per-channel
// weights, else one). False when the slot has no rule (LAYER_NORM, a log-grid BATCH_MATMUL, MUL's
// input1/input2) or the op's tensors lack what the rule reads (the caller reports the error).
bool DeriveRequant(const Model& model, int32_t index, int32_t slot, TempVec<QuantizedMultiplier>* out);
// The same into a std::vector (the quantizer's and report's callers).
bool DeriveRequant(const Model& model, int32_t index, int32_t slot, std::vector<QuantizedMultiplier>* out);

}  // namespace squint::rt
