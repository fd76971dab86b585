// Conv and ConvTranspose, 1-D to 3-D, with groups, dilations, strides, pads and auto_pad.
//
// Conv: Y[n, m, o] = B[m] + Σ_{c in group(m), k} W[m, c, k] · X[n, c, o·stride - pad_begin + k·dilation]
//   computed per (batch, group) as im2col + one Eigen product [M/g, C/g·K]·[C/g·K, L_out];
//   a depthwise conv (one input channel per group) runs as a direct loop.
// ConvTranspose (W is [C, M/g, k...]): the adjoint of Conv, computed per (batch, group) as
//   col = W_gᵀ·X_g followed by col2im accumulation, plus bias. Output size per spatial dim:
//   stride·(in-1) + output_padding + (k-1)·dilation + 1 - pad_begin - pad_end, or given by
//   output_shape / auto_pad SAME (in·stride), the padding then derived from it.
#include <cstring>

#include <fmt/format.h>

#include "ir/eval/ops/gemm.h"
#include "ir/eval/ops/window.h"

namespace squint::ir::eval {
namespace {

// ---- shared shape checks ---------------------------------------------------------------

struct ConvShapes {
  size_t rank = 0;                  // spatial rank
  std::optional<std::vector<int64_t>> kernel;  // weight's spatial dims when all known
};

// Checks the ranks of X and W and returns the spatial rank (error when neither is known).
Result<std::optional<ConvShapes>> CheckConvRanks(const InferContext& ctx) {
  const Shape* x = ctx.in(0).shape;
  const Shape* w = ctx.in(1).shape;
  if (!x && !w) return std::optional<ConvShapes>();
  const size_t rank = x ? x->size() : w->size();
  if (rank < 3)
    return InvalidInput("{}: input has {} dims, expected at least 3 (N, C, spatial...)", ctx.node.Label(), rank);
  if (rank > 5)
    return Unsupported("{}: {}-D convolution is not supported (1-D to 3-D)", ctx.node.Label(), rank - 2);
  if (x && w && w->size() != rank)
    return InvalidInput("{}: weight has {} dims, expected {}", ctx.node.Label(), w->size(), rank);
  ConvShapes s;
  s.rank = rank - 2;
  if (w) {
    std::vector<int64_t> k;
    for (size_t i = 2; i < w->size(); ++i)
      if ((*w)[i].known()) k.push_back((*w)[i].value);
    if (k.size() == s.rank) {
      for (int64_t v : k)
        if (v == 0) return InvalidInput("{}: weight has a zero-size kernel dim", ctx.node.Label());
      s.kernel = std::move(k);
    }
  }
  return std::optional<ConvShapes>(std::move(s));
}

Result<int64_t> ReadGroup(const Node& node) {
  const int64_t g = node.attrs.GetInt("group", 1);
  if (g < 1) return InvalidInput("{}: attribute group is {}, expected >= 1", node.Label(), g);
  return g;
}

Status CheckBias(const InferContext& ctx, const Dim& m) {
  const InputInfo& b = ctx.in(2);
  if (!b.present || !b.shape) return Status::Ok();
  const Shape& s = *b.shape;
  if (s.size() != 1 || (s[0].known() && m.known() && s[0].value != m.value))
    return InvalidInput("{}: bias has shape {}, expected [{}] (one value per output channel)", ctx.node.Label(),
                        ShapeToString(s), m.known() ? std::to_string(m.value) : std::string("M"));
  return Status::Ok();
}

// ---- Conv -----------------------------------------------------------------------------

Result<std::vector<OutputType>> InferConv(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(CheckInputCount(ctx, 2, 3));
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 0, "X", kFloatTypes));
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 1, "W"));
  SQ_RETURN_IF_ERROR(RequireSameDType(ctx, 1, "W"));
  SQ_RETURN_IF_ERROR(RequireSameDType(ctx, 2, "B"));
  SQ_ASSIGN_OR_RETURN(int64_t group, ReadGroup(ctx.node));
  SQ_ASSIGN_OR_RETURN(std::optional<ConvShapes> cs, CheckConvRanks(ctx));
  const DType dt = ctx.in(0).dtype;
  if (!cs) return One(dt, std::nullopt);
  const Shape* x = ctx.in(0).shape;
  const Shape* w = ctx.in(1).shape;
  const Dim c = x ? (*x)[1] : Dim::Unknown();
  const Dim m = w ? (*w)[0] : Dim::Unknown();
  const Dim cg = w ? (*w)[1] : Dim::Unknown();
  if (c.known() && cg.known() && c.value != cg.value * group)
    return InvalidInput("{}: input has {} channels, but the weight takes {} per group × {} groups", ctx.node.Label(),
                        c.value, cg.value, group);
  if (c.known() && c.value % group != 0)
    return InvalidInput("{}: input channels {} are not divisible by group {}", ctx.node.Label(), c.value, group);
  if (m.known() && m.value % group != 0)
    return InvalidInput("{}: weight has {} output channels, not divisible by group {}", ctx.node.Label(), m.value,
                        group);
  SQ_RETURN_IF_ERROR(CheckBias(ctx, m));
  Shape out{x ? (*x)[0] : Dim::Unknown(), m};
  if (!cs->kernel && !ctx.node.attrs.has("kernel_shape")) {
    out.resize(cs->rank + 2, Dim::Unknown());
    return One(dt, std::move(out));
  }
  SQ_ASSIGN_OR_RETURN(Window win, ReadWindow(ctx.node, cs->rank, cs->kernel ? &*cs->kernel : nullptr));
  for (size_t i = 0; i < cs->rank; ++i) {
    SQ_ASSIGN_OR_RETURN(Dim d, WindowOutputDim(ctx.node, win, i, x ? (*x)[i + 2] : Dim::Unknown()));
    out.push_back(d);
  }
  return One(dt, std::move(out));
}

