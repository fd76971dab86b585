// Matrix products: MatMul (numpy semantics), Gemm, and squint's fused Linear.
//
//   MatMul(A, B):  batched over the broadcast of the leading dims; a 1-D A is [1, K] and a
//                  1-D B is [K, 1], the added dim removed from the result.
//   Gemm(A, B, C): Y = alpha·A'·B' + beta·C, A' = transA ? Aᵀ : A (2-D), C broadcast to [M, N].
//   Linear(X, W, B) (domain squint): Y = X·W + B, X [..., K], W [K, N], B [N] optional; with
//                  groups = G > 1, W is [K/G, N] and Y[..., n] = X[..., g·K/G : (g+1)·K/G]·W[:, n]
//                  + B[n] for g = n / (N/G) (block-diagonal W).
// Floating types run through GemmRowMajor (gemm.h); integer MatMul uses a plain loop with
// wrapping arithmetic.
#include <vector>

#include "ir/eval/ops/gemm.h"
#include "ir/eval/ops/math_util.h"

namespace squint::ir::eval {
namespace {

std::string ShapeOrUnknown(const InputInfo& in) { return in.shape ? ShapeToString(*in.shape) : "?"; }

// ---- MatMul ---------------------------------------------------------------------------

Result<std::vector<OutputType>> InferMatMul(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(CheckInputCount(ctx, 2, 2));
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 0, "A", kFloatTypes | kWideIntTypes));
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 1, "B"));
  SQ_RETURN_IF_ERROR(RequireSameDType(ctx, 1, "B"));
  const InputInfo& a = ctx.in(0);
  const InputInfo& b = ctx.in(1);
  for (size_t i = 0; i < 2; ++i)
    if (ctx.in(i).shape && ctx.in(i).shape->empty())
      return InvalidInput("{}: input {} is a scalar, expected at least 1 dim", ctx.node.Label(), i);
  if (!a.shape || !b.shape) return One(a.dtype, std::nullopt);
  const Shape& sa = *a.shape;
  const Shape& sb = *b.shape;
  const Dim& ka = sa.back();
  const Dim& kb = sb.size() == 1 ? sb[0] : sb[sb.size() - 2];
  if (ka.known() && kb.known() && ka.value != kb.value)
    return InvalidInput("{}: A is {} and B is {}: inner dims differ ({} vs {})", ctx.node.Label(),
                        ShapeToString(sa), ShapeToString(sb), ka.value, kb.value);
  const Shape batch_a(sa.begin(), sa.end() - std::min<size_t>(sa.size(), 2));
  const Shape batch_b(sb.begin(), sb.end() - std::min<size_t>(sb.size(), 2));
  SQ_ASSIGN_OR_RETURN(Shape out, BroadcastShapes(ctx.node, batch_a, batch_b));
  if (sa.size() >= 2) out.push_back(sa[sa.size() - 2]);
  if (sb.size() >= 2) out.push_back(sb.back());
  return One(a.dtype, std::move(out));
}

// C[M,N] = A[M,K]·B[K,N], all row-major and contiguous.
template <typename T>
void Gemm2D(const T* a, const T* b, T* c, int64_t m, int64_t k, int64_t n) {
  if constexpr (std::is_floating_point_v<T>) {
    GemmRowMajor<T>(a, false, b, false, c, m, k, n, T(1), /*accumulate=*/false);
  } else {
    for (int64_t i = 0; i < m * n; ++i) c[i] = 0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t p = 0; p < k; ++p) {
        const T av = a[i * k + p];
        for (int64_t j = 0; j < n; ++j) c[i * n + j] = WrapAdd(c[i * n + j], WrapMul(av, b[p * n + j]));
      }
  }
}

template <typename T>
void MatMulTyped(const Tensor& a, const Tensor& b, Tensor& y) {
  const Dims& da = a.dims();
  const Dims& db = b.dims();
  const int64_t k = da.back();
  const int64_t m = da.size() >= 2 ? da[da.size() - 2] : 1;
  const int64_t n = db.size() >= 2 ? db.back() : 1;
  if (y.size() == 0) return;
  if (db.size() <= 2) {
    // Every batch of A times the one B: a single [batch·M, K]·[K, N] product.
    Gemm2D<T>(a.data<T>(), b.data<T>(), y.data<T>(), y.size() / n, k, n);
    return;
  }
  const Dims batch_a(da.begin(), da.end() - std::min<size_t>(da.size(), 2));
  const Dims batch_b(db.begin(), db.end() - 2);
  const Dims& dy = y.dims();
  const size_t out_batch_rank = dy.size() - (da.size() >= 2 ? 1 : 0) - 1;
  const Dims batch_y(dy.begin(), dy.begin() + static_cast<int64_t>(out_batch_rank));
  const BroadcastIndexer ia(batch_a, batch_y), ib(batch_b, batch_y);
  const int64_t batches = ElementCount(batch_y);
  for (int64_t i = 0; i < batches; ++i)
    Gemm2D<T>(a.data<T>() + ia(i) * m * k, b.data<T>() + ib(i) * k * n, y.data<T>() + i * m * n, m, k, n);
}

