// Activations: Relu, LeakyRelu, PRelu, Clip, Sigmoid, Tanh, HardSigmoid, HardSwish, Gelu.
//
//   LeakyRelu(x)   = x >= 0 ? x : alpha·x                       (alpha 0.01)
//   PRelu(x, s)    = x >= 0 ? x : s·x, s broadcast to x's shape
//   Clip(x, lo, hi)= min(max(x, lo), hi), lo/hi optional scalar inputs
//   HardSigmoid(x) = max(0, min(1, alpha·x + beta))             (alpha 0.2, beta 0.5)
//   HardSwish(x)   = x · max(0, min(1, x/6 + 1/2))
//   Gelu(x)        = x/2 · (1 + erf(x/√2))                       (approximate="none")
//                  = x/2 · (1 + tanh(√(2/π)·(x + 0.044715·x³)))  (approximate="tanh")
// Floating types compute through vectorized Eigen array functions.
#include <cmath>

#include <unsupported/Eigen/SpecialFunctions>

#include "ir/eval/ops/math_util.h"

namespace squint::ir::eval {
namespace {

struct ReluOp {
  explicit ReluOp(const Node&) {}
  template <typename X>
  auto Float(const X& x) const { return x.max(typename X::Scalar(0)); }
  template <typename T>
  T Int(T a) const {
    if constexpr (std::is_signed_v<T>) return a < 0 ? T(0) : a;
    return a;
  }
};

struct LeakyReluOp {
  float alpha;
  explicit LeakyReluOp(const Node& n) : alpha(n.attrs.GetFloat("alpha", 0.01f)) {}
  template <typename X>
  auto Float(const X& x) const {
    using T = typename X::Scalar;
    return x.max(T(0)) + static_cast<T>(alpha) * x.min(T(0));
  }
};

struct SigmoidOp {
  explicit SigmoidOp(const Node&) {}
  template <typename X>
  auto Float(const X& x) const { return x.logistic(); }
};

struct TanhOp {
  explicit TanhOp(const Node&) {}
  template <typename X>
  auto Float(const X& x) const { return x.tanh(); }
};

struct HardSigmoidOp {
  float alpha, beta;
  explicit HardSigmoidOp(const Node& n)
      : alpha(n.attrs.GetFloat("alpha", 0.2f)), beta(n.attrs.GetFloat("beta", 0.5f)) {}
  template <typename X>
  auto Float(const X& x) const {
    using T = typename X::Scalar;
    return (static_cast<T>(alpha) * x + static_cast<T>(beta)).max(T(0)).min(T(1));
  }
};

struct HardSwishOp {
  explicit HardSwishOp(const Node&) {}
  template <typename X>
  auto Float(const X& x) const {
    using T = typename X::Scalar;
    return x * (x * T(1.0 / 6.0) + T(0.5)).max(T(0)).min(T(1));
  }
};

Status CheckGeluAttrs(const InferContext& ctx) {
  const std::string a = ctx.node.attrs.GetString("approximate", "none");
  if (a != "none" && a != "tanh")
    return InvalidInput("{}: attribute approximate is '{}', expected 'none' or 'tanh'", ctx.node.Label(), a);
  return Status::Ok();
}

Result<std::vector<OutputType>> InferGelu(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(CheckGeluAttrs(ctx));
  SQ_RETURN_IF_ERROR(CheckInputCount(ctx, 1, 1));
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 0, "X", kFloatTypes));
  return std::vector<OutputType>{SameAsInput(ctx, 0)};
}

template <typename T>
void GeluLoop(const T* x, T* y, int64_t n, bool tanh_form) {
  ConstArrayMap<T> in(x, n);
  ArrayMap<T> out(y, n);
  if (tanh_form) {
    const T k = static_cast<T>(std::sqrt(2.0 / M_PI));
    const T c = static_cast<T>(0.044715);
    out = T(0.5) * in * (T(1) + (k * (in + c * in.cube())).tanh());
  } else {
    out = T(0.5) * in * (T(1) + (in * static_cast<T>(M_SQRT1_2)).erf());
  }
}

Status GeluKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& x = *inputs[0];
  const bool tanh_form = node.attrs.GetString("approximate", "none") == "tanh";
  // Blocks of 4096 keep the temporaries of the expression in cache.
  const bool ok = VisitType<kFloatTypes>(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int64_t kBlock = 4096;
    for (int64_t i = 0; i < x.size(); i += kBlock)
      GeluLoop<T>(x.data<T>() + i, outputs[0].data<T>() + i, std::min(kBlock, x.size() - i), tanh_form);
  });
  return ok ? Status::Ok() : KernelDTypeError(node, x.dtype());
}

// ---- PRelu ----------------------------------------------------------------------------

Result<std::vector<OutputType>> InferPRelu(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(CheckInputCount(ctx, 2, 2));
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 0, "X", kFloatTypes | kWideIntTypes));
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 1, "slope"));
  SQ_RETURN_IF_ERROR(RequireSameDType(ctx, 1, "slope"));
  const InputInfo& x = ctx.in(0);
  const InputInfo& s = ctx.in(1);
  if (x.shape && s.shape) {
    // Unidirectional: slope broadcasts to X, the output has X's shape.
    if (s.shape->size() > x.shape->size())
      return InvalidInput("{}: slope shape {} has more dims than X shape {}", ctx.node.Label(),
                          ShapeToString(*s.shape), ShapeToString(*x.shape));
    SQ_ASSIGN_OR_RETURN(Shape b, BroadcastShapes(ctx.node, *x.shape, *s.shape));
    for (size_t i = 0; i < b.size(); ++i) {
      const Dim& xd = (*x.shape)[i];
      if (b[i].known() && xd.known() && b[i].value != xd.value)
        return InvalidInput("{}: slope shape {} does not broadcast to X shape {}", ctx.node.Label(),
                            ShapeToString(*s.shape), ShapeToString(*x.shape));
    }
  }
  return std::vector<OutputType>{SameAsInput(ctx, 0)};
}