// Depthwise: output channel m reads input channel `c` only; y[o] = Σ_k w[k]·x[o·s - p + k·d].
template <typename T>
void DepthwiseChannel(const T* x, const T* w, const Geometry3& g, T* y) {
  std::fill(y, y + g.out_size(), T(0));
  for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
    for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
      for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
        const T wv = w[(kd * g.kernel[1] + kh) * g.kernel[2] + kw];
        const int64_t off_w = kw * g.dilation[2] - g.pad[2];
        int64_t ow_lo = off_w >= 0 ? 0 : (-off_w + g.stride[2] - 1) / g.stride[2];
        int64_t ow_hi = g.in[2] - off_w <= 0 ? 0 : (g.in[2] - off_w + g.stride[2] - 1) / g.stride[2];
        ow_lo = std::min(ow_lo, g.out[2]);
        ow_hi = std::max(ow_lo, std::min(ow_hi, g.out[2]));
        for (int64_t od = 0; od < g.out[0]; ++od) {
          const int64_t id = od * g.stride[0] - g.pad[0] + kd * g.dilation[0];
          if (id < 0 || id >= g.in[0]) continue;
          for (int64_t oh = 0; oh < g.out[1]; ++oh) {
            const int64_t ih = oh * g.stride[1] - g.pad[1] + kh * g.dilation[1];
            if (ih < 0 || ih >= g.in[1]) continue;
            const T* row = x + (id * g.in[1] + ih) * g.in[2];
            T* yrow = y + (od * g.out[1] + oh) * g.out[2];
            if (g.stride[2] == 1) {
              for (int64_t ow = ow_lo; ow < ow_hi; ++ow) yrow[ow] += wv * row[ow + off_w];
            } else {
              for (int64_t ow = ow_lo; ow < ow_hi; ++ow) yrow[ow] += wv * row[ow * g.stride[2] + off_w];
            }
          }
        }
      }
}

std::vector<int64_t> SpatialDims(const Dims& d) { return std::vector<int64_t>(d.begin() + 2, d.end()); }

// y[i, j, :] += b[j] for an [n, m, lout] output, when a bias is given.
template <typename T>
void AddChannelBias(const Tensor* b, int64_t n, int64_t m, int64_t lout, T* py) {
  if (!b) return;
  const T* pb = b->data<T>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) ArrayMap<T>(py + (i * m + j) * lout, lout) += pb[j];
}

