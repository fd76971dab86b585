// Ops that move elements without computing on them: Concat, Split, Slice, Gather,
// Transpose. Kernels work on bytes (DTypeSize), so every dtype is handled alike.
#include <algorithm>
#include <cstring>

#include "ir/eval/ops/data_util.h"

namespace squint::ir::eval {
namespace {

size_t ElemSize(const Tensor& t) { return DTypeSize(t.dtype()); }

// Product of dims [from, to) of concrete dims.
int64_t Prod(const Dims& d, size_t from, size_t to) {
  int64_t n = 1;
  for (size_t i = from; i < to && i < d.size(); ++i) n *= d[i];
  return n;
}

// The more specific of two estimates of one dim that must be equal; error when both are
// known and differ.
Result<Dim> MergeDim(const Node& node, const Dim& a, const Dim& b, size_t axis, const char* what) {
  if (a.known() && b.known() && a.value != b.value)
    return InvalidInput("{}: {} differ in dim {}: {} vs {}", node.Label(), what, axis, a.value, b.value);
  if (a.known()) return a;
  if (b.known()) return b;
  return a.symbol.empty() ? b : a;
}

// ---- Concat --------------------------------------------------------------------------

Result<std::vector<OutputType>> ConcatInfer(const InferContext& ctx) {
  const Node& node = ctx.node;
  if (ctx.inputs.empty()) return InvalidInput("{}: needs at least one input", node.Label());
  if (!node.attrs.has("axis")) return InvalidInput("{}: attribute axis is missing", node.Label());
  const DType dtype = ctx.in(0).dtype;
  const Shape* first = nullptr;
  bool all_ranks = true;
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    SQ_RETURN_IF_ERROR(RequireInput(ctx, i, "input"));
    if (ctx.in(i).dtype != dtype)
      return InvalidInput("{}: input {} is {}, input 0 is {}", node.Label(), i, DTypeName(ctx.in(i).dtype),
                          DTypeName(dtype));
    const Shape* s = ctx.in(i).shape;
    if (!s) {
      all_ranks = false;
      continue;
    }
    if (!first) first = s;
    if (s->size() != first->size())
      return InvalidInput("{}: inputs have different ranks: {} and {}", node.Label(), ShapeToString(*first),
                          ShapeToString(*s));
  }
  if (!first) return One(dtype, std::nullopt);
  const int64_t rank = static_cast<int64_t>(first->size());
  SQ_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(node, node.attrs.GetInt("axis", 0), rank));
  Shape out = *first;
  int64_t sum = 0;
  bool sum_known = all_ranks;
  for (const InputInfo& in : ctx.inputs) {
    if (!in.shape) continue;
    for (size_t k = 0; k < out.size(); ++k) {
      if (static_cast<int64_t>(k) == axis) continue;
      SQ_ASSIGN_OR_RETURN(out[k], MergeDim(node, out[k], (*in.shape)[k], k, "input shapes"));
    }
    const Dim& d = (*in.shape)[static_cast<size_t>(axis)];
    if (d.known() && sum_known && sum <= kMaxElements) {
      sum += d.value;
    } else {
      sum_known = false;
    }
  }
  out[static_cast<size_t>(axis)] = sum_known ? Dim::Known(sum) : Dim::Unknown();
  SQ_RETURN_IF_ERROR(KnownProduct(node, out).status());
  return One(dtype, std::move(out));
}

Status ConcatKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  Tensor& out = outputs[0];
  const size_t axis = static_cast<size_t>(*NormalizeAxis(node, node.attrs.GetInt("axis", 0), out.rank()));
  const int64_t outer = Prod(out.dims(), 0, axis);
  const size_t esize = ElemSize(out);
  const int64_t inner_bytes = Prod(out.dims(), axis + 1, out.dims().size()) * static_cast<int64_t>(esize);
  const int64_t out_row = out.dims()[axis] * inner_bytes;
  auto* dst = static_cast<unsigned char*>(out.raw());
  int64_t col = 0;
  for (const Tensor* in : inputs) {
    const int64_t row = in->dims()[axis] * inner_bytes;
    const auto* src = static_cast<const unsigned char*>(in->raw());
    if (row > 0)
      for (int64_t o = 0; o < outer; ++o)
        std::memcpy(dst + o * out_row + col, src + o * row, static_cast<size_t>(row));
    col += row;
  }
  return Status::Ok();
}

