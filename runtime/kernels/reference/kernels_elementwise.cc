// Reference ADD, SUB, MUL (NumPy broadcasting), LUT and REQUANTIZE (kernels.h states the contract).
#include <cstdint>
#include <limits>

#include "runtime/kernels/reference/kernel_util.h"
#include "runtime/kernels/reference/kernels.h"

namespace squint::rt::ref {

using detail::Requant;

bool ComputeBroadcast(const int32_t* a_dims, int32_t a_rank, const int32_t* b_dims, int32_t b_rank,
                      BroadcastShape* out) {
  if (a_rank < 0 || b_rank < 0 || a_rank > kMaxKernelRank || b_rank > kMaxKernelRank) return false;
  const int32_t rank = a_rank > b_rank ? a_rank : b_rank;
  BroadcastShape s;
  s.rank = rank;
  int64_t a_stride = 1, b_stride = 1;
  for (int32_t i = rank - 1; i >= 0; --i) {  // right-aligned
    const int32_t ai = i - (rank - a_rank), bi = i - (rank - b_rank);
    const int32_t da = ai >= 0 ? a_dims[ai] : 1;
    const int32_t db = bi >= 0 ? b_dims[bi] : 1;
    if (da < 0 || db < 0) return false;
    if (da != db && da != 1 && db != 1) return false;
    s.out_dims[i] = da == 1 ? db : da;
    s.a_strides[i] = da == 1 ? 0 : static_cast<int32_t>(a_stride);
    s.b_strides[i] = db == 1 ? 0 : static_cast<int32_t>(b_stride);
    a_stride *= da;
    b_stride *= db;
    if (a_stride > std::numeric_limits<int32_t>::max() ||
        b_stride > std::numeric_limits<int32_t>::max())
      return false;
  }
  *out = s;
  return true;
}

namespace {

// Calls f(y_index, a_index, b_index) for every output element in row-major order.
template <typename F>
void ForEachBroadcast(const BroadcastShape& s, F f) {
  int64_t total = 1;
  for (int32_t i = 0; i < s.rank; ++i) total *= s.out_dims[i];
  if (total == 0) return;
  const int32_t last = s.rank - 1;
  const int64_t inner = s.rank > 0 ? s.out_dims[last] : 1;
  const int64_t a_inner = s.rank > 0 ? s.a_strides[last] : 0;
  const int64_t b_inner = s.rank > 0 ? s.b_strides[last] : 0;
  int32_t index[kMaxKernelRank] = {};
  for (int64_t base = 0; base < total; base += inner) {
    int64_t a_off = 0, b_off = 0;
    for (int32_t i = 0; i < last; ++i) {
      a_off += int64_t{index[i]} * s.a_strides[i];
      b_off += int64_t{index[i]} * s.b_strides[i];
    }
    for (int64_t j = 0; j < inner; ++j) f(base + j, a_off + j * a_inner, b_off + j * b_inner);
    for (int32_t i = last - 1; i >= 0; --i) {
      if (++index[i] < s.out_dims[i]) break;
      index[i] = 0;
    }
  }
}

template <typename T>
void AddOrSub(const ElementwiseParams& p, const BroadcastShape& s, const T* a, const T* b, T* y,
              int32_t sign) {
  const int32_t scale = int32_t{1} << p.left_shift;  // (x − z)·2^left_shift as a product: no UB
  ForEachBroadcast(s, [&](int64_t yi, int64_t ai, int64_t bi) {
    const int32_t av = detail::Scale((a[ai] - p.a_zero_point) * scale, p.a_multiplier, p.a_shift);
    const int32_t bv = detail::Scale((b[bi] - p.b_zero_point) * scale, p.b_multiplier, p.b_shift);
    // |av|, |bv| <= 2^30 (input multipliers are <= 1/2 by construction): the sum fits.
    const int64_t sum = int64_t{av} + int64_t{sign} * bv;
    const int32_t acc = detail::Clamp(sum, std::numeric_limits<int32_t>::min(),
                                      std::numeric_limits<int32_t>::max());
    y[yi] = static_cast<T>(Requant(p.output, 0, acc));
  });
}

}  // namespace

template <typename T>
void Add(const ElementwiseParams& p, const BroadcastShape& s, const T* a, const T* b, T* y) {
  AddOrSub(p, s, a, b, y, 1);
}

template <typename T>
void Sub(const ElementwiseParams& p, const BroadcastShape& s, const T* a, const T* b, T* y) {
  AddOrSub(p, s, a, b, y, -1);
}

template <typename T>
void Mul(const ElementwiseParams& p, const BroadcastShape& s, const T* a, const T* b, T* y) {
  using Acc = typename detail::Accumulator<T>::type;
  ForEachBroadcast(s, [&](int64_t yi, int64_t ai, int64_t bi) {
    const Acc acc = (static_cast<Acc>(a[ai]) - p.a_zero_point) *
                    (static_cast<Acc>(b[bi]) - p.b_zero_point);
    y[yi] = static_cast<T>(Requant(p.output, 0, acc));
  });
}

template <typename TIn, typename TOut>
void Lut(int32_t count, const TIn* x, const int16_t* table, int32_t table_size, int32_t min_code,
         TOut* y) {
  for (int32_t i = 0; i < count; ++i) {
    const int32_t index = detail::Clamp(int64_t{x[i]} - min_code, 0, table_size - 1);
    y[i] = detail::Saturate<TOut>(table[index]);
  }
}

template <typename TIn, typename TOut>
void Requantize(const RescaleParams& p, int32_t count, const TIn* x, TOut* y) {
  for (int32_t i = 0; i < count; ++i) y[i] = static_cast<TOut>(detail::Rescale(p, x[i]));
}

#define SQUINT_ELEMENTWISE(T)                                                                \
  template void Add<T>(const ElementwiseParams&, const BroadcastShape&, const T*, const T*, T*); \
  template void Sub<T>(const ElementwiseParams&, const BroadcastShape&, const T*, const T*, T*); \
  template void Mul<T>(const ElementwiseParams&, const BroadcastShape&, const T*, const T*, T*);
SQUINT_ELEMENTWISE(int8_t)
SQUINT_ELEMENTWISE(int16_t)
#undef SQUINT_ELEMENTWISE

#define SQUINT_LUT(TIn, TOut) \
  template void Lut<TIn, TOut>(int32_t, const TIn*, const int16_t*, int32_t, int32_t, TOut*);
SQUINT_LUT(int8_t, int8_t)
SQUINT_LUT(int8_t, int16_t)
SQUINT_LUT(int16_t, int8_t)
SQUINT_LUT(int16_t, int16_t)
#undef SQUINT_LUT

#define SQUINT_REQUANTIZE(TIn, TOut) \
  template void Requantize<TIn, TOut>(const RescaleParams&, int32_t, const TIn*, TOut*);
SQUINT_REQUANTIZE(int8_t, int8_t)
SQUINT_REQUANTIZE(int8_t, uint8_t)
SQUINT_REQUANTIZE(int8_t, int16_t)
SQUINT_REQUANTIZE(uint8_t, int8_t)
SQUINT_REQUANTIZE(uint8_t, uint8_t)
SQUINT_REQUANTIZE(uint8_t, int16_t)
SQUINT_REQUANTIZE(int16_t, int8_t)
SQUINT_REQUANTIZE(int16_t, uint8_t)
SQUINT_REQUANTIZE(int16_t, int16_t)
#undef SQUINT_REQUANTIZE

}  // namespace squint::rt::ref
