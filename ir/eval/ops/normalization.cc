// LayerNormalization and BatchNormalization (inference).
//
// LayerNormalization (opset 17): over the trailing dims X[axis:] (axis default -1),
//   mean = E[x], inv = 1/sqrt(Var[x] + epsilon), Y = (x - mean)·inv·Scale + B
// Scale and the optional B broadcast to X[axis:]. Optional outputs Mean and InvStdDev have
// shape X[:axis] followed by ones; statistics are computed in the input's precision.
//
// squint.RMSNorm (ir/ops.inc): over the last axis, Y = scale·X / sqrt(mean(X²) + epsilon), no affine.
//
// BatchNormalization, inference mode: per channel c (dim 1 of X),
//   Y = (x - mean_c) / sqrt(var_c + epsilon) · scale_c + B_c
// training_mode=1 and the running-statistics outputs are not supported.
#include <cmath>

#include "ir/eval/ops/math_util.h"

namespace squint::ir::eval {
namespace {

// ---- LayerNormalization ----------------------------------------------------------------

// Error unless `param` (input i) broadcasts to the normalized dims X[axis:].
Status CheckNormParam(const InferContext& ctx, size_t i, const char* what, const Shape& x, int64_t axis) {
  const InputInfo& p = ctx.in(i);
  if (!p.present || !p.shape) return Status::Ok();
  const Shape& s = *p.shape;
  const size_t norm_rank = x.size() - static_cast<size_t>(axis);
  bool ok = s.size() <= norm_rank;
  for (size_t k = 0; ok && k < s.size(); ++k) {
    const Dim& pd = s[s.size() - 1 - k];
    const Dim& xd = x[x.size() - 1 - k];
    if (pd.known() && pd.value != 1 && xd.known() && pd.value != xd.value) ok = false;
  }
  if (!ok)
    return InvalidInput("{}: input {} ({}) has shape {}, which does not broadcast to the normalized dims of X {} "
                        "from axis {}",
                        ctx.node.Label(), i, what, ShapeToString(s), ShapeToString(x), axis);
  return Status::Ok();
}

Result<std::vector<OutputType>> InferLayerNorm(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(CheckInputCount(ctx, 2, 3));
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 0, "X", kFloatTypes));
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 1, "Scale"));
  SQ_RETURN_IF_ERROR(RequireSameDType(ctx, 1, "Scale"));
  SQ_RETURN_IF_ERROR(RequireSameDType(ctx, 2, "B"));
  const float eps = ctx.node.attrs.GetFloat("epsilon", 1e-5f);
  if (!(eps >= 0.0f))
    return InvalidInput("{}: epsilon is {}, expected >= 0", ctx.node.Label(), eps);
  const InputInfo& x = ctx.in(0);
  std::vector<OutputType> out(3);
  out[0] = SameAsInput(ctx, 0);
  out[1].dtype = out[2].dtype = x.dtype;
  if (x.shape) {
    const int64_t rank = static_cast<int64_t>(x.shape->size());
    SQ_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx.node, ctx.node.attrs.GetInt("axis", -1), rank));
    SQ_RETURN_IF_ERROR(CheckNormParam(ctx, 1, "Scale", *x.shape, axis));
    SQ_RETURN_IF_ERROR(CheckNormParam(ctx, 2, "B", *x.shape, axis));
    Shape stat(x.shape->begin(), x.shape->begin() + axis);
    stat.resize(x.shape->size(), Dim::Known(1));
    out[1].shape = out[2].shape = stat;
  }
  return out;
}

// `param` expanded to the n values of the normalized dims `norm` (a copy only when it is
// not already exactly n values).
template <typename T>
const T* ExpandParam(const Tensor& param, const Dims& norm, int64_t n, std::vector<T>& storage) {
  if (param.size() == n) return param.data<T>();
  storage.resize(static_cast<size_t>(n));
  const T* p = param.data<T>();
  ForEachBroadcastRun(norm, norm, param.dims(), [&](int64_t o, int64_t, int64_t, int64_t ip, int64_t sp, int64_t len) {
    for (int64_t i = 0; i < len; ++i) storage[static_cast<size_t>(o + i)] = p[ip + i * sp];
  });
  return storage.data();
}

