// Reductions: ReduceSum, ReduceMean, ReduceMax, ReduceL2 (sqrt of the sum of squares) over the axes given as input 1 (int64; the
// importer turns the attribute of older opsets into that input; an `axes` attribute is still
// read when the input is absent). keepdims (default 1) keeps reduced dims as size 1; empty
// axes reduce everything unless noop_with_empty_axes=1, which makes the op an identity.
// Over an empty set, Sum gives 0, Max the lowest value (-inf for floats), Mean NaN (0 for
// integers).
// squint's masked mean (passes/fuse_masked_mean): ReduceMean takes an optional input 2, `keep`
// (bool or integer, broadcast numpy-style to the data): the mean over the kept elements only,
// Σ x·[keep≠0] / Σ [keep≠0], 0 where nothing is kept (sentence-transformers' mean pooling).
#include <cmath>
#include <cstring>

#include "ir/eval/ops/data_util.h"
#include "ir/eval/ops/math_util.h"

namespace squint::ir::eval {
namespace {

// Which dims of a rank-`rank` input are reduced; error naming the node for bad axes.
Result<std::vector<bool>> ReducedDims(const Node& node, int64_t rank, const std::vector<int64_t>& axes) {
  std::vector<bool> reduced(static_cast<size_t>(rank), false);
  if (axes.empty()) {
    if (node.attrs.GetInt("noop_with_empty_axes", 0) == 0) reduced.assign(reduced.size(), true);
    return reduced;
  }
  for (int64_t a : axes) {
    SQ_ASSIGN_OR_RETURN(int64_t ax, NormalizeAxis(node, a, rank, "axes entry"));
    if (reduced[static_cast<size_t>(ax)])
      return InvalidInput("{}: axes entry {} repeats an axis", node.Label(), a);
    reduced[static_cast<size_t>(ax)] = true;
  }
  return reduced;
}

// The axes of a node: input 1 when present (values from `axes_tensor`), else the attribute.
std::vector<int64_t> AxesOf(const Node& node, const Tensor* axes_tensor) {
  if (axes_tensor) return axes_tensor->ToInt64Vector();
  return node.attrs.GetInts("axes");
}

Result<std::vector<OutputType>> InferReduce(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(CheckInputCount(ctx, 1, ctx.node.op == OpType::kReduceMean ? 3 : 2));
  if (const InputInfo& keep = ctx.in(2); keep.present) {
    if (keep.dtype != DType::kBool && !InTypeSet(keep.dtype, kIntTypes))
      return InvalidInput("{}: input 2 (keep mask) has dtype {}, expected bool or an integer type", ctx.node.Label(),
                          DTypeName(keep.dtype));
    if (ctx.in(0).shape && keep.shape) {
      SQ_ASSIGN_OR_RETURN(Shape b, BroadcastShapes(ctx.node, *ctx.in(0).shape, *keep.shape));
      if (b != *ctx.in(0).shape)
        return InvalidInput("{}: keep mask of shape {} does not broadcast to the data {}", ctx.node.Label(),
                            ShapeToString(*keep.shape), ShapeToString(*ctx.in(0).shape));
    }
  }
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 0, "data", kNumericTypes));
  const InputInfo& data = ctx.in(0);
  const InputInfo& axes = ctx.in(1);
  const bool keepdims = ctx.node.attrs.GetInt("keepdims", 1) != 0;
  if (axes.present) {
    if (axes.dtype != DType::kInt64)
      return InvalidInput("{}: input 1 (axes) has dtype {}, expected int64", ctx.node.Label(),
                          DTypeName(axes.dtype));
    if (axes.shape && axes.shape->size() != 1)
      return InvalidInput("{}: input 1 (axes) has shape {}, expected 1 dim", ctx.node.Label(),
                          ShapeToString(*axes.shape));
  }
  if (!data.shape) return One(data.dtype, std::nullopt);
  const Shape& in = *data.shape;
  if (axes.present && !axes.value) {
    // Which axes is unknown: with keepdims the rank is known, not the dims.
    if (!keepdims) return One(data.dtype, std::nullopt);
    return One(data.dtype, Shape(in.size(), Dim::Unknown()));
  }
  SQ_ASSIGN_OR_RETURN(std::vector<bool> reduced,
                      ReducedDims(ctx.node, static_cast<int64_t>(in.size()), AxesOf(ctx.node, axes.value)));
  Shape out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (!reduced[i])
      out.push_back(in[i]);
    else if (keepdims)
      out.push_back(Dim::Known(1));
  }
  return One(data.dtype, std::move(out));
}