Status MatMulKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& a = *inputs[0];
  const bool ok = VisitType<(kFloatTypes | kWideIntTypes)>(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    MatMulTyped<T>(a, *inputs[1], outputs[0]);
  });
  return ok ? Status::Ok() : KernelDTypeError(node, a.dtype());
}

// ---- Gemm -----------------------------------------------------------------------------

Result<std::vector<OutputType>> InferGemm(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(CheckInputCount(ctx, 2, 3));
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 0, "A", kFloatTypes));
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 1, "B"));
  SQ_RETURN_IF_ERROR(RequireSameDType(ctx, 1, "B"));
  SQ_RETURN_IF_ERROR(RequireSameDType(ctx, 2, "C"));
  const bool ta = ctx.node.attrs.GetInt("transA", 0) != 0;
  const bool tb = ctx.node.attrs.GetInt("transB", 0) != 0;
  const InputInfo& a = ctx.in(0);
  const InputInfo& b = ctx.in(1);
  const InputInfo& c = ctx.in(2);
  for (size_t i = 0; i < 2; ++i)
    if (ctx.in(i).shape && ctx.in(i).shape->size() != 2)
      return InvalidInput("{}: input {} ({}) has shape {}, expected 2 dims", ctx.node.Label(), i, i ? "B" : "A",
                          ShapeToString(*ctx.in(i).shape));
  if (c.present && c.shape && c.shape->size() > 2)
    return InvalidInput("{}: input 2 (C) has shape {}, expected at most 2 dims", ctx.node.Label(),
                        ShapeToString(*c.shape));
  const Dim m = a.shape ? (*a.shape)[ta ? 1 : 0] : Dim::Unknown();
  const Dim ka = a.shape ? (*a.shape)[ta ? 0 : 1] : Dim::Unknown();
  const Dim kb = b.shape ? (*b.shape)[tb ? 1 : 0] : Dim::Unknown();
  const Dim n = b.shape ? (*b.shape)[tb ? 0 : 1] : Dim::Unknown();
  if (ka.known() && kb.known() && ka.value != kb.value)
    return InvalidInput("{}: A is {} (transA={}) and B is {} (transB={}): inner dims differ ({} vs {})",
                        ctx.node.Label(), ShapeOrUnknown(a), ta ? 1 : 0, ShapeOrUnknown(b), tb ? 1 : 0, ka.value,
                        kb.value);
  Shape out{m, n};
  if (c.present && c.shape) {
    // C broadcasts to [M, N] (unidirectionally).
    const Shape& sc = *c.shape;
    for (size_t k = 0; k < sc.size(); ++k) {
      const Dim& cd = sc[sc.size() - 1 - k];
      const Dim& od = out[1 - k];
      if (cd.known() && cd.value != 1 && od.known() && cd.value != od.value)
        return InvalidInput("{}: C has shape {}, which does not broadcast to the output {}", ctx.node.Label(),
                            ShapeToString(sc), ShapeToString(out));
    }
  }
  return One(a.dtype, std::move(out));
}

template <typename T>
void GemmTyped(const Node& node, const Tensor& a, const Tensor& b, const Tensor* c, Tensor& y) {
  const bool ta = node.attrs.GetInt("transA", 0) != 0;
  const bool tb = node.attrs.GetInt("transB", 0) != 0;
  const T alpha = static_cast<T>(node.attrs.GetFloat("alpha", 1.0f));
  const T beta = static_cast<T>(node.attrs.GetFloat("beta", 1.0f));
  const int64_t m = y.dim(0), n = y.dim(1);
  const int64_t k = ta ? a.dim(0) : a.dim(1);
  if (y.size() == 0) return;
  if (c && beta != T(0)) {
    const T* pc = c->data<T>();
    T* py = y.data<T>();
    ForEachBroadcastRun(y.dims(), y.dims(), c->dims(),
                        [&](int64_t o, int64_t, int64_t, int64_t ic, int64_t sc, int64_t len) {
      if (sc)
        ArrayMap<T>(py + o, len) = beta * ConstArrayMap<T>(pc + ic, len);
      else
        ArrayMap<T>(py + o, len).setConstant(beta * pc[ic]);
    });
  } else {
    ArrayMap<T>(y.data<T>(), y.size()).setZero();
  }
  GemmRowMajor<T>(a.data<T>(), ta, b.data<T>(), tb, y.data<T>(), m, k, n, alpha, /*accumulate=*/true);
}

Status GemmKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& a = *inputs[0];
  const Tensor* c = inputs.size() > 2 ? inputs[2] : nullptr;
  const bool ok = VisitType<kFloatTypes>(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    GemmTyped<T>(node, a, *inputs[1], c, outputs[0]);
  });
  return ok ? Status::Ok() : KernelDTypeError(node, a.dtype());
}

// ---- Linear ---------------------------------------------------------------------------