template <typename T>
void LayerNormRows(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs,
                   int64_t axis) {
  const Tensor& x = *inputs[0];
  const Tensor* bias_t = inputs.size() > 2 ? inputs[2] : nullptr;
  int64_t rows = 1, n = 1;
  for (int64_t i = 0; i < axis; ++i) rows *= x.dim(i);
  for (int64_t i = axis; i < x.rank(); ++i) n *= x.dim(i);
  const Dims norm(x.dims().begin() + axis, x.dims().end());
  std::vector<T> scale_store, bias_store;
  ConstArrayMap<T> scale(ExpandParam<T>(*inputs[1], norm, n, scale_store), n);
  const T* bias_p = bias_t ? ExpandParam<T>(*bias_t, norm, n, bias_store) : nullptr;
  const T eps = static_cast<T>(node.attrs.GetFloat("epsilon", 1e-5f));
  T* mean_out = outputs.size() > 1 && !outputs[1].empty_type() ? outputs[1].data<T>() : nullptr;
  T* inv_out = outputs.size() > 2 && !outputs[2].empty_type() ? outputs[2].data<T>() : nullptr;
  const T* px = x.data<T>();
  T* py = outputs[0].data<T>();
  for (int64_t r = 0; r < rows; ++r) {
    ConstArrayMap<T> in(px + r * n, n);
    ArrayMap<T> out(py + r * n, n);
    const T mean = n ? in.sum() / static_cast<T>(n) : T(0);
    // Centered second pass: stable for inputs with a large mean.
    out = in - mean;
    const T var = n ? out.square().sum() / static_cast<T>(n) : T(0);
    const T inv = T(1) / std::sqrt(var + eps);
    if (bias_p)
      out = out * inv * scale + ConstArrayMap<T>(bias_p, n);
    else
      out = out * inv * scale;
    if (mean_out) mean_out[r] = mean;
    if (inv_out) inv_out[r] = inv;
  }
}

Status LayerNormKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& x = *inputs[0];
  SQ_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(node, node.attrs.GetInt("axis", -1), x.rank()));
  const bool ok = VisitType<kFloatTypes>(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    LayerNormRows<T>(node, inputs, outputs, axis);
  });
  return ok ? Status::Ok() : KernelDTypeError(node, x.dtype());
}

// ---- squint.RMSNorm --------------------------------------------------------------------

Result<std::vector<OutputType>> InferRMSNorm(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(CheckInputCount(ctx, 1, 1));
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 0, "X", kFloatTypes));
  const float eps = ctx.node.attrs.GetFloat("epsilon", 1e-5f);
  if (!(eps >= 0.0f)) return InvalidInput("{}: epsilon is {}, expected >= 0", ctx.node.Label(), eps);
  const float scale = ctx.node.attrs.GetFloat("scale", 1.0f);
  if (!(scale > 0.0f) || !std::isfinite(scale))
    return InvalidInput("{}: scale is {}, expected a finite value > 0", ctx.node.Label(), scale);
  const InputInfo& x = ctx.in(0);
  if (x.shape && x.shape->empty())
    return InvalidInput("{}: X is a scalar, expected at least 1 dim (normalized over the last)", ctx.node.Label());
  return std::vector<OutputType>{SameAsInput(ctx, 0)};
}

template <typename T>
void RMSNormRows(const T* px, T* py, int64_t rows, int64_t n, T eps, T scale) {
  for (int64_t r = 0; r < rows; ++r) {
    ConstArrayMap<T> in(px + r * n, n);
    const T mean_sq = in.square().sum() / static_cast<T>(n);
    ArrayMap<T>(py + r * n, n) = in * (scale / std::sqrt(mean_sq + eps));
  }
}

Status RMSNormKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& x = *inputs[0];
  const int64_t n = x.dim(x.rank() - 1);
  const int64_t rows = n ? x.size() / n : 0;
  const bool ok = VisitType<kFloatTypes>(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    RMSNormRows<T>(x.data<T>(), outputs[0].data<T>(), rows, n, static_cast<T>(node.attrs.GetFloat("epsilon", 1e-5f)),
                   static_cast<T>(node.attrs.GetFloat("scale", 1.0f)));
  });
  return ok ? Status::Ok() : KernelDTypeError(node, x.dtype());
}

