// GemmRowMajor (gemm.h) on Eigen's matrix product.
#include "ir/eval/ops/gemm.h"

#include "ir/eval/ops/math_util.h"

namespace squint::ir::eval {

template <typename T>
void GemmRowMajor(const T* a, bool trans_a, const T* b, bool trans_b, T* c, int64_t m, int64_t k, int64_t n,
                  T alpha, bool accumulate) {
  MatrixMap<T> cm(c, m, n);
  if (!accumulate) cm.setZero();
  if (m == 0 || n == 0 || k == 0) return;
  const ConstMatrixMap<T> am(a, trans_a ? k : m, trans_a ? m : k);
  const ConstMatrixMap<T> bm(b, trans_b ? n : k, trans_b ? k : n);
  if (!trans_a && !trans_b)
    cm.noalias() += alpha * am * bm;
  else if (trans_a && !trans_b)
    cm.noalias() += alpha * am.transpose() * bm;
  else if (!trans_a && trans_b)
    cm.noalias() += alpha * am * bm.transpose();
  else
    cm.noalias() += alpha * am.transpose() * bm.transpose();
}

template void GemmRowMajor<float>(const float*, bool, const float*, bool, float*, int64_t, int64_t, int64_t, float,
                                  bool);
template void GemmRowMajor<double>(const double*, bool, const double*, bool, double*, int64_t, int64_t, int64_t,
                                   double, bool);

}  // namespace squint::ir::eval