// ---- Split ---------------------------------------------------------------------------

// Sizes of the n parts of a dim of size `dim`: from the split input, or equal parts with a
// smaller last part (num_outputs, opset 18). `uneven_ok` is false before opset 18 when
// neither is given.
Result<std::vector<int64_t>> SplitSizes(const Node& node, int64_t dim, const std::vector<int64_t>* split, size_t n,
                                        bool uneven_ok) {
  if (split) {
    if (split->size() != n)
      return InvalidInput("{}: split {} has {} entries for {} outputs", node.Label(), IntsToString(*split),
                          split->size(), n);
    int64_t sum = 0;
    for (int64_t s : *split) {
      if (s < 0 || s > kMaxElements) return InvalidInput("{}: split {} has an invalid size {}", node.Label(), IntsToString(*split), s);
      sum += s;
    }
    if (dim >= 0 && sum != dim)
      return InvalidInput("{}: split {} sums to {}, but the axis has size {}", node.Label(), IntsToString(*split),
                          sum, dim);
    return *split;
  }
  if (n == 0) return InvalidInput("{}: has no outputs", node.Label());
  if (node.attrs.has("num_outputs") && node.attrs.GetInt("num_outputs", 0) != static_cast<int64_t>(n))
    return InvalidInput("{}: num_outputs is {} but the node has {} outputs", node.Label(),
                        node.attrs.GetInt("num_outputs", 0), n);
  if (dim < 0) return std::vector<int64_t>(n, -1);
  const int64_t parts = static_cast<int64_t>(n);
  if (dim % parts != 0 && !uneven_ok && !node.attrs.has("num_outputs"))
    return InvalidInput("{}: axis of size {} does not split into {} equal parts", node.Label(), dim, n);
  const int64_t chunk = (dim + parts - 1) / parts;
  std::vector<int64_t> sizes(n);
  int64_t left = dim;
  for (size_t i = 0; i < n; ++i) {
    sizes[i] = std::min(chunk, left);
    left -= sizes[i];
  }
  return sizes;
}

Result<std::vector<OutputType>> SplitInfer(const InferContext& ctx) {
  const Node& node = ctx.node;
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 0, "input"));
  const DType dtype = ctx.in(0).dtype;
  const size_t n = node.outputs.size();
  SQ_ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> split, IntsInput(ctx, 1, "split"));
  if (split && split->empty() && ctx.in(1).value) split.reset();  // an empty split means "not given"
  const Shape* in = ctx.in(0).shape;
  if (!in) return std::vector<OutputType>(n, OutputType{dtype, std::nullopt});
  SQ_ASSIGN_OR_RETURN(int64_t axis,
                      NormalizeAxis(node, node.attrs.GetInt("axis", 0), static_cast<int64_t>(in->size())));
  const Dim& d = (*in)[static_cast<size_t>(axis)];
  std::vector<int64_t> sizes(n, -1);
  const bool split_unknown = ctx.in(1).present && !split && !(KnownLength(ctx, 1) == 0);
  if (!split_unknown) {
    SQ_ASSIGN_OR_RETURN(sizes, SplitSizes(node, d.known() ? d.value : -1, split ? &*split : nullptr, n,
                                          ctx.opset >= 18));
  }
  std::vector<OutputType> outs;
  for (size_t i = 0; i < n; ++i) {
    Shape s = *in;
    s[static_cast<size_t>(axis)] = sizes[i] >= 0 ? Dim::Known(sizes[i]) : Dim::Unknown();
    outs.push_back(OutputType{dtype, std::move(s)});
  }
  return outs;
}