// ---- BatchNormalization ----------------------------------------------------------------

Result<std::vector<OutputType>> InferBatchNorm(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(CheckInputCount(ctx, 5, 5));
  if (ctx.node.attrs.GetInt("training_mode", 0) != 0)
    return Unsupported("{}: training_mode=1 is not supported (inference only)", ctx.node.Label());
  for (size_t o = 1; o < ctx.node.outputs.size(); ++o)
    if (ctx.node.outputs[o] != kNoValue)
      return Unsupported("{}: output {} (running statistics) is not supported (inference only)",
                         ctx.node.Label(), o);
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 0, "X", kFloatTypes));
  static const char* const kNames[] = {"X", "scale", "B", "input_mean", "input_var"};
  const InputInfo& x = ctx.in(0);
  if (x.shape && x.shape->size() < 2)
    return InvalidInput("{}: X has shape {}, expected at least 2 dims (N, C, ...)", ctx.node.Label(),
                        ShapeToString(*x.shape));
  const Dim channels = x.shape ? (*x.shape)[1] : Dim::Unknown();
  for (size_t i = 1; i < 5; ++i) {
    SQ_RETURN_IF_ERROR(RequireDType(ctx, i, kNames[i], kFloatTypes));
    const Shape* s = ctx.in(i).shape;
    if (!s) continue;
    if (s->size() != 1)
      return InvalidInput("{}: input {} ({}) has shape {}, expected 1 dim", ctx.node.Label(), i, kNames[i],
                          ShapeToString(*s));
    if ((*s)[0].known() && channels.known() && (*s)[0].value != channels.value)
      return InvalidInput("{}: input {} ({}) has {} values, expected {} (the channels of X)", ctx.node.Label(), i,
                          kNames[i], (*s)[0].value, channels.value);
  }
  return std::vector<OutputType>{SameAsInput(ctx, 0)};
}

template <typename T>
void BatchNormPlanes(const Node& node, std::span<const Tensor* const> inputs, Tensor& y) {
  const Tensor& x = *inputs[0];
  const int64_t n = x.dim(0), c = x.dim(1);
  const int64_t plane = c ? x.size() / std::max<int64_t>(1, n * c) : 0;
  const std::vector<float> scale = inputs[1]->ToFloatVector(), bias = inputs[2]->ToFloatVector(),
                           mean = inputs[3]->ToFloatVector(), var = inputs[4]->ToFloatVector();
  const double eps = node.attrs.GetFloat("epsilon", 1e-5f);
  std::vector<T> a(static_cast<size_t>(c)), b(static_cast<size_t>(c));
  for (size_t k = 0; k < static_cast<size_t>(c); ++k) {
    const double inv = 1.0 / std::sqrt(static_cast<double>(var[k]) + eps);
    a[k] = static_cast<T>(scale[k] * inv);
    b[k] = static_cast<T>(bias[k] - mean[k] * scale[k] * inv);
  }
  const T* px = x.data<T>();
  T* py = y.data<T>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < c; ++k) {
      const int64_t off = (i * c + k) * plane;
      ArrayMap<T>(py + off, plane) = ConstArrayMap<T>(px + off, plane) * a[static_cast<size_t>(k)] +
                                     b[static_cast<size_t>(k)];
    }
}

Status BatchNormKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& x = *inputs[0];
  for (size_t i = 1; i < 5; ++i)
    if (inputs[i]->size() != x.dim(1))
      return InvalidInput("{}: input {} has {} values, expected {}", node.Label(), i, inputs[i]->size(), x.dim(1));
  const bool ok = VisitType<kFloatTypes>(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    BatchNormPlanes<T>(node, inputs, outputs[0]);
  });
  return ok ? Status::Ok() : KernelDTypeError(node, x.dtype());
}

}  // namespace

extern const OpDef kDefLayerNormalization{InferLayerNorm, LayerNormKernel};
extern const OpDef kDefRMSNorm{InferRMSNorm, RMSNormKernel};
extern const OpDef kDefBatchNormalization{InferBatchNorm, BatchNormKernel};

}  // namespace squint::ir::eval
