// The log-grid P·V product (misc.h states the contract), written once and compiled per
// instruction set: portable/log_grid_matmul.cc (the architecture's baseline) and
// x86/avx512vnni_log_grid.cc (AVX-512, whose 8-double vectors and FMAs the compiler uses for the
// same loops). The including file defines SQUINT_LOG_GRID_NAMESPACE (the namespace under
// squint::rt that holds the functions, one per translation unit, so that no inline function is
// shared between units compiled with different target flags) and SQUINT_LOG_GRID_MATMUL (the
// product's name). Internal to runtime/kernels.
#include <algorithm>
#include <cstdint>

#include "runtime/kernels/portable/wide_requant.h"
#include "runtime/kernels/reference/kernels.h"

namespace squint::rt::SQUINT_LOG_GRID_NAMESPACE {
namespace log_grid_detail {

constexpr int64_t kColumns = 8;  // b's rows padded to a multiple of this (one vector of doubles)
constexpr int32_t kRows = 4;     // rows of a per step

inline int64_t PaddedColumns(int32_t n) { return (int64_t{n} + kColumns - 1) / kColumns * kColumns; }

// The codes of kR rows of a × columns [j0, j0 + 8) of bd, requantized into y.
template <int32_t kR>
void RowsTimesColumns(const ::squint::rt::ref::BatchMatMulParams& p, const double* v, const int8_t* a, const double* bd,
                      int64_t n8, int32_t j0, int8_t* y) {
  double acc[kR][kColumns] = {};
  for (int32_t k = 0; k < p.k; ++k) {
    const double* bk = bd + k * n8 + j0;
    for (int32_t r = 0; r < kR; ++r) {
      const double c = v[static_cast<uint8_t>(a[int64_t{r} * p.k + k])];
      for (int64_t l = 0; l < kColumns; ++l) acc[r][l] += c * bk[l];
    }
  }
  // total (an integer below 2^53 in magnitude: exact in int64) → sum = ⌊(total + 2^14) / 2^15⌋ →
  // MultiplyByQuantizedMultiplier64: ⌊(|sum|·M + 2^(r−1)) / 2^r⌋ with the sign put back, one
  // 32×32 → 64-bit product while |sum| < 2^32 (|sum|·M < 2^63); the reference's saturation at
  // 2^31 is left to the clamp to the int8 range after the zero point, which gives the same code.
  // A column whose |sum| reaches 2^32 takes the branch-free 128-bit function.
  const ::squint::rt::ref::RequantParams& q = p.requant;
  const uint64_t mult = static_cast<uint32_t>(q.multiplier[0]);
  const int32_t shift = 31 - q.shift[0];
  const int64_t round = int64_t{1} << (shift - 1), zp = q.zero_point, lo = q.act_min, hi = q.act_max;
  const int32_t columns = static_cast<int32_t>(std::min<int64_t>(kColumns, p.n - j0));
  for (int32_t r = 0; r < kR; ++r) {
    int64_t sums[kColumns], codes[kColumns];
    uint64_t wide = 0;
    for (int64_t l = 0; l < kColumns; ++l) {
      const int64_t sum = (static_cast<int64_t>(acc[r][l]) + (int64_t{1} << 14)) >> 15;
      const uint64_t mag = static_cast<uint64_t>(sum < 0 ? -sum : sum);
      wide |= mag >> 32;
      const auto m = static_cast<int64_t>((static_cast<uint64_t>(static_cast<uint32_t>(mag)) * mult + round) >> shift);
      const int64_t code = (sum < 0 ? -m : m) + zp;
      sums[l] = sum;
      codes[l] = code < lo ? lo : (code > hi ? hi : code);
    }
    if (wide != 0)
      for (int64_t l = 0; l < kColumns; ++l) {
        const int64_t code =
            int64_t{::squint::rt::portable::detail::MultiplyByQuantizedMultiplier64Wide(sums[l], q.multiplier[0], q.shift[0])} + zp;
        codes[l] = code < lo ? lo : (code > hi ? hi : code);
      }
    for (int32_t l = 0; l < columns; ++l) y[int64_t{r} * p.n + j0 + l] = static_cast<int8_t>(codes[l]);
  }
}

}  // namespace log_grid_detail

void SQUINT_LOG_GRID_MATMUL(const ::squint::rt::ref::BatchMatMulParams& p, const double* v, const int8_t* a,
                            const int8_t* b, int8_t* y, double* scratch) {
  using namespace log_grid_detail;
  const int64_t n8 = PaddedColumns(p.n);
  for (int32_t k = 0; k < p.k; ++k) {
    double* row = scratch + k * n8;
    for (int32_t j = 0; j < p.n; ++j) row[j] = static_cast<double>(int32_t{b[int64_t{k} * p.n + j]} - p.b_zero_point);
    for (int64_t j = p.n; j < n8; ++j) row[j] = 0;
  }
  int32_t i = 0;
  for (; i + kRows <= p.m; i += kRows)
    for (int32_t j0 = 0; j0 < p.n; j0 += kColumns)
      RowsTimesColumns<kRows>(p, v, a + int64_t{i} * p.k, scratch, n8, j0, y + int64_t{i} * p.n);
  for (; i < p.m; ++i)
    for (int32_t j0 = 0; j0 < p.n; j0 += kColumns)
      RowsTimesColumns<1>(p, v, a + int64_t{i} * p.k, scratch, n8, j0, y + int64_t{i} * p.n);
}

}  // namespace squint::rt::SQUINT_LOG_GRID_NAMESPACE