template <typename T>
Status ConvTyped(const Node& node, const Tensor& x, const Tensor& w, const Tensor* b, Tensor& y,
                 const Geometry3& g, int64_t group) {
  const int64_t n = x.dim(0), c = x.dim(1), m = w.dim(0);
  const int64_t cg = c / group, mg = m / group;
  const int64_t k = g.kernel_size(), lin = g.in_size(), lout = g.out_size();
  const T* px = x.data<T>();
  const T* pw = w.data<T>();
  T* py = y.data<T>();
  if (y.size() == 0) return Status::Ok();
  const bool depthwise = group > 1 && cg == 1;
  const bool pointwise = k == 1 && g.stride == std::array<int64_t, 3>{1, 1, 1} &&
                         g.pad == std::array<int64_t, 3>{0, 0, 0} && lin == lout;
  std::vector<T> col;
  if (!depthwise && !pointwise) {
    SQ_ASSIGN_OR_RETURN(int64_t col_size, CheckedElementCount({cg * k, lout}));
    col.resize(static_cast<size_t>(col_size));
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t grp = 0; grp < group; ++grp) {
      const T* xg = px + (i * c + grp * cg) * lin;
      T* yg = py + (i * m + grp * mg) * lout;
      const T* wg = pw + grp * mg * cg * k;
      if (depthwise) {
        for (int64_t j = 0; j < mg; ++j) DepthwiseChannel<T>(xg, wg + j * k, g, yg + j * lout);
      } else {
        const T* src = xg;
        if (!pointwise) {
          Im2Col<T>(xg, cg, g, col.data());
          src = col.data();
        }
        GemmRowMajor<T>(wg, false, src, false, yg, mg, cg * k, lout, T(1), /*accumulate=*/false);
      }
    }
  AddChannelBias<T>(b, n, m, lout, py);
  return Status::Ok();
}

Status ConvKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& x = *inputs[0];
  const Tensor& w = *inputs[1];
  const Tensor* b = inputs.size() > 2 ? inputs[2] : nullptr;
  SQ_ASSIGN_OR_RETURN(int64_t group, ReadGroup(node));
  SQ_ASSIGN_OR_RETURN(const Geometry3 g, ConvGeometry(node, x.dims(), w.dims()));
  const std::vector<int64_t> out = SpatialDims(outputs[0].dims());
  for (size_t i = 0; i < out.size(); ++i)
    if (out[i] != g.out[3 - out.size() + i]) return Internal("{}: output size mismatch", node.Label());
  Status status = KernelDTypeError(node, x.dtype());
  VisitType<kFloatTypes>(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    status = ConvTyped<T>(node, x, w, b, outputs[0], g, group);
  });
  return status;
}

// ---- ConvTranspose ----------------------------------------------------------------------

// Pads and output sizes of a ConvTranspose with spatial input dims `in` (unknown: -1).
struct TransposeGeometry {
  std::vector<int64_t> out, pads;  // pads: begin[rank], end[rank]
};

