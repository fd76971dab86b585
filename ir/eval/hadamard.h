// The orthonormal block-diagonal Hadamard rotation of squint.Hadamard (ir/ops.inc), shared by
// its float kernel and by passes/online_hadamard (which folds the same rotation into weights).
//
// Over the last axis of x viewed as [rows, channels], block by block (channels = blocks·block,
// block = k·2^m, k = hadamard::HadamardK(block)): for each row and block, with its channels i,
//   v_i = sign_i·x_i                                  (signs empty: all +1; else one per channel)
//   u   = (H_k ⊗ H_{2^m})·v   — Sylvester butterflies (a, b) → (a + b, a − b) within each
//         contiguous segment of 2^m channels, then the k×k ±1 matrix BuildHadamardMatrix(k)
//         across the k segments: u[a·2^m + j] = Σ_c h_k[a·k + c]·w[c·2^m + j]
//   y_i = u_i / √block
// the element order of the runtime's HADAMARD (runtime/kernels/reference/kernels.h), so the
// float and the integer model rotate the same way. Accumulates in double.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "base/status.h"
#include "ir/tensor.h"

namespace squint::ir::eval {

// Checks a Hadamard configuration for `channels` channels; errors name `label` (the node),
// the bad value and the rule: block >= 1, HadamardK(block) > 0 (block = k·2^m with a
// buildable k), block divides channels, signs empty or `channels` entries each ±1.
Status CheckHadamardConfig(const std::string& label, int64_t channels, int64_t block,
                           std::span<const int64_t> signs);

// y = the rotation above applied to every row of x (float32 or float64; y has x's dtype and
// shape, allocated by the caller). Preconditions: CheckHadamardConfig passed for x's last dim.
void ApplyHadamard(const Tensor& x, int64_t block, std::span<const int64_t> signs, Tensor& y);

}  // namespace squint::ir::eval
