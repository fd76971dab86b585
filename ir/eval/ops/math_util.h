// Helpers private to the math op definitions (elementwise, activations, reductions,
// normalization, softmax, matmul, conv, pool): dtype dispatch over the types an op
// accepts, contiguous-run iteration over a two-input broadcast, and Eigen array maps.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <type_traits>

#include <Eigen/Core>

#include "ir/eval/ops/common.h"

namespace squint::ir::eval {

// Sets of element types an op accepts.
enum TypeSet : unsigned {
  kFloatTypes = 1u,     // float32, float64
  kWideIntTypes = 2u,   // int32, int64
  kNarrowIntTypes = 4u, // int8, uint8, int16
  kIntTypes = kWideIntTypes | kNarrowIntTypes,
  kNumericTypes = kFloatTypes | kIntTypes,
};

inline bool InTypeSet(DType d, unsigned set) {
  switch (d) {
    case DType::kFloat32:
    case DType::kFloat64: return (set & kFloatTypes) != 0;
    case DType::kInt32:
    case DType::kInt64: return (set & kWideIntTypes) != 0;
    case DType::kInt8:
    case DType::kUInt8:
    case DType::kInt16: return (set & kNarrowIntTypes) != 0;
    default: return false;
  }
}

// Calls fn(TypeTag<T>{}) for the C++ type of d; returns false (and does nothing) when d
// is not in kSet.
template <unsigned kSet, typename Fn>
bool VisitType(DType d, Fn&& fn) {
  // Only the types of kSet instantiate fn: an op's kernel is compiled for the types it accepts.
  auto visit = [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr unsigned kGroup = std::is_floating_point_v<T> ? kFloatTypes
                                : sizeof(T) >= 4           ? kWideIntTypes
                                                           : kNarrowIntTypes;
    if constexpr ((kSet & kGroup) != 0) {
      fn(tag);
      return true;
    } else {
      return false;
    }
  };
  switch (d) {
    case DType::kFloat32: return visit(TypeTag<float>{});
    case DType::kFloat64: return visit(TypeTag<double>{});
    case DType::kInt32: return visit(TypeTag<int32_t>{});
    case DType::kInt64: return visit(TypeTag<int64_t>{});
    case DType::kInt8: return visit(TypeTag<int8_t>{});
    case DType::kUInt8: return visit(TypeTag<uint8_t>{});
    case DType::kInt16: return visit(TypeTag<int16_t>{});
    default: return false;
  }
}

// "float32, float64, int32, int64" for messages.
std::string TypeSetNames(unsigned set);

// Error unless input i is present with a dtype in `set`.
Status RequireDType(const InferContext& ctx, size_t i, const char* what, unsigned set);
// Error unless input i (when present) has the same dtype as input 0.
Status RequireSameDType(const InferContext& ctx, size_t i, const char* what);

// Unsupported-dtype error from a kernel (only reached when Infer was bypassed).
Status KernelDTypeError(const Node& node, DType d);
// Error unless the node has between min_in and max_in inputs.
Status CheckInputCount(const InferContext& ctx, size_t min_in, size_t max_in);

// Wrapping integer arithmetic (no signed-overflow UB on untrusted data).
template <typename T>
T WrapAdd(T a, T b) {
  using U = std::make_unsigned_t<decltype(a + b)>;
  return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
}
template <typename T>
T WrapSub(T a, T b) {
  using U = std::make_unsigned_t<decltype(a - b)>;
  return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
}
template <typename T>
T WrapMul(T a, T b) {
  using U = std::make_unsigned_t<decltype(a * b)>;
  return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
}
template <typename T>
T WrapNeg(T a) {
  using U = std::make_unsigned_t<decltype(-a)>;
  return static_cast<T>(U{0} - static_cast<U>(a));
}

// Float -> integer conversion that saturates and maps NaN to 0 (no UB).
template <typename T>
T SaturateCast(double v) {
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(v);
  } else {
    if (!(v == v)) return 0;
    if (v <= static_cast<double>(std::numeric_limits<T>::min())) return std::numeric_limits<T>::min();
    if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  }
}

template <typename T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <typename T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <typename T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using MatrixMap = Eigen::Map<RowMatrix<T>>;
template <typename T>
using ConstMatrixMap = Eigen::Map<const RowMatrix<T>>;

