// Pooling: MaxPool, AveragePool (1-D to 3-D windows) and GlobalAveragePool.
//
// For output position o, the window covers input positions o·stride - pad_begin + k·dilation,
// k < kernel; positions outside the input are skipped (MaxPool) or, for AveragePool with
// count_include_pad=1, count as zeros as long as they lie in the explicit padding
// [-pad_begin, in + pad_end) (positions past that, created by ceil_mode, never count).
// MaxPool's optional Indices output holds the flat index of each maximum in X (row-major
// spatial order, or column-major spatial order with storage_order=1).
#include <cmath>

#include "ir/eval/ops/window.h"

namespace squint::ir::eval {
namespace {

template <bool kMax>
Result<std::vector<OutputType>> InferPool(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(CheckInputCount(ctx, 1, 1));
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 0, "X", kMax ? kNumericTypes : kFloatTypes));
  const InputInfo& x = ctx.in(0);
  const int64_t so = ctx.node.attrs.GetInt("storage_order", 0);
  if (so != 0 && so != 1)
    return InvalidInput("{}: attribute storage_order is {}, expected 0 or 1", ctx.node.Label(), so);
  std::vector<OutputType> out(kMax ? 2 : 1);
  out[0].dtype = x.dtype;
  if (kMax) out[1].dtype = DType::kInt64;
  size_t rank = 0;
  if (x.shape) {
    rank = x.shape->size();
  } else if (ctx.node.attrs.has("kernel_shape")) {
    rank = ctx.node.attrs.GetInts("kernel_shape").size() + 2;
  } else {
    return InvalidInput("{}: attribute kernel_shape is missing", ctx.node.Label());
  }
  if (rank < 3)
    return InvalidInput("{}: input has {} dims, expected at least 3 (N, C, spatial...)", ctx.node.Label(), rank);
  if (rank > 5) return Unsupported("{}: {}-D pooling is not supported (1-D to 3-D)", ctx.node.Label(), rank - 2);
  SQ_ASSIGN_OR_RETURN(Window win, ReadWindow(ctx.node, rank - 2, nullptr));
  if (x.shape) {
    Shape s{(*x.shape)[0], (*x.shape)[1]};
    for (size_t i = 0; i + 2 < rank; ++i) {
      SQ_ASSIGN_OR_RETURN(Dim d, WindowOutputDim(ctx.node, win, i, (*x.shape)[i + 2]));
      s.push_back(d);
    }
    for (OutputType& o : out) o.shape = s;
  }
  return out;
}

// Valid kernel index range [lo, hi) along one dim for window start `start`.
inline void KernelRange(int64_t start, int64_t dil, int64_t kernel, int64_t in, int64_t* lo, int64_t* hi) {
  *lo = start >= 0 ? 0 : (-start + dil - 1) / dil;
  *hi = in - start <= 0 ? 0 : std::min(kernel, (in - start + dil - 1) / dil);
  if (*hi < *lo) *hi = *lo;
}

template <typename T>
void MaxPoolPlane(const T* x, const Geometry3& g, T* y, int64_t* idx, int64_t base, bool col_major) {
  int64_t o = 0;
  for (int64_t od = 0; od < g.out[0]; ++od) {
    const int64_t sd = od * g.stride[0] - g.pad[0];
    int64_t d_lo, d_hi;
    KernelRange(sd, g.dilation[0], g.kernel[0], g.in[0], &d_lo, &d_hi);
    for (int64_t oh = 0; oh < g.out[1]; ++oh) {
      const int64_t sh = oh * g.stride[1] - g.pad[1];
      int64_t h_lo, h_hi;
      KernelRange(sh, g.dilation[1], g.kernel[1], g.in[1], &h_lo, &h_hi);
      for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o) {
        const int64_t sw = ow * g.stride[2] - g.pad[2];
        int64_t w_lo, w_hi;
        KernelRange(sw, g.dilation[2], g.kernel[2], g.in[2], &w_lo, &w_hi);
        T best = std::numeric_limits<T>::lowest();
        if constexpr (std::is_floating_point_v<T>) best = -std::numeric_limits<T>::infinity();
        int64_t best_i = -1;
        for (int64_t kd = d_lo; kd < d_hi; ++kd) {
          const int64_t id = sd + kd * g.dilation[0];
          for (int64_t kh = h_lo; kh < h_hi; ++kh) {
            const int64_t ih = sh + kh * g.dilation[1];
            const int64_t row = (id * g.in[1] + ih) * g.in[2];
            for (int64_t kw = w_lo; kw < w_hi; ++kw) {
              const int64_t i = row + sw + kw * g.dilation[2];
              if (best_i < 0 || x[i] > best) {
                best = x[i];
                best_i = i;
              }
            }
          }
        }
        y[o] = best;
        if (idx) {
          int64_t flat = best_i < 0 ? 0 : best_i;
          if (col_major && best_i >= 0) {
            const int64_t iw = best_i % g.in[2], ih = (best_i / g.in[2]) % g.in[1], id = best_i / (g.in[2] * g.in[1]);
            flat = id + ih * g.in[0] + iw * g.in[0] * g.in[1];
          }
          idx[o] = base + flat;
        }
      }
    }
  }
}