Result<std::vector<OutputType>> InferLinear(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(CheckInputCount(ctx, 2, 3));
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 0, "X", kFloatTypes));
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 1, "W"));
  SQ_RETURN_IF_ERROR(RequireSameDType(ctx, 1, "W"));
  SQ_RETURN_IF_ERROR(RequireSameDType(ctx, 2, "B"));
  const InputInfo& x = ctx.in(0);
  const InputInfo& w = ctx.in(1);
  const InputInfo& b = ctx.in(2);
  if (x.shape && x.shape->empty())
    return InvalidInput("{}: X is a scalar, expected at least 1 dim", ctx.node.Label());
  if (w.shape && w.shape->size() != 2)
    return InvalidInput("{}: W has shape {}, expected 2 dims [K, N]", ctx.node.Label(), ShapeToString(*w.shape));
  const int64_t groups = ctx.node.attrs.GetInt("groups", 1);
  if (groups < 1) return InvalidInput("{}: groups = {}, expected >= 1", ctx.node.Label(), groups);
  const bool k_known = w.shape && (*w.shape)[0].known();
  if (k_known && (*w.shape)[0].value > std::numeric_limits<int64_t>::max() / groups)
    return InvalidInput("{}: groups = {} times W's {} rows overflows int64", ctx.node.Label(), groups,
                        (*w.shape)[0].value);
  const Dim k = k_known ? Dim::Known((*w.shape)[0].value * groups) : Dim::Unknown();
  const Dim n = w.shape ? (*w.shape)[1] : Dim::Unknown();
  if (n.known() && n.value % groups != 0)
    return InvalidInput("{}: groups = {} does not divide the {} output columns of W {}", ctx.node.Label(), groups,
                        n.value, ShapeToString(*w.shape));
  if (x.shape && x.shape->back().known() && k.known() && x.shape->back().value != k.value)
    return InvalidInput("{}: X is {} and W is {} (groups {}): inner dims differ ({} vs {} = W rows x groups)",
                        ctx.node.Label(), ShapeToString(*x.shape), ShapeToString(*w.shape), groups,
                        x.shape->back().value, k.value);
  if (b.present && b.shape) {
    const Shape& sb = *b.shape;
    if (sb.size() != 1 || (sb[0].known() && n.known() && sb[0].value != n.value))
      return InvalidInput("{}: B has shape {}, expected [{}]", ctx.node.Label(), ShapeToString(sb),
                          n.known() ? std::to_string(n.value) : std::string("N"));
  }
  if (!x.shape) return One(x.dtype, std::nullopt);
  Shape out = *x.shape;
  out.back() = n;
  return One(x.dtype, std::move(out));
}

template <typename T>
void LinearTyped(const Tensor& x, const Tensor& w, const Tensor* b, int64_t groups, Tensor& y) {
  const int64_t kg = w.dim(0), n = w.dim(1), k = kg * groups, ng = n / groups;
  const int64_t rows = n ? y.size() / n : 0;
  if (y.size() == 0) return;
  T* py = y.data<T>();
  for (int64_t r = 0; r < rows; ++r) {
    if (b)
      std::copy_n(b->data<T>(), n, py + r * n);
    else
      std::fill_n(py + r * n, n, T(0));
  }
  if (groups == 1) {
    GemmRowMajor<T>(x.data<T>(), false, w.data<T>(), false, py, rows, k, n, T(1), /*accumulate=*/true);
    return;
  }
  // Group g: Y[:, g·ng..] += X[:, g·kg..]·W[:, g·ng..], on contiguous copies of the slices.
  std::vector<T> xg(static_cast<size_t>(rows * kg)), wg(static_cast<size_t>(kg * ng)), yg(static_cast<size_t>(rows * ng));
  const T* px = x.data<T>();
  const T* pw = w.data<T>();
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t r = 0; r < rows; ++r) std::copy_n(px + r * k + g * kg, kg, xg.data() + r * kg);
    for (int64_t i = 0; i < kg; ++i) std::copy_n(pw + i * n + g * ng, ng, wg.data() + i * ng);
    GemmRowMajor<T>(xg.data(), false, wg.data(), false, yg.data(), rows, kg, ng, T(1), /*accumulate=*/false);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < ng; ++j) py[r * n + g * ng + j] += yg[static_cast<size_t>(r * ng + j)];
  }
}

Status LinearKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& x = *inputs[0];
  const Tensor* b = inputs.size() > 2 ? inputs[2] : nullptr;
  const int64_t groups = node.attrs.GetInt("groups", 1);
  const bool ok = VisitType<kFloatTypes>(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    LinearTyped<T>(x, *inputs[1], b, groups, outputs[0]);
  });
  return ok ? Status::Ok() : KernelDTypeError(node, x.dtype());
}

}  // namespace

extern const OpDef kDefMatMul{InferMatMul, MatMulKernel};
extern const OpDef kDefGemm{InferGemm, GemmKernel};
extern const OpDef kDefLinear{InferLinear, LinearKernel};

}  // namespace squint::ir::eval
