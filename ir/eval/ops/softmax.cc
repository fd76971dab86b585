// Softmax and LogSoftmax along one axis (opset >= 13 semantics; default axis -1):
//   Softmax(x)_i    = exp(x_i - m) / Σ_j exp(x_j - m),  m = max_j x_j
//   LogSoftmax(x)_i = x_i - m - log Σ_j exp(x_j - m)
// Softmax also carries squint's optional clipped-softmax attributes zeta/gamma:
//   out = clip((zeta - gamma)·softmax + gamma, 0, 1)   (only when either is present;
//   defaults zeta = 1, gamma = 0).
// squint's masked softmax (passes/fuse_attention_mask): Softmax takes optional inputs 1 and 2, keep
// masks (bool or integer, broadcast numpy-style to the input, kept where all keep; softmax over the
// last axis only):
//   out_i = keep_i ≠ 0 ? exp(x_i − m) / Σ_{keep_j≠0} exp(x_j − m) : 0,  m = max over kept x_j;
// a row with nothing kept is all 0. It is what x + (keep ? 0 : −∞) gives, without the infinity.
// Models of opset < 13 (softmax over the input coerced to 2-D at `axis`, default 1) are
// accepted when that equals the single-axis form (axis is the last dim); otherwise the
// importer must rewrite them and inference reports Unsupported.
#include <cmath>

#include "ir/eval/ops/data_util.h"
#include "ir/eval/ops/math_util.h"

namespace squint::ir::eval {
namespace {

template <bool kLog>
Result<std::vector<OutputType>> InferSoftmax(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(CheckInputCount(ctx, 1, kLog ? 1 : 3));
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 0, "input", kFloatTypes));
  if (kLog && (ctx.node.attrs.has("zeta") || ctx.node.attrs.has("gamma")))
    return InvalidInput("{}: zeta/gamma (clipped softmax) apply to Softmax only", ctx.node.Label());
  const InputInfo& x = ctx.in(0);
  for (size_t k = 1; k < ctx.inputs.size(); ++k) {
    const InputInfo& keep = ctx.in(k);
    if (!keep.present) continue;
    if (keep.dtype != DType::kBool && !InTypeSet(keep.dtype, kIntTypes))
      return InvalidInput("{}: input {} (keep mask) has dtype {}, expected bool or an integer type", ctx.node.Label(),
                          k, DTypeName(keep.dtype));
    if (x.shape && keep.shape) {
      SQ_ASSIGN_OR_RETURN(Shape b, BroadcastShapes(ctx.node, *x.shape, *keep.shape));
      if (b.size() != x.shape->size())
        return InvalidInput("{}: keep mask of shape {} has more dims than the input {}", ctx.node.Label(),
                            ShapeToString(*keep.shape), ShapeToString(*x.shape));
    }
    if (x.shape && ctx.node.attrs.GetInt("axis", -1) != -1 &&
        ctx.node.attrs.GetInt("axis", -1) != static_cast<int64_t>(x.shape->size()) - 1)
      return Unsupported("{}: a keep mask needs the softmax over the last axis", ctx.node.Label());
  }
  if (x.shape) {
    const int64_t rank = static_cast<int64_t>(x.shape->size());
    const bool old_semantics = ctx.opset > 0 && ctx.opset < 13;
    const int64_t axis = ctx.node.attrs.GetInt("axis", old_semantics ? 1 : -1);
    SQ_ASSIGN_OR_RETURN(int64_t a, NormalizeAxis(ctx.node, axis, rank));
    if (old_semantics && a != rank - 1) {
      if (!ctx.node.attrs.has("axis"))
        return Unsupported("{}: opset {} softmax without axis coerces the input to 2-D at axis 1; rank {} "
                           "needs the opset-13 rewrite",
                           ctx.node.Label(), ctx.opset, rank);
      return Unsupported("{}: opset {} softmax coerces the input to 2-D at axis {}; only the last axis "
                         "is supported for this opset",
                         ctx.node.Label(), ctx.opset, axis);
    }
  }
  return std::vector<OutputType>{SameAsInput(ctx, 0)};
}

