// Reference CONV_2D, FULLY_CONNECTED, BATCH_MATMUL (kernels.h states the contract).
#include <cstdint>

#include "runtime/kernels/reference/kernel_util.h"
#include "runtime/kernels/reference/kernels.h"

namespace squint::rt::ref {

using detail::Accumulator;
using detail::Requant;

namespace {
int64_t MaxAbsDiff(int32_t zero_point) {  // max |q − z| over int8 codes q
  const int64_t a = 127 - int64_t{zero_point};
  const int64_t b = int64_t{zero_point} + 128;
  return a > b ? a : b;
}
constexpr int64_t kInt32Max = 0x7fffffff;
}  // namespace

bool Int8DotFitsInt32(int64_t depth, int32_t input_zero_point, int64_t max_abs_bias) {
  if (depth < 0 || max_abs_bias < 0) return false;
  return depth * MaxAbsDiff(input_zero_point) * 128 + max_abs_bias <= kInt32Max;
}

bool Int8MatMulFitsInt32(int64_t k, int32_t a_zero_point, int32_t b_zero_point) {
  if (k < 0) return false;
  return k * MaxAbsDiff(a_zero_point) * MaxAbsDiff(b_zero_point) <= kInt32Max;
}

template <typename T>
void Conv2D(const Conv2DParams& p, const T* x, const int8_t* w, const int32_t* bias, T* y) {
  detail::Conv2DLoop(p, x, [w](int64_t i) { return int32_t{w[i]}; }, bias, y);
}

template <typename T>
void FullyConnected(const FullyConnectedParams& p, const T* x, const int8_t* w, const int32_t* bias,
                    T* y) {
  using Acc = typename Accumulator<T>::type;
  const int32_t group_depth = p.depth / p.groups, group_units = p.units / p.groups;
  for (int32_t r = 0; r < p.rows; ++r) {
    const T* x_r = x + int64_t{r} * p.depth;
    for (int32_t u = 0; u < p.units; ++u) {
      const T* x_g = x_r + int64_t{u / group_units} * group_depth;
      const int8_t* w_u = w + int64_t{u} * group_depth;
      Acc acc = bias != nullptr ? bias[u] : 0;
      for (int32_t k = 0; k < group_depth; ++k) {
        acc += (static_cast<Acc>(x_g[k]) - p.input_zero_point) * w_u[k];
      }
      y[int64_t{r} * p.units + u] = static_cast<T>(Requant(p.requant, u, acc));
    }
  }
}

// Σ_k value(a_k)·(b[k, j] − b_zp) in units of delta·2^−R (kernels.h, log-grid operand).
template <typename T>
int64_t LogGridDot(const LogGrid& g, const BatchMatMulParams& p, const T* a_row, const T* b, int32_t j) {
  int64_t acc0 = 0, acc1 = 0, col = 0;
  for (int32_t k = 0; k < p.k; ++k) {
    const int32_t code = static_cast<uint8_t>(a_row[k]);
    if (code >= g.n) continue;  // the zero code
    const int64_t bv = int64_t{b[int64_t{k} * p.n + j]} - p.b_zero_point;
    // Two's-complement shift (a left shift of a negative signed value is UB in C++17).
    const int64_t shifted = static_cast<int64_t>(static_cast<uint64_t>(bv) << (g.max_shift - g.shifts[code]));
    if (g.sqrt2 != nullptr && g.sqrt2[code] != 0)
      acc1 += shifted;
    else
      acc0 += shifted;
    col += bv;
  }
  return detail::FloorDiv(acc0 * (int64_t{1} << 15) + acc1 * kSqrt2Q15 - col * g.eta_q + (int64_t{1} << 14),
                          int64_t{1} << 15);
}

template <typename T>
void BatchMatMul(const BatchMatMulParams& p, const T* a, const T* b, T* y) {
  using Acc = typename Accumulator<T>::type;
  int64_t num_batches = 1;
  for (int32_t i = 0; i < p.batch_rank; ++i) num_batches *= p.batch_dims[i];
  const int64_t a_matrix = int64_t{p.m} * p.k;
  const int64_t b_matrix = int64_t{p.k} * p.n;
  const int64_t y_matrix = int64_t{p.m} * p.n;
  int32_t index[4] = {0, 0, 0, 0};
  for (int64_t batch = 0; batch < num_batches; ++batch) {
    int64_t a_offset = 0, b_offset = 0;
    for (int32_t i = 0; i < p.batch_rank; ++i) {
      a_offset += int64_t{index[i]} * p.a_batch_strides[i];
      b_offset += int64_t{index[i]} * p.b_batch_strides[i];
    }
    const T* a_b = a + a_offset * a_matrix;
    const T* b_b = b + b_offset * b_matrix;
    T* y_b = y + batch * y_matrix;
    for (int32_t i = 0; i < p.m; ++i) {
      for (int32_t j = 0; j < p.n; ++j) {
        Acc acc = 0;
        if (p.a_grid != nullptr) {
          y_b[int64_t{i} * p.n + j] = static_cast<T>(Requant(p.requant, 0, LogGridDot(*p.a_grid, p, a_b + int64_t{i} * p.k, b_b, j)));
          continue;
        }
        for (int32_t k = 0; k < p.k; ++k) {
          const Acc av = static_cast<Acc>(a_b[int64_t{i} * p.k + k]) - p.a_zero_point;
          const Acc bv = static_cast<Acc>(b_b[int64_t{k} * p.n + j]) - p.b_zero_point;
          acc += av * bv;
        }
        y_b[int64_t{i} * p.n + j] = static_cast<T>(Requant(p.requant, 0, acc));
      }
    }
    for (int32_t i = p.batch_rank - 1; i >= 0; --i) {  // next batch index, row-major
      if (++index[i] < p.batch_dims[i]) break;
      index[i] = 0;
    }
  }
}

template void Conv2D<int8_t>(const Conv2DParams&, const int8_t*, const int8_t*, const int32_t*,
                             int8_t*);
template void Conv2D<int16_t>(const Conv2DParams&, const int16_t*, const int8_t*, const int32_t*,
                              int16_t*);
template void FullyConnected<int8_t>(const FullyConnectedParams&, const int8_t*, const int8_t*,
                                     const int32_t*, int8_t*);
template void FullyConnected<int16_t>(const FullyConnectedParams&, const int16_t*, const int8_t*,
                                      const int32_t*, int16_t*);
template void BatchMatMul<int8_t>(const BatchMatMulParams&, const int8_t*, const int8_t*, int8_t*);
template void BatchMatMul<int16_t>(const BatchMatMulParams&, const int16_t*, const int16_t*,
                                   int16_t*);

}  // namespace squint::rt::ref