enum class ReduceKind { kSum, kMean, kMax };

template <typename T>
T Lowest() {
  if constexpr (std::is_floating_point_v<T>) return -std::numeric_limits<T>::infinity();
  return std::numeric_limits<T>::lowest();
}

// Reduces the middle dim of [outer, r, inner] into [outer, inner].
template <typename T, bool kMax>
void ReduceMiddle(const T* in, T* out, int64_t outer, int64_t r, int64_t inner) {
  const T init = kMax ? Lowest<T>() : T(0);
  for (int64_t o = 0; o < outer; ++o) {
    const T* src = in + o * r * inner;
    T* dst = out + o * inner;
    if constexpr (std::is_floating_point_v<T>) {
      if (inner == 1) {
        ConstArrayMap<T> row(src, r);
        *dst = r == 0 ? init : (kMax ? row.maxCoeff() : row.sum());
        continue;
      }
      ArrayMap<T> acc(dst, inner);
      if (r == 0) {
        acc.setConstant(init);
        continue;
      }
      acc = ConstArrayMap<T>(src, inner);
      for (int64_t k = 1; k < r; ++k) {
        if (kMax)
          acc = acc.max(ConstArrayMap<T>(src + k * inner, inner));
        else
          acc += ConstArrayMap<T>(src + k * inner, inner);
      }
    } else {
      for (int64_t i = 0; i < inner; ++i) dst[i] = init;
      for (int64_t k = 0; k < r; ++k)
        for (int64_t i = 0; i < inner; ++i) {
          const T v = src[k * inner + i];
          dst[i] = kMax ? std::max(dst[i], v) : WrapAdd(dst[i], v);
        }
    }
  }
}

template <typename T>
void ReduceTensor(const Tensor& x, const std::vector<bool>& reduced, ReduceKind kind, Tensor& y) {
  // Groups of adjacent dims with the same flag (size-1 dims do not affect the layout).
  std::vector<int64_t> sizes;
  std::vector<bool> flags;
  int64_t count = 1;  // number of reduced elements per output
  for (size_t i = 0; i < reduced.size(); ++i) {
    const int64_t d = x.dim(static_cast<int64_t>(i));
    if (reduced[i]) count *= d;
    if (d == 1) continue;
    if (!flags.empty() && flags.back() == reduced[i]) {
      sizes.back() *= d;
    } else {
      sizes.push_back(d);
      flags.push_back(reduced[i]);
    }
  }
  // Reduce the innermost reduced group repeatedly, ping-ponging between buffers.
  std::vector<T> buf_a, buf_b;
  const T* src = x.data<T>();
  int64_t src_size = x.size();
  while (true) {
    int64_t g = -1;
    for (size_t i = 0; i < flags.size(); ++i)
      if (flags[i]) g = static_cast<int64_t>(i);
    if (g < 0) break;
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < g; ++i) outer *= sizes[static_cast<size_t>(i)];
    for (size_t i = static_cast<size_t>(g) + 1; i < sizes.size(); ++i) inner *= sizes[i];
    const int64_t r = sizes[static_cast<size_t>(g)];
    sizes.erase(sizes.begin() + g);
    flags.erase(flags.begin() + g);
    bool last = true;
    for (bool f : flags) last &= !f;
    T* dst;
    if (last) {
      dst = y.data<T>();
    } else {
      std::vector<T>& buf = (src == buf_a.data() && !buf_a.empty()) ? buf_b : buf_a;
      buf.assign(static_cast<size_t>(outer * inner), T(0));
      dst = buf.data();
    }
    if (kind == ReduceKind::kMax)
      ReduceMiddle<T, true>(src, dst, outer, r, inner);
    else
      ReduceMiddle<T, false>(src, dst, outer, r, inner);
    src = dst;
    src_size = outer * inner;
    if (last) break;
  }
  if (src != y.data<T>() && src_size > 0) std::memcpy(y.data<T>(), src, static_cast<size_t>(src_size) * sizeof(T));
  if (kind == ReduceKind::kMean) {
    T* py = y.data<T>();
    if constexpr (std::is_floating_point_v<T>) {
      if (count == 0)
        ArrayMap<T>(py, y.size()).setConstant(std::numeric_limits<T>::quiet_NaN());
      else if (count != 1)
        ArrayMap<T>(py, y.size()) *= T(1) / static_cast<T>(count);
    } else {
      for (int64_t i = 0; i < y.size(); ++i) py[i] = count == 0 ? T(0) : static_cast<T>(py[i] / count);
    }
  }
}