template <typename T>
void AvgPoolPlane(const T* x, const Geometry3& g, T* y, bool count_pad) {
  int64_t o = 0;
  // Positions in [-pad, in + pad_end) count when count_pad.
  auto padded_count = [&](int64_t start, int dim) {
    int64_t n = 0;
    for (int64_t k = 0; k < g.kernel[dim]; ++k) {
      const int64_t p = start + k * g.dilation[dim];
      if (p >= -g.pad[dim] && p < g.in[dim] + g.pad_end[dim]) ++n;
    }
    return n;
  };
  for (int64_t od = 0; od < g.out[0]; ++od) {
    const int64_t sd = od * g.stride[0] - g.pad[0];
    int64_t d_lo, d_hi;
    KernelRange(sd, g.dilation[0], g.kernel[0], g.in[0], &d_lo, &d_hi);
    const int64_t cd = count_pad ? padded_count(sd, 0) : d_hi - d_lo;
    for (int64_t oh = 0; oh < g.out[1]; ++oh) {
      const int64_t sh = oh * g.stride[1] - g.pad[1];
      int64_t h_lo, h_hi;
      KernelRange(sh, g.dilation[1], g.kernel[1], g.in[1], &h_lo, &h_hi);
      const int64_t ch = count_pad ? padded_count(sh, 1) : h_hi - h_lo;
      for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o) {
        const int64_t sw = ow * g.stride[2] - g.pad[2];
        int64_t w_lo, w_hi;
        KernelRange(sw, g.dilation[2], g.kernel[2], g.in[2], &w_lo, &w_hi);
        const int64_t cw = count_pad ? padded_count(sw, 2) : w_hi - w_lo;
        T sum = 0;
        for (int64_t kd = d_lo; kd < d_hi; ++kd) {
          const int64_t id = sd + kd * g.dilation[0];
          for (int64_t kh = h_lo; kh < h_hi; ++kh) {
            const int64_t row = (id * g.in[1] + sh + kh * g.dilation[1]) * g.in[2];
            for (int64_t kw = w_lo; kw < w_hi; ++kw) sum += x[row + sw + kw * g.dilation[2]];
          }
        }
        const int64_t count = cd * ch * cw;
        y[o] = count > 0 ? sum / static_cast<T>(count) : std::numeric_limits<T>::quiet_NaN();
      }
    }
  }
}

template <bool kMax>
Status PoolKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& x = *inputs[0];
  const size_t rank = static_cast<size_t>(x.rank()) - 2;
  SQ_ASSIGN_OR_RETURN(Window win, ReadWindow(node, rank, nullptr));
  const std::vector<int64_t> in(x.dims().begin() + 2, x.dims().end());
  std::vector<int64_t> out;
  for (size_t i = 0; i < rank; ++i) {
    SQ_ASSIGN_OR_RETURN(int64_t o, WindowOutputSize(node, win, i, in[i]));
    out.push_back(o);
  }
  Tensor& y = outputs[0];
  if (out != std::vector<int64_t>(y.dims().begin() + 2, y.dims().end()))
    return Internal("{}: output size mismatch", node.Label());
  const Geometry3 g = ToGeometry3(win, in, out);
  const int64_t planes = x.dim(0) * x.dim(1), lin = g.in_size(), lout = g.out_size();
  Tensor* indices = kMax && outputs.size() > 1 && !outputs[1].empty_type() ? &outputs[1] : nullptr;
  const bool col_major = node.attrs.GetInt("storage_order", 0) == 1;
  const bool count_pad = node.attrs.GetInt("count_include_pad", 0) != 0;
  const bool ok = VisitType<(kMax ? kNumericTypes : kFloatTypes)>(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t p = 0; p < planes; ++p) {
      if constexpr (kMax) {
        MaxPoolPlane<T>(x.data<T>() + p * lin, g, y.data<T>() + p * lout,
                        indices ? indices->data<int64_t>() + p * lout : nullptr, p * lin, col_major);
      } else if constexpr (std::is_floating_point_v<T>) {
        AvgPoolPlane<T>(x.data<T>() + p * lin, g, y.data<T>() + p * lout, count_pad);
      }
    }
  });
  return ok ? Status::Ok() : KernelDTypeError(node, x.dtype());
}

// ---- GlobalAveragePool ----------------------------------------------------------------

Result<std::vector<OutputType>> InferGlobalAveragePool(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(CheckInputCount(ctx, 1, 1));
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 0, "X", kFloatTypes));
  const InputInfo& x = ctx.in(0);
  if (!x.shape) return One(x.dtype, std::nullopt);
  if (x.shape->size() < 3)
    return InvalidInput("{}: input has shape {}, expected at least 3 dims (N, C, spatial...)", ctx.node.Label(),
                        ShapeToString(*x.shape));
  Shape s{(*x.shape)[0], (*x.shape)[1]};
  s.resize(x.shape->size(), Dim::Known(1));
  return One(x.dtype, std::move(s));
}

Status GlobalAveragePoolKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& x = *inputs[0];
  const int64_t planes = x.dim(0) * x.dim(1);
  const int64_t len = planes ? x.size() / planes : 0;
  const bool ok = VisitType<kFloatTypes>(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* py = outputs[0].data<T>();
    for (int64_t p = 0; p < planes; ++p)
      py[p] = len ? ConstArrayMap<T>(x.data<T>() + p * len, len).sum() / static_cast<T>(len)
                  : std::numeric_limits<T>::quiet_NaN();
  });
  return ok ? Status::Ok() : KernelDTypeError(node, x.dtype());
}

}  // namespace

extern const OpDef kDefMaxPool{InferPool<true>, PoolKernel<true>};
extern const OpDef kDefAveragePool{InferPool<false>, PoolKernel<false>};
extern const OpDef kDefGlobalAveragePool{InferGlobalAveragePool, GlobalAveragePoolKernel};

}  // namespace squint::ir::eval