Result<TransposeGeometry> ConvTransposeSizes(const Node& node, const Window& w, const std::vector<int64_t>& in) {
  const size_t rank = w.rank;
  std::vector<int64_t> out_pad(rank, 0);
  if (node.attrs.has("output_padding")) {
    out_pad = node.attrs.GetInts("output_padding");
    if (out_pad.size() != rank)
      return InvalidInput("{}: attribute output_padding has {} values, expected {}", node.Label(), out_pad.size(),
                          rank);
    for (size_t i = 0; i < rank; ++i)
      if (out_pad[i] < 0 || out_pad[i] >= std::max(w.strides[i], w.dilations[i]))
        return InvalidInput("{}: output_padding {} is out of range [0, max(stride, dilation)) for dim {}",
                            node.Label(), out_pad[i], i);
  }
  std::vector<int64_t> out_shape = node.attrs.GetInts("output_shape");
  if (!out_shape.empty()) {
    if (out_shape.size() == rank + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
    if (out_shape.size() != rank)
      return InvalidInput("{}: attribute output_shape has {} values, expected {}", node.Label(), out_shape.size(),
                          rank);
    for (int64_t v : out_shape)
      if (v < 0 || v > kMaxElements)
        return InvalidInput("{}: attribute output_shape has value {}", node.Label(), v);
  }
  TransposeGeometry t;
  t.out.assign(rank, -1);
  t.pads = w.pads;
  for (size_t i = 0; i < rank; ++i) {
    if (in[i] < 0) continue;
    const int64_t full = w.strides[i] * (in[i] - 1) + out_pad[i] + w.span(i);
    int64_t target = -1;
    if (!out_shape.empty())
      target = out_shape[i];
    else if (w.auto_pad == AutoPad::kSameUpper || w.auto_pad == AutoPad::kSameLower)
      target = in[i] * w.strides[i];
    if (target >= 0) {
      // A negative total pads the output beyond the full transposed size (ONNX allows it;
      // those positions get only the bias). Floor division, as ONNX's definition.
      const int64_t total = full - target;
      const int64_t small = total >= 0 ? total / 2 : -((-total + 1) / 2);
      t.pads[i] = w.auto_pad == AutoPad::kSameUpper ? small : total - small;
      t.pads[rank + i] = total - t.pads[i];
      t.out[i] = target;
    } else {
      t.out[i] = full - t.pads[i] - t.pads[rank + i];
      if (t.out[i] < 0)
        return InvalidInput("{}: pads {} + {} exceed the transposed size {} of spatial dim {}", node.Label(),
                            t.pads[i], t.pads[rank + i], full, i);
    }
  }
  return t;
}

Result<std::vector<OutputType>> InferConvTranspose(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(CheckInputCount(ctx, 2, 3));
  SQ_RETURN_IF_ERROR(RequireDType(ctx, 0, "X", kFloatTypes));
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 1, "W"));
  SQ_RETURN_IF_ERROR(RequireSameDType(ctx, 1, "W"));
  SQ_RETURN_IF_ERROR(RequireSameDType(ctx, 2, "B"));
  SQ_ASSIGN_OR_RETURN(int64_t group, ReadGroup(ctx.node));
  SQ_ASSIGN_OR_RETURN(std::optional<ConvShapes> cs, CheckConvRanks(ctx));
  const DType dt = ctx.in(0).dtype;
  if (!cs) return One(dt, std::nullopt);
  const Shape* x = ctx.in(0).shape;
  const Shape* w = ctx.in(1).shape;
  const Dim c = x ? (*x)[1] : Dim::Unknown();
  const Dim wc = w ? (*w)[0] : Dim::Unknown();
  const Dim mg = w ? (*w)[1] : Dim::Unknown();
  if (c.known() && wc.known() && c.value != wc.value)
    return InvalidInput("{}: input has {} channels, but the weight has {} (dim 0)", ctx.node.Label(), c.value,
                        wc.value);
  if (c.known() && c.value % group != 0)
    return InvalidInput("{}: input channels {} are not divisible by group {}", ctx.node.Label(), c.value, group);
  const Dim m = mg.known() ? Dim::Known(mg.value * group) : Dim::Unknown();
  SQ_RETURN_IF_ERROR(CheckBias(ctx, m));
  Shape out{x ? (*x)[0] : Dim::Unknown(), m};
  if (!cs->kernel && !ctx.node.attrs.has("kernel_shape")) {
    out.resize(cs->rank + 2, Dim::Unknown());
    return One(dt, std::move(out));
  }
  SQ_ASSIGN_OR_RETURN(Window win, ReadWindow(ctx.node, cs->rank, cs->kernel ? &*cs->kernel : nullptr));
  std::vector<int64_t> in(cs->rank, -1);
  for (size_t i = 0; i < cs->rank; ++i)
    if (x && (*x)[i + 2].known()) in[i] = (*x)[i + 2].value;
  SQ_ASSIGN_OR_RETURN(TransposeGeometry t, ConvTransposeSizes(ctx.node, win, in));
  for (size_t i = 0; i < cs->rank; ++i) out.push_back(t.out[i] >= 0 ? Dim::Known(t.out[i]) : Dim::Unknown());
  return One(dt, std::move(out));
}

