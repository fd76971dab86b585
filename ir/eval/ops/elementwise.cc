// Elementwise arithmetic: Add, Sub, Mul, Div, Pow (numpy broadcasting) and the unary
// math functions Abs, Neg, Sqrt, Exp, Log, Reciprocal, Erf.
//
// Floating types compute through Eigen arrays over contiguous broadcast runs (see
// ForEachBroadcastRun); integer types use wrapping arithmetic, and integer Div truncates
// toward zero (C semantics, as ONNX specifies) and rejects division by zero.
#include <cmath>

#include <unsupported/Eigen/SpecialFunctions>

#include "ir/eval/ops/math_util.h"

namespace squint::ir::eval {
namespace {

// ---- binary arithmetic ----------------------------------------------------------------

struct AddOp {
  template <typename X, typename Y>
  static auto Float(const X& x, const Y& y) { return x + y; }
  template <typename T>
  static bool Int(T a, T b, T* out) { *out = WrapAdd(a, b); return true; }
};
struct SubOp {
  template <typename X, typename Y>
  static auto Float(const X& x, const Y& y) { return x - y; }
  template <typename T>
  static bool Int(T a, T b, T* out) { *out = WrapSub(a, b); return true; }
};
struct MulOp {
  template <typename X, typename Y>
  static auto Float(const X& x, const Y& y) { return x * y; }
  template <typename T>
  static bool Int(T a, T b, T* out) { *out = WrapMul(a, b); return true; }
};
struct DivOp {
  template <typename X, typename Y>
  static auto Float(const X& x, const Y& y) { return x / y; }
  template <typename T>
  static bool Int(T a, T b, T* out) {
    if (b == 0) return false;
    if constexpr (std::is_signed_v<T>) {
      if (b == -1) {
        *out = WrapNeg(a);  // avoids the overflow of min / -1
        return true;
      }
    }
    *out = static_cast<T>(a / b);
    return true;
  }
};

Result<std::vector<OutputType>> InferBinary(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(CheckInputCount(ctx, 2, 2));
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 0, "A", kNumericTypes));
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 1, "B"));
  SQ_RETURN_IF_ERROR(RequireSameDType(ctx, 1, "B"));
  SQ_ASSIGN_OR_RETURN(std::optional<Shape> shape, BroadcastInputs(ctx));
  return One(ctx.in(0).dtype, std::move(shape));
}

template <typename T, typename Op>
Status BinaryLoop(const Node& node, const Tensor& a, const Tensor& b, Tensor& out) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* po = out.data<T>();
  bool ok = true;
  ForEachBroadcastRun(out.dims(), a.dims(), b.dims(),
                      [&](int64_t o, int64_t ia, int64_t sa, int64_t ib, int64_t sb, int64_t n) {
    if constexpr (std::is_floating_point_v<T>) {
      ArrayMap<T> y(po + o, n);
      if (sa && sb) {
        y = Op::Float(ConstArrayMap<T>(pa + ia, n), ConstArrayMap<T>(pb + ib, n));
      } else if (sa) {
        y = Op::Float(ConstArrayMap<T>(pa + ia, n), pb[ib]);
      } else if (sb) {
        y = Op::Float(pa[ia], ConstArrayMap<T>(pb + ib, n));
      } else {
        y.setConstant(static_cast<T>(Op::Float(pa[ia], pb[ib])));
      }
    } else {
      for (int64_t i = 0; i < n; ++i) ok &= Op::Int(pa[ia + i * sa], pb[ib + i * sb], &po[o + i]);
    }
  });
  if (!ok) return InvalidInput("{}: integer division by zero", node.Label());
  return Status::Ok();
}

template <typename Op>
Status BinaryKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& a = *inputs[0];
  Status status;
  const bool ok = VisitType<kNumericTypes>(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    status = BinaryLoop<T, Op>(node, a, *inputs[1], outputs[0]);
  });
  return ok ? status : KernelDTypeError(node, a.dtype());
}

// ---- Pow: base and exponent may have different types; the result has the base's ----

Result<std::vector<OutputType>> InferPow(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(CheckInputCount(ctx, 2, 2));
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 0, "X", kFloatTypes | kWideIntTypes));
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 1, "Y", kNumericTypes));
  SQ_ASSIGN_OR_RETURN(std::optional<Shape> shape, BroadcastInputs(ctx));
  return One(ctx.in(0).dtype, std::move(shape));
}

// Integer power with wrapping multiplication; negative exponents give 0 except for 1, -1.
template <typename T>
T IntPow(T base, int64_t e) {
  if (e < 0) {
    if (base == 1) return 1;
    if (base == -1) return (e % 2) ? T(-1) : T(1);
    return 0;
  }
  T result = 1;
  while (e > 0) {
    if (e & 1) result = WrapMul(result, base);
    e >>= 1;
    if (e) base = WrapMul(base, base);
  }
  return result;
}