Status SplitKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& in = *inputs[0];
  const size_t axis = static_cast<size_t>(*NormalizeAxis(node, node.attrs.GetInt("axis", 0), in.rank()));
  std::vector<int64_t> split = IntsOf(inputs.size() > 1 ? inputs[1] : nullptr);
  SQ_ASSIGN_OR_RETURN(std::vector<int64_t> sizes,
                      SplitSizes(node, in.dims()[axis], split.empty() ? nullptr : &split, outputs.size(), true));
  const int64_t outer = Prod(in.dims(), 0, axis);
  const int64_t inner_bytes = Prod(in.dims(), axis + 1, in.dims().size()) * static_cast<int64_t>(ElemSize(in));
  const int64_t in_row = in.dims()[axis] * inner_bytes;
  const auto* src = static_cast<const unsigned char*>(in.raw());
  int64_t col = 0;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const int64_t row = sizes[i] * inner_bytes;
    if (!outputs[i].empty_type() && row > 0) {
      auto* dst = static_cast<unsigned char*>(outputs[i].raw());
      for (int64_t o = 0; o < outer; ++o)
        std::memcpy(dst + o * row, src + o * in_row + col, static_cast<size_t>(row));
    }
    col += row;
  }
  return Status::Ok();
}

// ---- Slice ---------------------------------------------------------------------------

struct SliceParams {
  std::vector<int64_t> start, step;  // per data dim
  Shape out;
};

// ONNX Slice semantics: negative starts/ends count from the end; starts and ends clamp to
// [0, dim] (step > 0) or [0, dim-1] / [-1, dim-1] (step < 0). Unknown dims give unknown
// sizes except the full-range idioms [0:INT_MAX:1] and [-1:INT_MIN:-1] which keep the dim.
Result<SliceParams> ComputeSlice(const Node& node, const Shape& dims, const std::vector<int64_t>& starts,
                                 const std::vector<int64_t>& ends, const std::optional<std::vector<int64_t>>& axes_in,
                                 const std::optional<std::vector<int64_t>>& steps_in) {
  const int64_t rank = static_cast<int64_t>(dims.size());
  if (starts.size() != ends.size())
    return InvalidInput("{}: starts {} and ends {} differ in length", node.Label(), IntsToString(starts),
                        IntsToString(ends));
  std::vector<int64_t> axes;
  if (axes_in) {
    axes = *axes_in;
  } else {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  const std::vector<int64_t> steps = steps_in ? *steps_in : std::vector<int64_t>(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size())
    return InvalidInput("{}: starts, ends, axes and steps must have one length; got {}, {}, {}, {}", node.Label(),
                        starts.size(), ends.size(), axes.size(), steps.size());
  SliceParams p;
  p.start.assign(dims.size(), 0);
  p.step.assign(dims.size(), 1);
  p.out = dims;
  std::vector<bool> seen(dims.size(), false);
  constexpr int64_t kIntMax32 = 2147483647;
  for (size_t i = 0; i < axes.size(); ++i) {
    SQ_ASSIGN_OR_RETURN(int64_t a, NormalizeAxis(node, axes[i], rank, "axes entry"));
    const size_t k = static_cast<size_t>(a);
    if (seen[k]) return InvalidInput("{}: axes {} repeat axis {}", node.Label(), IntsToString(axes), a);
    seen[k] = true;
    const int64_t step = steps[i];
    if (step == 0) return InvalidInput("{}: steps {} contain 0", node.Label(), IntsToString(steps));
    p.step[k] = step;
    const Dim& d = dims[k];
    if (!d.known()) {
      const bool full_fwd = step == 1 && starts[i] == 0 && ends[i] >= kIntMax32;
      const bool full_bwd = step == -1 && starts[i] == -1 && ends[i] <= -kIntMax32;
      p.out[k] = (full_fwd || full_bwd) ? d : Dim::Unknown();
      continue;
    }
    const int64_t n = d.value;
    int64_t s = starts[i], e = ends[i];
    if (s < 0) s += n;
    if (e < 0) e += n;
    __int128 len;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, n);
      e = std::clamp<int64_t>(e, 0, n);
      len = (static_cast<__int128>(e) - s + step - 1) / step;
    } else {
      s = std::clamp<int64_t>(s, 0, n - 1);
      e = std::clamp<int64_t>(e, -1, n - 1);
      len = (static_cast<__int128>(s) - e + (-static_cast<__int128>(step)) - 1) / (-static_cast<__int128>(step));
    }
    p.start[k] = s;
    p.out[k] = Dim::Known(len > 0 ? static_cast<int64_t>(len) : 0);
  }
  return p;
}

