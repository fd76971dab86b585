// Ops that make a larger tensor from a smaller one by repeating or padding elements:
// Expand, Tile, Pad. Kernels work on bytes, so every dtype is handled alike.
#include <algorithm>
#include <cstring>

#include "ir/eval/ops/data_util.h"

namespace squint::ir::eval {
namespace {

// ---- Expand --------------------------------------------------------------------------

Result<std::vector<OutputType>> ExpandInfer(const InferContext& ctx) {
  const Node& node = ctx.node;
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 0, "input"));
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 1, "shape"));
  const DType dtype = ctx.in(0).dtype;
  SQ_ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> shape, IntsInput(ctx, 1, "shape"));
  const Shape* in = ctx.in(0).shape;
  if (!shape) {
    std::optional<int64_t> n = KnownLength(ctx, 1);
    if (!in || !n) return One(dtype, std::nullopt);
    // Each output dim is the input dim unless the input dim is 1 (or absent).
    const size_t rank = std::max(in->size(), static_cast<size_t>(*n));
    Shape out(rank, Dim::Unknown());
    for (size_t i = 0; i < in->size(); ++i) {
      const Dim& d = (*in)[i];
      if (!(d.known() && d.value == 1)) out[rank - in->size() + i] = d;
    }
    return One(dtype, std::move(out));
  }
  for (int64_t v : *shape)
    if (v < 0) return InvalidInput("{}: shape {} has a negative dim", node.Label(), IntsToString(*shape));
  if (!in) return One(dtype, std::nullopt);
  SQ_ASSIGN_OR_RETURN(Shape out, BroadcastShapes(node, *in, ShapeFromDims(*shape)));
  SQ_RETURN_IF_ERROR(KnownProduct(node, out).status());
  return One(dtype, std::move(out));
}

Status ExpandKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& in = *inputs[0];
  Tensor& out = outputs[0];
  BroadcastCopy(out.raw(), out.dims(), in.raw(), in.dims(), DTypeSize(in.dtype()));
  return Status::Ok();
}

// ---- Tile ----------------------------------------------------------------------------

Result<std::vector<OutputType>> TileInfer(const InferContext& ctx) {
  const Node& node = ctx.node;
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 0, "input"));
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 1, "repeats"));
  const DType dtype = ctx.in(0).dtype;
  SQ_ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> reps, IntsInput(ctx, 1, "repeats"));
  const Shape* in = ctx.in(0).shape;
  if (!in) return One(dtype, std::nullopt);
  if (!reps) return One(dtype, Shape(in->size(), Dim::Unknown()));
  if (reps->size() != in->size())
    return InvalidInput("{}: repeats {} has {} entries for input rank {}", node.Label(), IntsToString(*reps),
                        reps->size(), in->size());
  Shape out(in->size());
  for (size_t i = 0; i < in->size(); ++i) {
    const int64_t r = (*reps)[i];
    const Dim& d = (*in)[i];
    if (r < 0) return InvalidInput("{}: repeats {} has a negative entry", node.Label(), IntsToString(*reps));
    if (r == 0 || (d.known() && d.value == 0)) {
      out[i] = Dim::Known(0);
    } else if (r == 1) {
      out[i] = d;
    } else if (d.known()) {
      if (d.value > kMaxElements / r)
        return InvalidInput("{}: repeating dim {} of size {} by {} exceeds 2^34 elements", node.Label(), i, d.value,
                            r);
      out[i] = Dim::Known(d.value * r);
    } else {
      out[i] = Dim::Unknown();
    }
  }
  SQ_RETURN_IF_ERROR(KnownProduct(node, out).status());
  return One(dtype, std::move(out));
}

Status TileKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& in = *inputs[0];
  Tensor& out = outputs[0];
  // The output seen as [r0, d0, r1, d1, ...]: the repeat index reads with stride 0.
  const std::vector<int64_t> in_strides = Strides(in.dims());
  const std::vector<int64_t> out_strides = Strides(out.dims());
  Dims dims;
  std::vector<int64_t> ds, ss;
  for (size_t i = 0; i < in.dims().size(); ++i) {
    const int64_t d = in.dims()[i];
    const int64_t r = d == 0 ? 0 : out.dims()[i] / d;
    dims.insert(dims.end(), {r, d});
    ds.insert(ds.end(), {out_strides[i] * d, out_strides[i]});
    ss.insert(ss.end(), {0, in_strides[i]});
  }
  StridedCopy(out.raw(), in.raw(), DTypeSize(in.dtype()), dims, ds, ss);
  return Status::Ok();
}

// ---- Pad -----------------------------------------------------------------------------

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

Result<PadMode> ModeOf(const Node& node) {
  const std::string m = node.attrs.GetString("mode", "constant");
  if (m == "constant") return PadMode::kConstant;
  if (m == "reflect") return PadMode::kReflect;
  if (m == "edge") return PadMode::kEdge;
  if (m == "wrap") return PadMode::kWrap;
  return InvalidInput("{}: mode '{}' is not one of constant, reflect, edge, wrap", node.Label(), m);
}

