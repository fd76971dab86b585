// Reference TRANSPOSE, CONCAT, SLICE, GATHER, SPLIT, PAD: exact data movement (CONCAT may
// rescale per input). kernels.h states the contract.
#include <cstdint>
#include <cstring>

#include "runtime/kernels/reference/kernel_util.h"
#include "runtime/kernels/reference/kernels.h"

namespace squint::rt::ref {

namespace {

// y (contiguous, dims out_dims) = x[base + Σ index_i·strides_i].
template <typename T>
void StridedCopy(int32_t rank, const int32_t* out_dims, const int64_t* strides, int64_t base,
                 const T* x, T* y) {
  int64_t total = 1;
  for (int32_t i = 0; i < rank; ++i) total *= out_dims[i];
  if (total == 0) return;
  int32_t index[kMaxKernelRank] = {};
  for (int64_t o = 0; o < total; ++o) {
    int64_t src = base;
    for (int32_t i = 0; i < rank; ++i) src += index[i] * strides[i];
    y[o] = x[src];
    for (int32_t i = rank - 1; i >= 0; --i) {
      if (++index[i] < out_dims[i]) break;
      index[i] = 0;
    }
  }
}

void RowMajorStrides(int32_t rank, const int32_t* dims, int64_t* strides) {
  int64_t s = 1;
  for (int32_t i = rank - 1; i >= 0; --i) {
    strides[i] = s;
    s *= dims[i];
  }
}

}  // namespace

template <typename T>
void Transpose(int32_t rank, const int32_t* in_dims, const int32_t* perm, const T* x, T* y) {
  int64_t in_strides[kMaxKernelRank] = {};
  RowMajorStrides(rank, in_dims, in_strides);
  int32_t out_dims[kMaxKernelRank] = {};
  int64_t strides[kMaxKernelRank] = {};
  for (int32_t j = 0; j < rank; ++j) {
    out_dims[j] = in_dims[perm[j]];
    strides[j] = in_strides[perm[j]];
  }
  StridedCopy(rank, out_dims, strides, 0, x, y);
}

template <typename T>
void Slice(int32_t rank, const int32_t* in_dims, const int32_t* starts, const int32_t* steps,
           const int32_t* out_dims, const T* x, T* y) {
  int64_t in_strides[kMaxKernelRank] = {};
  RowMajorStrides(rank, in_dims, in_strides);
  int64_t strides[kMaxKernelRank] = {};
  int64_t base = 0;
  for (int32_t i = 0; i < rank; ++i) {
    base += int64_t{starts[i]} * in_strides[i];
    strides[i] = int64_t{steps[i]} * in_strides[i];
  }
  StridedCopy(rank, out_dims, strides, base, x, y);
}

template <typename T>
void Concat(int32_t num_inputs, const T* const* inputs, const int32_t* axis_sizes, int32_t outer,
            int32_t inner, const RescaleParams* rescale, T* y) {
  int64_t out_row = 0;
  for (int32_t i = 0; i < num_inputs; ++i) out_row += int64_t{axis_sizes[i]} * inner;
  int64_t column = 0;
  for (int32_t i = 0; i < num_inputs; ++i) {
    const int64_t row = int64_t{axis_sizes[i]} * inner;
    for (int64_t o = 0; o < outer; ++o) {
      const T* src = inputs[i] + o * row;
      T* dst = y + o * out_row + column;
      if (rescale == nullptr) {
        if (row > 0) std::memcpy(dst, src, static_cast<size_t>(row) * sizeof(T));
      } else {
        for (int64_t j = 0; j < row; ++j) dst[j] = static_cast<T>(detail::Rescale(rescale[i], src[j]));
      }
    }
    column += row;
  }
}

template <typename T>
void Gather(int32_t outer, int32_t axis_dim, int32_t inner, const int32_t* indices,
            int32_t num_indices, const T* x, T* y) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < num_indices; ++j) {
      int64_t index = indices[j];
      if (index < 0) index += axis_dim;
      index = detail::Clamp(index, 0, axis_dim - 1);
      const T* src = x + (o * axis_dim + index) * inner;
      T* dst = y + (o * num_indices + j) * inner;
      for (int64_t k = 0; k < inner; ++k) dst[k] = src[k];
    }
  }
}

template <typename T>
void Split(int32_t outer, int32_t inner, int32_t num_outputs, const int32_t* sizes, const T* x,
           T* const* outputs) {
  int64_t in_row = 0;
  for (int32_t i = 0; i < num_outputs; ++i) in_row += int64_t{sizes[i]} * inner;
  int64_t column = 0;
  for (int32_t i = 0; i < num_outputs; ++i) {
    const int64_t row = int64_t{sizes[i]} * inner;
    for (int64_t o = 0; o < outer; ++o) {
      const T* src = x + o * in_row + column;
      T* dst = outputs[i] + o * row;
      for (int64_t j = 0; j < row; ++j) dst[j] = src[j];
    }
    column += row;
  }
}

template <typename T>
void Pad(int32_t rank, const int32_t* in_dims, const int32_t* pads, int32_t mode, int32_t pad_value,
         const T* x, T* y) {
  int32_t out_dims[kMaxKernelRank] = {};
  int64_t in_strides[kMaxKernelRank] = {};
  RowMajorStrides(rank, in_dims, in_strides);
  int64_t total = 1;
  for (int32_t i = 0; i < rank; ++i) {
    out_dims[i] = in_dims[i] + pads[i] + pads[rank + i];
    total *= out_dims[i];
  }
  int32_t index[kMaxKernelRank] = {};
  for (int64_t o = 0; o < total; ++o) {
    int64_t src = 0;
    bool inside = true;
    for (int32_t i = 0; i < rank; ++i) {
      const int64_t n = in_dims[i];
      int64_t c = int64_t{index[i]} - pads[i];
      if (c < 0 || c >= n) {
        if (mode == 1) {  // reflect: −1 → 1, n → n − 2
          c = c < 0 ? -c : 2 * (n - 1) - c;
        } else if (mode == 2) {  // edge
          c = c < 0 ? 0 : n - 1;
        } else {
          inside = false;
          break;
        }
      }
      src += c * in_strides[i];
    }
    y[o] = inside ? x[src] : static_cast<T>(pad_value);
    for (int32_t i = rank - 1; i >= 0; --i) {
      if (++index[i] < out_dims[i]) break;
      index[i] = 0;
    }
  }
}

#define SQUINT_DATA_MOVEMENT(T)                                                                  \
  template void Transpose<T>(int32_t, const int32_t*, const int32_t*, const T*, T*);              \
  template void Concat<T>(int32_t, const T* const*, const int32_t*, int32_t, int32_t,            \
                          const RescaleParams*, T*);                                             \
  template void Slice<T>(int32_t, const int32_t*, const int32_t*, const int32_t*, const int32_t*, \
                         const T*, T*);                                                           \
  template void Gather<T>(int32_t, int32_t, int32_t, const int32_t*, int32_t, const T*, T*);     \
  template void Split<T>(int32_t, int32_t, int32_t, const int32_t*, const T*, T* const*);        \
  template void Pad<T>(int32_t, const int32_t*, const int32_t*, int32_t, int32_t, const T*, T*);
SQUINT_DATA_MOVEMENT(int8_t)
SQUINT_DATA_MOVEMENT(uint8_t)
SQUINT_DATA_MOVEMENT(int16_t)
SQUINT_DATA_MOVEMENT(int32_t)
#undef SQUINT_DATA_MOVEMENT

}  // namespace squint::rt::ref
