// `--weight-rounding adaround`: AdaRound (Nagel et al. 2020, "Up or Down? Adaptive Rounding for
// Post-Training Quantization") learns, for every weight, whether it rounds up or down, so that the
// layer's output on calibration inputs moves as little as possible.
//
// For a layer y = W·x with W [units, depth] on scales s (fixed: round-to-nearest's, as GPTQ keeps
// them) and the input Hessian H = Σ x xᵀ / rows of its calibration inputs (quant/gptq.h):
//   q(V)  = clamp(⌊W/s⌋ + h(V), ±qmax),   h(V) = clamp(σ(V)·(ζ − γ) + γ, 0, 1),  ζ = 1.1, γ = −0.1
//   loss  = Σ_units (s·q − W) H (s·q − W)ᵀ  +  λ · Σ (1 − |2h(V) − 1|^β)
// V starts where h(V) is W/s's fractional part (the float weight); Adam minimizes the loss, the
// regularizer off for the first 20 % of the iterations, then on with β falling linearly from 20
// to 2, which drives every h(V) to 0 or 1; the codes are ⌊W/s⌋ + [h(V) >= 1/2]. The reconstruction
// term is the layer's own output error on float inputs (layer-wise, like GPTQ here); the paper
// also tries the quantized previous layers' outputs as inputs. Deterministic: no randomness, a
// fixed number of iterations.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "quant/gptq.h"

namespace squint::quant {

struct AdaRoundOptions {
  int iterations = 1000;
  double learning_rate = 1e-2;  // Adam, on V
  double lambda = 0.01;         // weight of the rounding regularizer
  double warmup = 0.2;          // share of the iterations without the regularizer
  double beta_start = 20, beta_end = 2;
};

// The codes of w [units, depth] (row-major) on `scales` (as GptqRound: per tensor, per unit, or per
// unit and group), each in ±(2^(bits−1) − 1). `hessian` is Σ x xᵀ over hessian.rows rows
// (depth × depth). Errors name the layer: a Hessian of another size, scales that do not tile w.
Result<std::vector<int8_t>> AdaRound(const std::string& name, const std::vector<float>& w, int64_t units,
                                     int64_t depth, const std::vector<float>& scales, int bits,
                                     const InputHessian& hessian, const AdaRoundOptions& options = {});

}  // namespace squint::quant