template <typename T, typename E>
void PowLoop(const Tensor& a, const Tensor& b, Tensor& out) {
  const T* pa = a.data<T>();
  const E* pb = b.data<E>();
  T* po = out.data<T>();
  // Common fast paths: a constant exponent of 2, 0.5 or 1 on a floating base.
  if constexpr (std::is_floating_point_v<T>) {
    if (b.size() == 1 && out.size() == a.size()) {
      const double e = static_cast<double>(pb[0]);
      ConstArrayMap<T> x(pa, a.size());
      ArrayMap<T> y(po, out.size());
      if (e == 2.0) { y = x.square(); return; }
      if (e == 1.0) { y = x; return; }
      if (e == 0.5) { y = x.sqrt(); return; }
    }
  }
  ForEachBroadcastRun(out.dims(), a.dims(), b.dims(),
                      [&](int64_t o, int64_t ia, int64_t sa, int64_t ib, int64_t sb, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      const T x = pa[ia + i * sa];
      const E e = pb[ib + i * sb];
      if constexpr (std::is_floating_point_v<T>) {
        po[o + i] = std::pow(x, static_cast<T>(e));
      } else if constexpr (std::is_integral_v<E>) {
        po[o + i] = IntPow<T>(x, static_cast<int64_t>(e));
      } else {
        po[o + i] = SaturateCast<T>(std::pow(static_cast<double>(x), static_cast<double>(e)));
      }
    }
  });
}

Status PowKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& a = *inputs[0];
  const Tensor& b = *inputs[1];
  bool inner_ok = true;
  const bool ok = VisitType<(kFloatTypes | kWideIntTypes)>(a.dtype(), [&](auto ta) {
    using T = typename decltype(ta)::type;
    inner_ok = VisitType<kNumericTypes>(b.dtype(), [&](auto tb) {
      using E = typename decltype(tb)::type;
      PowLoop<T, E>(a, b, outputs[0]);
    });
  });
  if (!ok) return KernelDTypeError(node, a.dtype());
  if (!inner_ok) return KernelDTypeError(node, b.dtype());
  return Status::Ok();
}

// ---- unary math ----------------------------------------------------------------------

struct AbsOp {
  explicit AbsOp(const Node&) {}
  template <typename X>
  auto Float(const X& x) const { return x.abs(); }
  template <typename T>
  T Int(T a) const {
    if constexpr (std::is_signed_v<T>) return a < 0 ? WrapNeg(a) : a;
    return a;
  }
};
struct NegOp {
  explicit NegOp(const Node&) {}
  template <typename X>
  auto Float(const X& x) const { return -x; }
  template <typename T>
  T Int(T a) const { return WrapNeg(a); }
};
struct SqrtOp {
  explicit SqrtOp(const Node&) {}
  template <typename X>
  auto Float(const X& x) const { return x.sqrt(); }
};
struct ExpOp {
  explicit ExpOp(const Node&) {}
  template <typename X>
  auto Float(const X& x) const { return x.exp(); }
};
struct LogOp {
  explicit LogOp(const Node&) {}
  template <typename X>
  auto Float(const X& x) const { return x.log(); }
};
struct ReciprocalOp {
  explicit ReciprocalOp(const Node&) {}
  template <typename X>
  auto Float(const X& x) const { return x.inverse(); }
};
struct ErfOp {
  explicit ErfOp(const Node&) {}
  template <typename X>
  auto Float(const X& x) const { return x.erf(); }
};

}  // namespace

extern const OpDef kDefAdd{InferBinary, BinaryKernel<AddOp>};
extern const OpDef kDefSub{InferBinary, BinaryKernel<SubOp>};
extern const OpDef kDefMul{InferBinary, BinaryKernel<MulOp>};
extern const OpDef kDefDiv{InferBinary, BinaryKernel<DivOp>};
extern const OpDef kDefPow{InferPow, PowKernel};

extern const OpDef kDefAbs{InferUnary<AbsOp, kNumericTypes>, UnaryKernel<AbsOp, kNumericTypes>};
extern const OpDef kDefNeg{InferUnary<NegOp, kNumericTypes>, UnaryKernel<NegOp, kNumericTypes>};
extern const OpDef kDefSqrt{InferUnary<SqrtOp, kFloatTypes>, UnaryKernel<SqrtOp, kFloatTypes>};
extern const OpDef kDefExp{InferUnary<ExpOp, kFloatTypes>, UnaryKernel<ExpOp, kFloatTypes>};
extern const OpDef kDefLog{InferUnary<LogOp, kFloatTypes>, UnaryKernel<LogOp, kFloatTypes>};
extern const OpDef kDefReciprocal{InferUnary<ReciprocalOp, kFloatTypes>,
                                  UnaryKernel<ReciprocalOp, kFloatTypes>};
extern const OpDef kDefErf{InferUnary<ErfOp, kFloatTypes>, UnaryKernel<ErfOp, kFloatTypes>};

}  // namespace squint::ir::eval