Status PReluKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& x = *inputs[0];
  const Tensor& s = *inputs[1];
  Tensor& y = outputs[0];
  const bool ok = VisitType<(kFloatTypes | kWideIntTypes)>(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = x.data<T>();
    const T* ps = s.data<T>();
    T* py = y.data<T>();
    ForEachBroadcastRun(y.dims(), x.dims(), s.dims(),
                        [&](int64_t o, int64_t ix, int64_t, int64_t is, int64_t ss, int64_t n) {
      if constexpr (std::is_floating_point_v<T>) {
        ConstArrayMap<T> in(px + ix, n);
        if (ss)
          ArrayMap<T>(py + o, n) = in.max(T(0)) + ConstArrayMap<T>(ps + is, n) * in.min(T(0));
        else
          ArrayMap<T>(py + o, n) = in.max(T(0)) + ps[is] * in.min(T(0));
      } else {
        for (int64_t i = 0; i < n; ++i) {
          const T v = px[ix + i];
          py[o + i] = v < 0 ? WrapMul(v, ps[is + i * ss]) : v;
        }
      }
    });
  });
  return ok ? Status::Ok() : KernelDTypeError(node, x.dtype());
}

// ---- Clip -----------------------------------------------------------------------------

Status CheckBound(const InferContext& ctx, size_t i, const char* what) {
  const InputInfo& in = ctx.in(i);
  if (!in.present) return Status::Ok();
  SQ_RETURN_IF_ERROR(RequireSameDType(ctx, i, what));
  if (in.shape) {
    const bool scalar = in.shape->empty() || (in.shape->size() == 1 && (*in.shape)[0].known() &&
                                              (*in.shape)[0].value == 1);
    if (!scalar)
      return InvalidInput("{}: input {} ({}) has shape {}, expected a scalar", ctx.node.Label(), i, what,
                          ShapeToString(*in.shape));
  }
  return Status::Ok();
}

Result<std::vector<OutputType>> InferClip(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(CheckInputCount(ctx, 1, 3));
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 0, "input", kNumericTypes));
  SQ_RETURN_IF_ERROR(CheckBound(ctx, 1, "min"));
  SQ_RETURN_IF_ERROR(CheckBound(ctx, 2, "max"));
  return std::vector<OutputType>{SameAsInput(ctx, 0)};
}

Status ClipKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& x = *inputs[0];
  const Tensor* lo_t = inputs.size() > 1 ? inputs[1] : nullptr;
  const Tensor* hi_t = inputs.size() > 2 ? inputs[2] : nullptr;
  if ((lo_t && lo_t->size() != 1) || (hi_t && hi_t->size() != 1))
    return InvalidInput("{}: min and max must be scalars", node.Label());
  const bool ok = VisitType<kNumericTypes>(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    // Absent bounds (and the opset < 11 attributes) default to the type's range.
    T lo = std::numeric_limits<T>::lowest(), hi = std::numeric_limits<T>::max();
    if constexpr (std::is_floating_point_v<T>) {
      lo = -std::numeric_limits<T>::infinity();
      hi = std::numeric_limits<T>::infinity();
      if (!lo_t && node.attrs.has("min")) lo = static_cast<T>(node.attrs.GetFloat("min", 0.f));
      if (!hi_t && node.attrs.has("max")) hi = static_cast<T>(node.attrs.GetFloat("max", 0.f));
    }
    if (lo_t) lo = lo_t->data<T>()[0];
    if (hi_t) hi = hi_t->data<T>()[0];
    const T* px = x.data<T>();
    T* py = outputs[0].data<T>();
    if constexpr (std::is_floating_point_v<T>) {
      ArrayMap<T>(py, x.size()) = ConstArrayMap<T>(px, x.size()).max(lo).min(hi);
    } else {
      for (int64_t i = 0; i < x.size(); ++i) py[i] = std::min(std::max(px[i], lo), hi);
    }
  });
  return ok ? Status::Ok() : KernelDTypeError(node, x.dtype());
}

constexpr unsigned kReluTypes = kFloatTypes | kWideIntTypes | kNarrowIntTypes;

}  // namespace

extern const OpDef kDefRelu{InferUnary<ReluOp, kReluTypes>, UnaryKernel<ReluOp, kReluTypes>};
extern const OpDef kDefLeakyRelu{InferUnary<LeakyReluOp, kFloatTypes>, UnaryKernel<LeakyReluOp, kFloatTypes>};
extern const OpDef kDefSigmoid{InferUnary<SigmoidOp, kFloatTypes>, UnaryKernel<SigmoidOp, kFloatTypes>};
extern const OpDef kDefTanh{InferUnary<TanhOp, kFloatTypes>, UnaryKernel<TanhOp, kFloatTypes>};
extern const OpDef kDefHardSigmoid{InferUnary<HardSigmoidOp, kFloatTypes>,
                                   UnaryKernel<HardSigmoidOp, kFloatTypes>};
extern const OpDef kDefHardSwish{InferUnary<HardSwishOp, kFloatTypes>, UnaryKernel<HardSwishOp, kFloatTypes>};
extern const OpDef kDefGelu{InferGelu, GeluKernel};
extern const OpDef kDefPRelu{InferPRelu, PReluKernel};
extern const OpDef kDefClip{InferClip, ClipKernel};

}  // namespace squint::ir::eval
