// BATCH_MATMUL with a log-grid left operand in double (misc.h states the contract).
#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "runtime/kernels/portable/misc.h"

#define SQUINT_LOG_GRID_NAMESPACE portable
#define SQUINT_LOG_GRID_MATMUL Qs8LogGridMatMul
#include "runtime/kernels/portable/log_grid_matmul_impl.h"  // NOLINT(build/include)

namespace squint::rt::portable {

void LogGridCoefficients(const ref::LogGrid& g, double* v) {
  for (int32_t q = 0; q < 256; ++q) v[q] = 0;
  for (int32_t q = 0; q < g.n; ++q) {
    const int64_t c = g.sqrt2 != nullptr && g.sqrt2[q] != 0 ? ref::kSqrt2Q15 : int64_t{1} << 15;
    v[q] = static_cast<double>(c * (int64_t{1} << (g.max_shift - g.shifts[q])) - g.eta_q);
  }
}

bool LogGridMatMulInDouble(const ref::BatchMatMulParams& p, const double* v) {
  __extension__ typedef unsigned __int128 U128;
  double v_max = 0;
  for (int32_t q = 0; q < 256; ++q) v_max = std::max(v_max, v[q] < 0 ? -v[q] : v[q]);
  if (!(v_max < 9007199254740992.0)) return false;  // 2^53 (and not NaN)
  const int64_t b_max = std::max(std::abs(-128 - p.b_zero_point), std::abs(127 - p.b_zero_point));
  return static_cast<U128>(p.k) * static_cast<U128>(b_max) * static_cast<U128>(static_cast<int64_t>(v_max)) <
         (static_cast<U128>(1) << 53);
}

int64_t Qs8LogGridMatMulScratchBytes(const ref::BatchMatMulParams& p) {
  return int64_t{p.k} * log_grid_detail::PaddedColumns(p.n) * static_cast<int64_t>(sizeof(double));
}

}  // namespace squint::rt::portable
