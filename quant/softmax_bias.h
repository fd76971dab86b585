// Softmax bias correction (Pandey et al. 2023, docs/algorithms.md §4; the paper gives no public
// formula, so the estimator is derived here).
//
// The uniform b-bit softmax output is ŷ = clamp(⌊2^b·y⌉, 0, 2^b − 1)/2^b (the runtime's SOFTMAX
// kernel rounds its own integer y this way). Rounding is unbiased for values spread evenly
// across a step, but attention rows are mostly tiny probabilities: at 6 bits every y < 1/128
// becomes 0 and a flat row of 50 tokens (y = 0.02) becomes 1/64 everywhere. The attention output
// o = Σ_i y_i·v_i then carries a systematic error e = o − ô = Σ_i (y_i − ŷ_i)·v_i whose mean
// over tokens is not zero: rows lose (or gain) mass, and the values v_i are not centred.
//
// Estimator. For head h and channel c of the attention output, δ[h, c] = E[o − ô][h, c], the
// mean over calibration samples and query rows of the float attention output minus the one
// with quantized probabilities (float V, so only the softmax grid's error is measured). Then
// E[o − (ô + δ)] = 0 by construction, for every head and channel, without assuming anything
// about how V relates to the probabilities; rows whose probabilities are all zero (clipped
// softmax, fully masked rows) contribute their own (zero) error like any other row. A scaling
// correction c·ô with c = E[Σy]/E[Σŷ] is unbiased only if V is independent of the
// probabilities; measured on vit_tiny at 6 bits it lowered the P·V SQNR by 0.4 dB, so it is
// not used.
//
// Cost at inference: none. In attention, P·V is followed by Transpose [0, 2, 1, 3] and Reshape
// to [B, T, H·d] and the output projection y = W·x + b (a Linear); δ (a constant added to x,
// channel h·d + c) folds into the projection's bias: b' = b + W·δ. Attention blocks of another
// shape (e.g. a gate between P·V and the projection) are listed as not corrected.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "quant/calib_data.h"

namespace squint::quant {

// ŷ of y on the uniform b-bit softmax grid (the runtime's rounding: half up, then clamp).
double QuantizedProbability(double y, int bits);

// Adds, for one attention head, Σ_rows (o − ô) to delta[0..d) and returns the number of rows:
// y [rows, keys] probabilities, v [keys, d] values, both row-major.
int64_t AccumulateAttentionError(const float* y, const float* v, int64_t rows, int64_t keys, int64_t d, int bits,
                                 double* delta);

struct SoftmaxBias {
  std::string softmax;          // the Softmax node
  std::string projection;       // the Linear node whose bias absorbs δ ("" if not corrected)
  std::vector<float> offset;    // δ in the projection's input channels (H·d), empty if not corrected
  std::string why_not;          // when not corrected: the reason
};

// For every Softmax whose output is the left operand of a MatMul of two activations (P·V):
// δ measured over up to `max_samples` samples of `data` (0: all).
Result<std::vector<SoftmaxBias>> EstimateSoftmaxBias(const ir::Graph& g, const CalibData& data, int64_t max_samples,
                                                     int bits);

}  // namespace squint::quant