// Per data dim: (pad at the beginning, pad at the end); negative pads crop.
Result<std::vector<std::pair<int64_t, int64_t>>> PadsPerDim(const Node& node, size_t rank,
                                                            const std::vector<int64_t>& pads,
                                                            const std::optional<std::vector<int64_t>>& axes_in) {
  std::vector<int64_t> axes;
  if (axes_in) {
    axes = *axes_in;
  } else {
    for (size_t i = 0; i < rank; ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (pads.size() != 2 * axes.size())
    return InvalidInput("{}: pads {} has {} entries, expected 2 x {} axes", node.Label(), IntsToString(pads),
                        pads.size(), axes.size());
  std::vector<std::pair<int64_t, int64_t>> per(rank, {0, 0});
  std::vector<bool> seen(rank, false);
  for (size_t i = 0; i < axes.size(); ++i) {
    SQ_ASSIGN_OR_RETURN(int64_t a, NormalizeAxis(node, axes[i], static_cast<int64_t>(rank), "axes entry"));
    if (seen[static_cast<size_t>(a)])
      return InvalidInput("{}: axes {} repeat axis {}", node.Label(), IntsToString(axes), a);
    seen[static_cast<size_t>(a)] = true;
    const int64_t b = pads[i], e = pads[axes.size() + i];
    if (b > kMaxElements || e > kMaxElements || b < -kMaxElements || e < -kMaxElements)
      return InvalidInput("{}: pads {} are out of range", node.Label(), IntsToString(pads));
    per[static_cast<size_t>(a)] = {b, e};
  }
  return per;
}

Result<std::vector<OutputType>> PadInfer(const InferContext& ctx) {
  const Node& node = ctx.node;
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 0, "data"));
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 1, "pads"));
  const DType dtype = ctx.in(0).dtype;
  SQ_ASSIGN_OR_RETURN(PadMode mode, ModeOf(node));
  const InputInfo& value = ctx.in(2);
  if (value.present) {
    if (value.dtype != dtype)
      return InvalidInput("{}: constant_value is {}, data is {}", node.Label(), DTypeName(value.dtype),
                          DTypeName(dtype));
    if (value.value && value.value->size() > 1)
      return InvalidInput("{}: constant_value must be a scalar, got shape {}", node.Label(),
                          DimsToString(value.value->dims()));
  }
  SQ_ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> pads, IntsInput(ctx, 1, "pads"));
  SQ_ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> axes, IntsInput(ctx, 3, "axes"));
  const Shape* in = ctx.in(0).shape;
  if (!in) return One(dtype, std::nullopt);
  if (!pads || (ctx.in(3).present && !axes)) return One(dtype, Shape(in->size(), Dim::Unknown()));
  SQ_ASSIGN_OR_RETURN(auto per, PadsPerDim(node, in->size(), *pads, axes));
  Shape out(in->size());
  for (size_t i = 0; i < in->size(); ++i) {
    const Dim& d = (*in)[i];
    const auto [b, e] = per[i];
    if (!d.known()) {
      out[i] = b == 0 && e == 0 ? d : Dim::Unknown();
      continue;
    }
    const int64_t n = d.value;
    if (std::max<int64_t>(0, -b) + std::max<int64_t>(0, -e) > n || n + b + e < 0)
      return InvalidInput("{}: pads ({}, {}) crop more than dim {} of size {}", node.Label(), b, e, i, n);
    const int64_t kept = n - std::max<int64_t>(0, -b) - std::max<int64_t>(0, -e);
    if (mode != PadMode::kConstant && kept == 0 && (b > 0 || e > 0))
      return InvalidInput("{}: cannot pad an empty dim {} in mode '{}'", node.Label(), i,
                          node.attrs.GetString("mode", "constant"));
    out[i] = Dim::Known(n + b + e);
  }
  SQ_RETURN_IF_ERROR(KnownProduct(node, out).status());
  return One(dtype, std::move(out));
}

// Source index along one dim for output index o, or -1 for the constant.
int64_t PadSource(PadMode mode, int64_t o, int64_t n, int64_t b, int64_t e) {
  const int64_t c0 = std::max<int64_t>(0, -b), c1 = n - std::max<int64_t>(0, -e);
  const int64_t j = o - b;
  if (j >= c0 && j < c1) return j;
  const int64_t m = c1 - c0;
  int64_t k = j - c0;
  switch (mode) {
    case PadMode::kConstant: return -1;
    case PadMode::kEdge: return k < 0 ? c0 : c1 - 1;
    case PadMode::kWrap: return c0 + ((k % m) + m) % m;
    case PadMode::kReflect: {
      if (m == 1) return c0;
      const int64_t period = 2 * (m - 1);
      k = ((k % period) + period) % period;
      return c0 + (k < m ? k : period - k);
    }
  }
  return -1;
}

Status PadKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& in = *inputs[0];
  Tensor& out = outputs[0];
  SQ_ASSIGN_OR_RETURN(PadMode mode, ModeOf(node));
  std::optional<std::vector<int64_t>> axes;
  if (inputs.size() > 3 && inputs[3]) axes = IntsOf(inputs[3]);
  SQ_ASSIGN_OR_RETURN(auto per, PadsPerDim(node, in.dims().size(), IntsOf(inputs[1]), axes));
  const size_t esize = DTypeSize(in.dtype());
  unsigned char fill[16] = {};
  if (inputs.size() > 2 && inputs[2] && inputs[2]->size() == 1) std::memcpy(fill, inputs[2]->raw(), esize);
  const std::vector<int64_t> strides = Strides(in.dims());
  std::vector<std::vector<int64_t>> maps(in.dims().size());
  for (size_t k = 0; k < maps.size(); ++k) {
    maps[k].resize(static_cast<size_t>(out.dims()[k]));
    for (int64_t o = 0; o < out.dims()[k]; ++o) {
      const int64_t s = PadSource(mode, o, in.dims()[k], per[k].first, per[k].second);
      maps[k][static_cast<size_t>(o)] = s < 0 ? -1 : s * strides[k];
    }
  }
  IndexMapCopy(out.raw(), in.raw(), esize, out.dims(), maps, fill);
  return Status::Ok();
}

}  // namespace

extern const OpDef kDefExpand{ExpandInfer, ExpandKernel};
extern const OpDef kDefTile{TileInfer, TileKernel};
extern const OpDef kDefPad{PadInfer, PadKernel};

}  // namespace squint::ir::eval
