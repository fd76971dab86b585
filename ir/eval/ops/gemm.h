// The float evaluator's one matrix product: every MatMul, Gemm, Linear, Conv and ConvTranspose
// goes through it, so Eigen's product kernels are instantiated in a single translation unit.
#pragma once

#include <cstdint>

namespace squint::ir::eval {

// C = alpha·op(A)·op(B), or C += alpha·op(A)·op(B) when accumulate. All row-major and
// contiguous: C is [m, n]; op(A) is [m, k], A being [m, k] or, when trans_a, [k, m]; op(B) is
// [k, n], B being [k, n] or, when trans_b, [n, k]. k == 0 gives zeros (or leaves C). T is float
// or double.
template <typename T>
void GemmRowMajor(const T* a, bool trans_a, const T* b, bool trans_b, T* c, int64_t m, int64_t k, int64_t n,
                  T alpha, bool accumulate);

}  // namespace squint::ir::eval
