// `--weight-rounding gptq`: GPTQ (Frantar et al. 2022, docs/algorithms.md) chooses the integer
// codes of a linear layer's weights column by column so that the layer's output on calibration
// inputs moves as little as possible, instead of rounding every weight to its nearest code.
//
// For a layer y = W·x with W [units, depth] and calibration inputs x (rows of the input value):
//   H   = Σ x xᵀ over the calibration rows (depth × depth, double); a dead input (H_ii = 0) gets
//         H_ii = 1 and its weights 0; then H += damp·mean(diag H)·I
//   U   = the upper Cholesky factor of H⁻¹ (H⁻¹ = Uᵀ U)
//   for each column j (in descending order of H_jj with act_order, else in order):
//     q_j   = clamp(round(W_j / s), ±qmax)           s: the column's block scale, per unit
//     e_j   = (W_j − s·q_j) / U_jj
//     W_k  −= e_j · U_jk   for every later column k  (the error moves to what is not yet rounded)
// done in blocks of 128 columns (the later columns outside the block get one matrix product per
// block). The scales are those of round-to-nearest (quant/weights.h: per tensor, per channel or
// per group of consecutive depth elements, with the bias floor), fixed before the pass ("static
// groups"): the file format and the kernels are unchanged; only the codes differ.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "base/status.h"
#include "ir/graph.h"
#include "quant/calib_data.h"

namespace squint::quant {

struct GptqOptions {
  double damp = 0.01;       // H += damp·mean(diag H)·I
  bool act_order = true;    // columns in descending order of H_jj (the inputs with most energy first)
  int64_t max_samples = 0;  // calibration samples for H (0: all)
};

// Σ x xᵀ of one layer input (x's last dim is the layer's depth) and the rows it was summed over.
struct InputHessian {
  Eigen::MatrixXd h;
  int64_t rows = 0;
};

// One layer's Hessians, one per weight group: one for a Linear or an ungrouped Conv; `group` for
// a grouped Conv (group k's Hessian is over its own input channels' patches; its units are the
// k-th units / group of the weight's units).
using LayerHessians = std::vector<std::shared_ptr<const InputHessian>>;

// By node name: the input Hessians of every layer GPTQ applies to — MatMul, Gemm (transA = 0) and
// Linear (groups = 1) nodes with a constant 2-D weight and a float activation input (Linears that
// read the same value share one Hessian), and 2-D Conv nodes with a constant weight on a float
// activation input: x the im2col'd input patches, depth (c, ky, kx) in the weight's order, zeros
// where the window reads padding, every output position of every sample one row.
using GptqHessians = std::map<std::string, LayerHessians>;

// Evaluates g on the calibration samples and sums the Hessians. Errors: a layer input that no
// calibration row reached.
Result<GptqHessians> ComputeGptqHessians(const ir::Graph& g, const CalibData& calib, const GptqOptions& options);

// Checks that w is units × depth, the Hessian depth × depth, and that `scales` tile w (one per
// tensor, per unit, or per unit and group); returns the depth elements per scale. Errors begin
// with "<method> '<name>'".
Result<int64_t> CheckRoundingShapes(const char* method, const std::string& name, const std::vector<float>& w,
                                    int64_t units, int64_t depth, const std::vector<float>& scales,
                                    const InputHessian& hessian);

// The codes of w [units, depth] (row-major) on `scales`: one per tensor (1 value), per unit
// (units values) or per unit and group of depth / (scales.size() / units) consecutive elements,
// each block's codes in ±(2^(bits−1) − 1). `hessian` is depth × depth. `name` names the layer in
// errors (a Hessian of another size, a Cholesky factorization that fails even with damping).
Result<std::vector<int8_t>> GptqRound(const std::string& name, const std::vector<float>& w, int64_t units,
                                      int64_t depth, const std::vector<float>& scales, int bits,
                                      const InputHessian& hessian, const GptqOptions& options);

// Rounds w [units, depth] on `scales` (as GptqRound) group by group: units are split into
// hessians.size() equal runs, run k rounded by `round` with hessians[k] (and its own rows of
// `scales`, or the one per-tensor scale). Errors: units not divisible, scales that do not tile w.
using RoundFn = std::function<Result<std::vector<int8_t>>(const std::vector<float>& w, int64_t units,
                                                          const std::vector<float>& scales, const InputHessian& h)>;
Result<std::vector<int8_t>> RoundByGroups(const std::string& name, const std::vector<float>& w, int64_t units,
                                          int64_t depth, const std::vector<float>& scales,
                                          const LayerHessians& hessians, const RoundFn& round);

}  // namespace squint::quant