// Masked mean: Σ x·k / Σ k over the reduced dims (k = keep ≠ 0 broadcast to x), 0 where Σ k = 0.
Status MaskedMean(const Node& node, const Tensor& x, const Tensor& keep, const std::vector<bool>& reduced,
                  Tensor& y) {
  if (x.dtype() != DType::kFloat32) return KernelDTypeError(node, x.dtype());
  const std::vector<int64_t> kv = keep.ToInt64Vector();
  std::vector<float> k(kv.size());
  for (size_t i = 0; i < kv.size(); ++i) k[i] = kv[i] != 0 ? 1.0f : 0.0f;
  Tensor kf(DType::kFloat32, x.dims()), xk(DType::kFloat32, x.dims()), cnt(DType::kFloat32, y.dims());
  BroadcastCopy(kf.data<float>(), x.dims(), k.data(), keep.dims(), sizeof(float));
  for (int64_t i = 0; i < x.size(); ++i) xk.data<float>()[i] = x.data<float>()[i] * kf.data<float>()[i];
  ReduceTensor<float>(xk, reduced, ReduceKind::kSum, y);
  ReduceTensor<float>(kf, reduced, ReduceKind::kSum, cnt);
  for (int64_t i = 0; i < y.size(); ++i) {
    const float c = cnt.data<float>()[i];
    y.data<float>()[i] = c > 0 ? y.data<float>()[i] / c : 0.0f;
  }
  return Status::Ok();
}

template <ReduceKind kKind>
Status ReduceKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& x = *inputs[0];
  const Tensor* axes = inputs.size() > 1 ? inputs[1] : nullptr;
  SQ_ASSIGN_OR_RETURN(std::vector<bool> reduced, ReducedDims(node, x.rank(), AxesOf(node, axes)));
  if (kKind == ReduceKind::kMean && inputs.size() > 2 && inputs[2] != nullptr)
    return MaskedMean(node, x, *inputs[2], reduced, outputs[0]);
  const bool ok = VisitType<kNumericTypes>(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    ReduceTensor<T>(x, reduced, kKind, outputs[0]);
  });
  return ok ? Status::Ok() : KernelDTypeError(node, x.dtype());
}

// ReduceL2: sqrt(Σ x²), the sum taken in the input type (as ONNX Runtime does).
Status ReduceL2Kernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& x = *inputs[0];
  const Tensor* axes = inputs.size() > 1 ? inputs[1] : nullptr;
  SQ_ASSIGN_OR_RETURN(std::vector<bool> reduced, ReducedDims(node, x.rank(), AxesOf(node, axes)));
  const bool ok = VisitType<kNumericTypes>(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    Tensor sq(x.dtype(), x.dims());
    const T* px = x.data<T>();
    T* ps = sq.data<T>();
    for (int64_t i = 0; i < x.size(); ++i) ps[i] = static_cast<T>(px[i] * px[i]);
    ReduceTensor<T>(sq, reduced, ReduceKind::kSum, outputs[0]);
    T* py = outputs[0].data<T>();
    for (int64_t i = 0; i < outputs[0].size(); ++i)
      py[i] = static_cast<T>(std::sqrt(static_cast<double>(py[i])));
  });
  return ok ? Status::Ok() : KernelDTypeError(node, x.dtype());
}

}  // namespace

extern const OpDef kDefReduceSum{InferReduce, ReduceKernel<ReduceKind::kSum>};
extern const OpDef kDefReduceMean{InferReduce, ReduceKernel<ReduceKind::kMean>};
extern const OpDef kDefReduceMax{InferReduce, ReduceKernel<ReduceKind::kMax>};
extern const OpDef kDefReduceL2{InferReduce, ReduceL2Kernel};

}  // namespace squint::ir::eval