Result<std::vector<OutputType>> SliceInfer(const InferContext& ctx) {
  const Node& node = ctx.node;
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 0, "data"));
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 1, "starts"));
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 2, "ends"));
  const DType dtype = ctx.in(0).dtype;
  SQ_ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> starts, IntsInput(ctx, 1, "starts"));
  SQ_ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> ends, IntsInput(ctx, 2, "ends"));
  SQ_ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> axes, IntsInput(ctx, 3, "axes"));
  SQ_ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> steps, IntsInput(ctx, 4, "steps"));
  const Shape* in = ctx.in(0).shape;
  if (!in) return One(dtype, std::nullopt);
  const bool axes_known = !ctx.in(3).present || axes;
  if (!starts || !ends || !axes_known || (ctx.in(4).present && !steps)) {
    // Values unknown: dims outside the sliced axes keep their size when the axes are known.
    Shape out = *in;
    if (axes) {
      for (int64_t a : *axes) {
        SQ_ASSIGN_OR_RETURN(int64_t k, NormalizeAxis(node, a, static_cast<int64_t>(in->size()), "axes entry"));
        out[static_cast<size_t>(k)] = Dim::Unknown();
      }
    } else if (!ctx.in(3).present && KnownLength(ctx, 1)) {
      for (int64_t k = 0; k < *KnownLength(ctx, 1) && k < static_cast<int64_t>(out.size()); ++k)
        out[static_cast<size_t>(k)] = Dim::Unknown();
    } else {
      for (Dim& d : out) d = Dim::Unknown();
    }
    return One(dtype, std::move(out));
  }
  SQ_ASSIGN_OR_RETURN(SliceParams p, ComputeSlice(node, *in, *starts, *ends, axes, steps));
  return One(dtype, std::move(p.out));
}

Status SliceKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& in = *inputs[0];
  Tensor& out = outputs[0];
  auto opt = [&](size_t i) -> std::optional<std::vector<int64_t>> {
    if (i < inputs.size() && inputs[i]) return IntsOf(inputs[i]);
    return std::nullopt;
  };
  SQ_ASSIGN_OR_RETURN(SliceParams p, ComputeSlice(node, ShapeFromDims(in.dims()), IntsOf(inputs[1]),
                                                  IntsOf(inputs[2]), opt(3), opt(4)));
  const std::vector<int64_t> in_strides = Strides(in.dims());
  std::vector<int64_t> src_strides(in_strides.size());
  int64_t offset = 0;
  for (size_t k = 0; k < in_strides.size(); ++k) {
    src_strides[k] = in_strides[k] * p.step[k];
    offset += in_strides[k] * p.start[k];
  }
  if (out.size() == 0) return Status::Ok();
  const size_t esize = ElemSize(in);
  StridedCopy(out.raw(), static_cast<const unsigned char*>(in.raw()) + offset * static_cast<int64_t>(esize), esize,
              out.dims(), Strides(out.dims()), src_strides);
  return Status::Ok();
}

// ---- Gather --------------------------------------------------------------------------

Status CheckIndices(const Node& node, const Tensor& indices, int64_t axis, int64_t size) {
  for (int64_t i = 0; i < indices.size(); ++i) {
    const int64_t v = indices.dtype() == DType::kInt64 ? indices.data<int64_t>()[i] : indices.data<int32_t>()[i];
    if (v < -size || v >= size)
      return InvalidInput("{}: index {} (at position {} of indices) is out of range [{}, {}) for axis {} of size {}",
                          node.Label(), v, i, -size, size, axis, size);
  }
  return Status::Ok();
}

Result<std::vector<OutputType>> GatherInfer(const InferContext& ctx) {
  const Node& node = ctx.node;
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 0, "data"));
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 1, "indices"));
  const DType dtype = ctx.in(0).dtype;
  if (ctx.in(1).dtype != DType::kInt64 && ctx.in(1).dtype != DType::kInt32)
    return InvalidInput("{}: indices must be int32 or int64, got {}", node.Label(), DTypeName(ctx.in(1).dtype));
  const Shape* data = ctx.in(0).shape;
  const Shape* idx = ctx.in(1).shape;
  if (!data) return One(dtype, std::nullopt);
  SQ_ASSIGN_OR_RETURN(int64_t axis,
                      NormalizeAxis(node, node.attrs.GetInt("axis", 0), static_cast<int64_t>(data->size())));
  const Dim& d = (*data)[static_cast<size_t>(axis)];
  if (ctx.in(1).value && d.known()) SQ_RETURN_IF_ERROR(CheckIndices(node, *ctx.in(1).value, axis, d.value));
  if (!idx) return One(dtype, std::nullopt);
  Shape out(data->begin(), data->begin() + axis);
  out.insert(out.end(), idx->begin(), idx->end());
  out.insert(out.end(), data->begin() + axis + 1, data->end());
  SQ_RETURN_IF_ERROR(KnownProduct(node, out).status());
  return One(dtype, std::move(out));
}