// Softmax over the middle dim of [outer, n, inner].
template <typename T, bool kLog>
void SoftmaxBlock(const T* x, T* y, int64_t outer, int64_t n, int64_t inner) {
  if (n == 0) return;
  if (inner == 1) {
    for (int64_t o = 0; o < outer; ++o) {
      ConstArrayMap<T> in(x + o * n, n);
      ArrayMap<T> out(y + o * n, n);
      const T m = in.maxCoeff();
      if (kLog) {
        out = (in - m).exp();
        const T log_sum = std::log(out.sum());
        out = in - (m + log_sum);
      } else {
        out = (in - m).exp();
        out *= T(1) / out.sum();
      }
    }
    return;
  }
  Eigen::Array<T, Eigen::Dynamic, 1> m(inner), s(inner);
  for (int64_t o = 0; o < outer; ++o) {
    const T* xb = x + o * n * inner;
    T* yb = y + o * n * inner;
    m = ConstArrayMap<T>(xb, inner);
    for (int64_t k = 1; k < n; ++k) m = m.max(ConstArrayMap<T>(xb + k * inner, inner));
    s.setZero();
    for (int64_t k = 0; k < n; ++k) {
      ArrayMap<T> out(yb + k * inner, inner);
      out = (ConstArrayMap<T>(xb + k * inner, inner) - m).exp();
      s += out;
    }
    if (kLog) {
      m += s.log();
      for (int64_t k = 0; k < n; ++k)
        ArrayMap<T>(yb + k * inner, inner) = ConstArrayMap<T>(xb + k * inner, inner) - m;
    } else {
      s = s.inverse();
      for (int64_t k = 0; k < n; ++k) ArrayMap<T>(yb + k * inner, inner) *= s;
    }
  }
}

// Masked softmax over the last axis (see the top of the file); keep broadcast to x's dims.
template <typename T>
void MaskedSoftmaxRows(const T* x, const uint8_t* keep, T* y, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * n;
    const uint8_t* kr = keep + r * n;
    T* yr = y + r * n;
    bool any = false;
    T m = 0;
    for (int64_t i = 0; i < n; ++i)
      if (kr[i] && (!any || xr[i] > m)) m = xr[i], any = true;
    T sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      yr[i] = kr[i] ? std::exp(xr[i] - m) : T(0);
      sum += yr[i];
    }
    if (any)
      for (int64_t i = 0; i < n; ++i) yr[i] /= sum;
  }
}

template <bool kLog>
Status SoftmaxKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& x = *inputs[0];
  Tensor& y = outputs[0];
  SQ_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(node, node.attrs.GetInt("axis", -1), x.rank()));
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.dim(i);
  for (int64_t i = axis + 1; i < x.rank(); ++i) inner *= x.dim(i);
  const int64_t n = x.dim(axis);
  const bool clipped = !kLog && (node.attrs.has("zeta") || node.attrs.has("gamma"));
  const bool ok = VisitType<kFloatTypes>(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (outer * inner == 0) return;
    if (!kLog && inputs.size() > 1) {
      std::vector<uint8_t> all(static_cast<size_t>(x.size()), 1), full(static_cast<size_t>(x.size()));
      for (size_t k = 1; k < inputs.size(); ++k) {
        if (inputs[k] == nullptr) continue;
        const std::vector<int64_t> kv = inputs[k]->ToInt64Vector();
        std::vector<uint8_t> k8(kv.size());
        for (size_t i = 0; i < kv.size(); ++i) k8[i] = kv[i] != 0;
        BroadcastCopy(full.data(), x.dims(), k8.data(), inputs[k]->dims(), 1);
        for (size_t i = 0; i < all.size(); ++i) all[i] &= full[i];
      }
      MaskedSoftmaxRows<T>(x.data<T>(), all.data(), y.data<T>(), outer, n);
    } else {
      SoftmaxBlock<T, kLog>(x.data<T>(), y.data<T>(), outer, n, inner);
    }
    if (clipped) {
      const T zeta = static_cast<T>(node.attrs.GetFloat("zeta", 1.0f));
      const T gamma = static_cast<T>(node.attrs.GetFloat("gamma", 0.0f));
      ArrayMap<T> out(y.data<T>(), y.size());
      out = ((zeta - gamma) * out + gamma).max(T(0)).min(T(1));
    }
  });
  return ok ? Status::Ok() : KernelDTypeError(node, x.dtype());
}

}  // namespace

extern const OpDef kDefSoftmax{InferSoftmax<false>, SoftmaxKernel<false>};
extern const OpDef kDefLogSoftmax{InferSoftmax<true>, SoftmaxKernel<true>};

}  // namespace squint::ir::eval