// y[m, o·stride - pad + k·dilation] += col[(m·K + k), o] for o over the input positions
// (the adjoint of Im2Col; here g.in is the transposed conv's input, g.out its output).
template <typename T>
void Col2Im(const T* col, int64_t channels, const Geometry3& g, T* y) {
  for (int64_t c = 0; c < channels; ++c) {
    T* yc = y + c * g.out_size();
    for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
      for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
        for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
          // Input columns whose output w index is inside [0, out_w).
          const int64_t off_w = kw * g.dilation[2] - g.pad[2];
          int64_t iw_lo = 0, iw_hi = 0;
          InsideRange(off_w, g.stride[2], g.out[2], g.in[2], &iw_lo, &iw_hi);
          for (int64_t id = 0; id < g.in[0]; ++id) {
            const int64_t od = id * g.stride[0] - g.pad[0] + kd * g.dilation[0];
            for (int64_t ih = 0; ih < g.in[1]; ++ih, col += g.in[2]) {
              const int64_t oh = ih * g.stride[1] - g.pad[1] + kh * g.dilation[1];
              if (od < 0 || od >= g.out[0] || oh < 0 || oh >= g.out[1]) continue;
              T* row = yc + (od * g.out[1] + oh) * g.out[2];
              for (int64_t iw = iw_lo; iw < iw_hi; ++iw) row[iw * g.stride[2] + off_w] += col[iw];
            }
          }
        }
  }
}

template <typename T>
Status ConvTransposeTyped(const Tensor& x, const Tensor& w, const Tensor* b, Tensor& y, const Geometry3& g,
                          int64_t group) {
  const int64_t n = x.dim(0), c = x.dim(1), mg = w.dim(1), m = mg * group;
  const int64_t cg = c / group;
  const int64_t k = g.kernel_size(), lin = g.in_size(), lout = g.out_size();
  T* py = y.data<T>();
  if (y.size() == 0) return Status::Ok();
  ArrayMap<T>(py, y.size()).setZero();
  SQ_ASSIGN_OR_RETURN(int64_t col_size, CheckedElementCount({mg * k, lin}));
  std::vector<T> col(static_cast<size_t>(col_size));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t grp = 0; grp < group; ++grp) {
      const T* xg = x.data<T>() + (i * c + grp * cg) * lin;
      const T* wg = w.data<T>() + grp * cg * mg * k;
      GemmRowMajor<T>(wg, true, xg, false, col.data(), mg * k, cg, lin, T(1), /*accumulate=*/false);
      Col2Im<T>(col.data(), mg, g, py + (i * m + grp * mg) * lout);
    }
  AddChannelBias<T>(b, n, m, lout, py);
  return Status::Ok();
}

Status ConvTransposeKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& x = *inputs[0];
  const Tensor& w = *inputs[1];
  const Tensor* b = inputs.size() > 2 ? inputs[2] : nullptr;
  SQ_ASSIGN_OR_RETURN(int64_t group, ReadGroup(node));
  const std::vector<int64_t> kernel = SpatialDims(w.dims());
  SQ_ASSIGN_OR_RETURN(Window win, ReadWindow(node, kernel.size(), &kernel));
  const std::vector<int64_t> in = SpatialDims(x.dims());
  SQ_ASSIGN_OR_RETURN(TransposeGeometry t, ConvTransposeSizes(node, win, in));
  if (t.out != SpatialDims(outputs[0].dims())) return Internal("{}: output size mismatch", node.Label());
  win.pads = t.pads;
  const Geometry3 g = ToGeometry3(win, in, t.out);
  Status status = KernelDTypeError(node, x.dtype());
  VisitType<kFloatTypes>(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    status = ConvTransposeTyped<T>(x, w, b, outputs[0], g, group);
  });
  return status;
}

}  // namespace

extern const OpDef kDefConv{InferConv, ConvKernel};
extern const OpDef kDefConvTranspose{InferConvTranspose, ConvTransposeKernel};

}  // namespace squint::ir::eval