Status GatherKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& data = *inputs[0];
  const Tensor& indices = *inputs[1];
  const size_t axis = static_cast<size_t>(*NormalizeAxis(node, node.attrs.GetInt("axis", 0), data.rank()));
  const int64_t n = data.dims()[axis];
  SQ_RETURN_IF_ERROR(CheckIndices(node, indices, static_cast<int64_t>(axis), n));
  const int64_t outer = Prod(data.dims(), 0, axis);
  const int64_t block = Prod(data.dims(), axis + 1, data.dims().size()) * static_cast<int64_t>(ElemSize(data));
  const std::vector<int64_t> idx = indices.ToInt64Vector();
  const auto* src = static_cast<const unsigned char*>(data.raw());
  auto* dst = static_cast<unsigned char*>(outputs[0].raw());
  if (block == 0) return Status::Ok();
  for (int64_t o = 0; o < outer; ++o) {
    const unsigned char* row = src + o * n * block;
    for (int64_t v : idx) {
      std::memcpy(dst, row + (v < 0 ? v + n : v) * block, static_cast<size_t>(block));
      dst += block;
    }
  }
  return Status::Ok();
}

// ---- Transpose -----------------------------------------------------------------------

Result<std::vector<int64_t>> Perm(const Node& node, int64_t rank) {
  std::vector<int64_t> perm = node.attrs.GetInts("perm");
  if (!node.attrs.has("perm")) {
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
    return perm;
  }
  if (static_cast<int64_t>(perm.size()) != rank)
    return InvalidInput("{}: perm {} has {} entries for rank {}", node.Label(), IntsToString(perm), perm.size(),
                        rank);
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t& p : perm) {
    if (p < -rank || p >= rank || seen[static_cast<size_t>(p < 0 ? p + rank : p)])
      return InvalidInput("{}: perm {} is not a permutation of 0..{}", node.Label(), IntsToString(perm), rank - 1);
    if (p < 0) p += rank;
    seen[static_cast<size_t>(p)] = true;
  }
  return perm;
}

Result<std::vector<OutputType>> TransposeInfer(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 0, "data"));
  const Shape* in = ctx.in(0).shape;
  if (!in) return One(ctx.in(0).dtype, std::nullopt);
  SQ_ASSIGN_OR_RETURN(std::vector<int64_t> perm, Perm(ctx.node, static_cast<int64_t>(in->size())));
  Shape out;
  for (int64_t p : perm) out.push_back((*in)[static_cast<size_t>(p)]);
  return One(ctx.in(0).dtype, std::move(out));
}

Status TransposeKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& in = *inputs[0];
  Tensor& out = outputs[0];
  SQ_ASSIGN_OR_RETURN(std::vector<int64_t> perm, Perm(node, in.rank()));
  const std::vector<int64_t> in_strides = Strides(in.dims());
  std::vector<int64_t> src_strides;
  for (int64_t p : perm) src_strides.push_back(in_strides[static_cast<size_t>(p)]);
  StridedCopy(out.raw(), in.raw(), ElemSize(in), out.dims(), Strides(out.dims()), src_strides);
  return Status::Ok();
}

}  // namespace

extern const OpDef kDefConcat{ConcatInfer, ConcatKernel};
extern const OpDef kDefSplit{SplitInfer, SplitKernel};
extern const OpDef kDefSlice{SliceInfer, SliceKernel};
extern const OpDef kDefGather{GatherInfer, GatherKernel};
extern const OpDef kDefTranspose{TransposeInfer, TransposeKernel};

}  // namespace squint::ir::eval