// The broadcast of a and b into out as contiguous runs. For each run, calls
//   fn(out_offset, a_offset, a_step, b_offset, b_step, n)
// where a_step and b_step are 1 (input advances with the output) or 0 (input element
// repeated). Adjacent dims are merged, so [M,N]+[N] is M runs of N and [N,C,H,W]+[C,1,1]
// is N*C runs of H*W with b_step 0. Dims must be broadcast-compatible (checked by Infer).
template <typename Fn>
void ForEachBroadcastRun(const Dims& out, const Dims& a, const Dims& b, Fn&& fn) {
  const size_t rank = out.size();
  for (int64_t d : out)
    if (d == 0) return;
  // Padded dims and strides, keeping only output dims > 1.
  std::vector<int64_t> dims, sa, sb;
  {
    int64_t stride_a = 1, stride_b = 1;
    std::vector<int64_t> rd, ra, rb;  // innermost first
    for (size_t k = 0; k < rank; ++k) {
      const size_t i = rank - 1 - k;
      const int64_t da = k < a.size() ? a[a.size() - 1 - k] : 1;
      const int64_t db = k < b.size() ? b[b.size() - 1 - k] : 1;
      if (out[i] != 1) {
        rd.push_back(out[i]);
        ra.push_back(da == 1 ? 0 : stride_a);
        rb.push_back(db == 1 ? 0 : stride_b);
      }
      stride_a *= da;
      stride_b *= db;
    }
    // Merge from the inside out.
    for (size_t k = 0; k < rd.size(); ++k) {
      if (!dims.empty() && ra[k] == sa.back() * dims.back() && rb[k] == sb.back() * dims.back()) {
        dims.back() *= rd[k];
      } else {
        dims.push_back(rd[k]);
        sa.push_back(ra[k]);
        sb.push_back(rb[k]);
      }
    }
  }
  if (dims.empty()) {
    fn(int64_t{0}, int64_t{0}, int64_t{1}, int64_t{0}, int64_t{1}, int64_t{1});
    return;
  }
  // dims[0] is the innermost run; iterate the rest with an odometer.
  const int64_t n = dims[0];
  const int64_t step_a = sa[0] ? 1 : 0, step_b = sb[0] ? 1 : 0;
  const size_t outer_rank = dims.size() - 1;
  std::vector<int64_t> idx(outer_rank, 0);
  int64_t total_outer = 1;
  for (size_t k = 1; k < dims.size(); ++k) total_outer *= dims[k];
  int64_t off_a = 0, off_b = 0, off_o = 0;
  for (int64_t r = 0; r < total_outer; ++r) {
    fn(off_o, off_a, step_a, off_b, step_b, n);
    off_o += n;
    for (size_t k = 0; k < outer_rank; ++k) {
      off_a += sa[k + 1];
      off_b += sb[k + 1];
      if (++idx[k] < dims[k + 1]) break;
      off_a -= sa[k + 1] * dims[k + 1];
      off_b -= sb[k + 1] * dims[k + 1];
      idx[k] = 0;
    }
  }
}

// Unary elementwise op over the dtypes of kSet. Op is constructed from the node (to read
// attributes) and provides `auto Float(const Expr&)` on Eigen arrays for floating types and
// `T Int(T)` for integer types when kSet has any.
template <typename Op, unsigned kSet>
Result<std::vector<OutputType>> InferUnary(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(CheckInputCount(ctx, 1, 1));
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 0, "X", kSet));
  return std::vector<OutputType>{SameAsInput(ctx, 0)};
}

template <typename Op, unsigned kSet>
Status UnaryKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& x = *inputs[0];
  Tensor& y = outputs[0];
  const Op op(node);
  const bool ok = VisitType<kSet>(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<T>) {
      ArrayMap<T>(y.data<T>(), y.size()) = op.Float(ConstArrayMap<T>(x.data<T>(), x.size()));
    } else if constexpr ((kSet & kIntTypes) != 0) {
      const T* px = x.data<T>();
      T* py = y.data<T>();
      for (int64_t i = 0; i < x.size(); ++i) py[i] = op.Int(px[i]);
    }
  });
  return ok ? Status::Ok() : KernelDTypeError(node, x.dtype());
}

}  // namespace squint::ir::eval
