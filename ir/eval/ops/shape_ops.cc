// Ops that change a tensor's shape but not its bytes (Reshape, Flatten, Squeeze, Unsqueeze,
// Identity, Dropout in inference), ops that produce shapes (Shape) and ops that make
// tensors from attributes or scalars (Constant, ConstantOfShape, Range).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "ir/eval/ops/data_util.h"

namespace squint::ir::eval {
namespace {

// Kernel of every op whose output holds the input's bytes in the same order.
Status CopyKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& in = *inputs[0];
  Tensor& out = outputs[0];
  if (out.bytes() != in.bytes())
    return Internal("{}: output {} does not hold the input's {} elements", node.Label(),
                    DimsToString(out.dims()), in.size());
  if (in.bytes()) std::memcpy(out.raw(), in.raw(), in.bytes());
  return Status::Ok();
}

// ---- Identity -------------------------------------------------------------------------

Result<std::vector<OutputType>> IdentityInfer(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 0, "input"));
  return std::vector<OutputType>{SameAsInput(ctx, 0)};
}

// ---- Dropout (inference: identity; the optional mask is all true) ---------------------

Result<std::vector<OutputType>> DropoutInfer(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 0, "data"));
  const InputInfo& training = ctx.in(2);
  if (training.present && training.value && training.value->size() == 1 &&
      training.value->ToInt64Vector()[0] != 0) {
    float ratio = 0.5f;
    if (ctx.in(1).present && ctx.in(1).value && ctx.in(1).value->size() == 1)
      ratio = ctx.in(1).value->ToFloatVector()[0];
    if (ratio != 0.0f)
      return Unsupported("{}: training_mode=true with ratio {} is random; squint evaluates inference only",
                         ctx.node.Label(), ratio);
  }
  OutputType out = SameAsInput(ctx, 0);
  OutputType mask{DType::kBool, out.shape};
  return std::vector<OutputType>{out, mask};
}

Status DropoutKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  SQ_RETURN_IF_ERROR(CopyKernel(node, inputs, outputs));
  if (outputs.size() > 1 && !outputs[1].empty_type())
    std::fill_n(outputs[1].data<bool>(), outputs[1].size(), true);
  return Status::Ok();
}

// ---- Shape ---------------------------------------------------------------------------

// [start, end) of Shape's output within the input dims (opset 15 attributes, clamped).
std::pair<int64_t, int64_t> ShapeRange(const Node& node, int64_t rank) {
  int64_t start = node.attrs.GetInt("start", 0), end = node.attrs.GetInt("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  return {start, std::max(start, end)};
}

Result<std::vector<OutputType>> ShapeInfer(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 0, "data"));
  const Shape* s = ctx.in(0).shape;
  if (!s) return One(DType::kInt64, Shape{Dim::Unknown()});
  auto [start, end] = ShapeRange(ctx.node, static_cast<int64_t>(s->size()));
  return One(DType::kInt64, Shape{Dim::Known(end - start)});
}

Status ShapeKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& in = *inputs[0];
  auto [start, end] = ShapeRange(node, in.rank());
  int64_t* out = outputs[0].data<int64_t>();
  for (int64_t i = start; i < end; ++i) out[i - start] = in.dim(i);
  return Status::Ok();
}

// ---- Reshape -------------------------------------------------------------------------

std::string ShapeSpec(std::span<const int64_t> v) {
  if (v.empty()) return "scalar";
  return fmt::format("{}", fmt::join(v, "x"));
}

Result<std::vector<OutputType>> ReshapeInfer(const InferContext& ctx) {
  const Node& node = ctx.node;
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 0, "data"));
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 1, "shape"));
  const DType dtype = ctx.in(0).dtype;
  const bool allowzero = node.attrs.GetInt("allowzero", 0) != 0;
  SQ_ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> spec, IntsInput(ctx, 1, "shape"));
  if (!spec) {
    std::optional<int64_t> n = KnownLength(ctx, 1);
    if (!n) return One(dtype, std::nullopt);
    return One(dtype, Shape(static_cast<size_t>(*n), Dim::Unknown()));
  }
  const std::vector<int64_t>& v = *spec;
  const Shape* in = ctx.in(0).shape;
  auto describe_in = [&] {
    if (!in) return std::string("a tensor of unknown rank");
    std::optional<Dims> d = DimsFromShape(*in);
    if (d) return fmt::format("{} ({} elements)", DimsToString(*d), ElementCount(*d));
    return ShapeToString(*in);
  };
  auto fail = [&](std::string_view rule) -> Status {
    return InvalidInput("{}: cannot reshape {} to {}: {}", node.Label(), describe_in(), ShapeSpec(v), rule);
  };
  Shape out(v.size());
  int64_t infer_at = -1;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == -1) {
      if (infer_at >= 0) return fail("more than one -1");
      infer_at = static_cast<int64_t>(i);
    } else if (v[i] < -1) {
      return fail(fmt::format("dim {} is negative", v[i]));
    } else if (v[i] == 0 && !allowzero) {
      if (in && i >= in->size()) return fail(fmt::format("0 at index {} copies a dim the input does not have", i));
      out[i] = in ? (*in)[i] : Dim::Unknown();
    } else {
      out[i] = Dim::Known(v[i]);
    }
  }
  if (allowzero && infer_at >= 0 && std::count(v.begin(), v.end(), 0) > 0)
    return fail("-1 together with 0 when allowzero=1");
  SQ_ASSIGN_OR_RETURN(int64_t out_known, KnownProduct(node, out));
  if (!in) return One(dtype, std::move(out));
  SQ_ASSIGN_OR_RETURN(int64_t in_known, KnownProduct(node, *in));

  // Unknown dims of both sides; equal symbols cancel (e.g. a copied batch dim).
  std::vector<Dim> in_unknown, out_unknown;
  for (const Dim& d : *in)
    if (!d.known()) in_unknown.push_back(d);
  for (size_t i = 0; i < out.size(); ++i)
    if (static_cast<int64_t>(i) != infer_at && !out[i].known()) out_unknown.push_back(out[i]);
  for (auto it = out_unknown.begin(); it != out_unknown.end();) {
    auto match = std::find_if(in_unknown.begin(), in_unknown.end(),
                              [&](const Dim& d) { return !d.symbol.empty() && d.symbol == it->symbol; });
    if (match != in_unknown.end()) {
      in_unknown.erase(match);
      it = out_unknown.erase(it);
    } else {
      ++it;
    }
  }
  const bool balanced = in_unknown.empty() && out_unknown.empty();
  if (infer_at < 0) {
    if (balanced && in_known != out_known) return fail("element counts differ");
    return One(dtype, std::move(out));
  }
  Dim& inferred = out[static_cast<size_t>(infer_at)];
  if (balanced) {
    if (out_known == 0) return fail("-1 is ambiguous with a zero-size dim");
    if (in_known % out_known != 0)
      return fail(fmt::format("{} elements are not divisible by {}", in_known, out_known));
    inferred = Dim::Known(in_known / out_known);
  } else if (out_unknown.empty() && in_unknown.size() == 1 && in_known == out_known) {
    inferred = in_unknown[0];
  } else if (out_unknown.empty() && in_unknown.empty() == false && out_known != 0 && in_known == 0) {
    inferred = Dim::Known(0);
  } else {
    inferred = Dim::Unknown();
  }
  return One(dtype, std::move(out));
}

// ---- Flatten -------------------------------------------------------------------------

Result<std::vector<OutputType>> FlattenInfer(const InferContext& ctx) {
  SQ_ASSIGN_OR_RETURN(const Shape* in, RequireShape(ctx, 0, "input"));
  const int64_t rank = static_cast<int64_t>(in->size());
  int64_t axis = ctx.node.attrs.GetInt("axis", 1);
  if (axis < -rank || axis > rank)
    return InvalidInput("{}: axis {} is out of range [{}, {}] for rank {}", ctx.node.Label(), axis, -rank, rank,
                        rank);
  if (axis < 0) axis += rank;
  SQ_RETURN_IF_ERROR(KnownProduct(ctx.node, *in).status());
  std::span<const Dim> dims(*in);
  return One(ctx.in(0).dtype, Shape{ProductDim(dims.first(static_cast<size_t>(axis))),
                                    ProductDim(dims.subspan(static_cast<size_t>(axis)))});
}

// ---- Squeeze / Unsqueeze (axes as input 1; the importer moves the old attribute there) --

Result<std::optional<std::vector<int64_t>>> AxesOf(const InferContext& ctx) {
  if (!ctx.in(1).present && ctx.node.attrs.has("axes"))
    return std::optional<std::vector<int64_t>>(ctx.node.attrs.GetInts("axes"));
  return IntsInput(ctx, 1, "axes");
}

Result<std::vector<OutputType>> SqueezeInfer(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 0, "data"));
  const DType dtype = ctx.in(0).dtype;
  const Shape* in = ctx.in(0).shape;
  SQ_ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> axes, AxesOf(ctx));
  // An empty axes list squeezes every 1, like an absent one (as ONNX Runtime).
  const bool has_axes = (ctx.in(1).present || ctx.node.attrs.has("axes")) && !(axes && axes->empty());
  if (!in) return One(dtype, std::nullopt);
  const int64_t rank = static_cast<int64_t>(in->size());
  if (has_axes && !axes) {
    std::optional<int64_t> n = KnownLength(ctx, 1);
    if (!n || *n > rank) return One(dtype, std::nullopt);
    return One(dtype, Shape(static_cast<size_t>(rank - *n), Dim::Unknown()));
  }
  std::vector<bool> drop(in->size(), false);
  if (!has_axes) {
    for (size_t i = 0; i < in->size(); ++i) {
      if (!(*in)[i].known()) return One(dtype, std::nullopt);  // might or might not be 1
      drop[i] = (*in)[i].value == 1;
    }
  } else {
    for (int64_t a : *axes) {
      SQ_ASSIGN_OR_RETURN(int64_t k, NormalizeAxis(ctx.node, a, rank, "axes entry"));
      if (drop[static_cast<size_t>(k)])
        return InvalidInput("{}: axes {} repeat axis {}", ctx.node.Label(), IntsToString(*axes), k);
      const Dim& d = (*in)[static_cast<size_t>(k)];
      if (d.known() && d.value != 1)
        return InvalidInput("{}: cannot squeeze axis {} of shape {}: its size is {}, not 1", ctx.node.Label(), k,
                            ShapeToString(*in), d.value);
      drop[static_cast<size_t>(k)] = true;
    }
  }
  Shape out;
  for (size_t i = 0; i < in->size(); ++i)
    if (!drop[i]) out.push_back((*in)[i]);
  return One(dtype, std::move(out));
}

Result<std::vector<OutputType>> UnsqueezeInfer(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 0, "data"));
  const DType dtype = ctx.in(0).dtype;
  const Shape* in = ctx.in(0).shape;
  if (!ctx.in(1).present && !ctx.node.attrs.has("axes"))
    return InvalidInput("{}: input 1 (axes) is missing", ctx.node.Label());
  SQ_ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> axes, AxesOf(ctx));
  if (!in) return One(dtype, std::nullopt);
  const int64_t in_rank = static_cast<int64_t>(in->size());
  if (!axes) {
    std::optional<int64_t> n = KnownLength(ctx, 1);
    if (!n) return One(dtype, std::nullopt);
    return One(dtype, Shape(static_cast<size_t>(in_rank + *n), Dim::Unknown()));
  }
  const int64_t rank = in_rank + static_cast<int64_t>(axes->size());
  std::vector<bool> inserted(static_cast<size_t>(rank), false);
  for (int64_t a : *axes) {
    SQ_ASSIGN_OR_RETURN(int64_t k, NormalizeAxis(ctx.node, a, rank, "axes entry"));
    if (inserted[static_cast<size_t>(k)])
      return InvalidInput("{}: axes {} repeat axis {}", ctx.node.Label(), IntsToString(*axes), k);
    inserted[static_cast<size_t>(k)] = true;
  }
  Shape out;
  size_t next = 0;
  for (int64_t i = 0; i < rank; ++i) out.push_back(inserted[static_cast<size_t>(i)] ? Dim::Known(1) : (*in)[next++]);
  return One(dtype, std::move(out));
}

// ---- Constant ------------------------------------------------------------------------

Result<Tensor> ConstantValue(const Node& node) {
  const Attributes& a = node.attrs;
  if (const Tensor* t = a.GetTensor("value")) return *t;
  if (a.has("value_float")) return Tensor::Scalar<float>(a.GetFloat("value_float", 0.0f));
  if (a.has("value_int")) return Tensor::Scalar<int64_t>(a.GetInt("value_int", 0));
  // (Empty lists build the tensor directly: FromVector would memcpy from a null pointer.)
  if (a.has("value_floats")) {
    std::vector<float> v = a.GetFloats("value_floats");
    if (v.empty()) return Tensor(DType::kFloat32, {0});
    return Tensor::FromVector<float>({static_cast<int64_t>(v.size())}, v);
  }
  if (a.has("value_ints")) {
    std::vector<int64_t> v = a.GetInts("value_ints");
    if (v.empty()) return Tensor(DType::kInt64, {0});
    return Tensor::FromVector<int64_t>({static_cast<int64_t>(v.size())}, v);
  }
  for (const char* name : {"value_string", "value_strings", "sparse_value"})
    if (a.has(name)) return Unsupported("{}: attribute '{}' is not supported", node.Label(), name);
  return InvalidInput("{}: has none of the attributes value, value_float(s), value_int(s)", node.Label());
}

Result<std::vector<OutputType>> ConstantInfer(const InferContext& ctx) {
  SQ_ASSIGN_OR_RETURN(Tensor t, ConstantValue(ctx.node));
  return One(t.dtype(), ShapeFromDims(t.dims()));
}

Status ConstantKernel(const Node& node, std::span<const Tensor* const>, std::span<Tensor> outputs) {
  SQ_ASSIGN_OR_RETURN(Tensor t, ConstantValue(node));
  if (t.bytes() != outputs[0].bytes()) return Internal("{}: output size mismatch", node.Label());
  if (t.bytes()) std::memcpy(outputs[0].raw(), t.raw(), t.bytes());
  return Status::Ok();
}

// ---- ConstantOfShape -----------------------------------------------------------------

Result<std::vector<OutputType>> ConstantOfShapeInfer(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 0, "shape"));
  DType dtype = DType::kFloat32;
  if (const Tensor* v = ctx.node.attrs.GetTensor("value")) {
    if (v->size() != 1)
      return InvalidInput("{}: attribute value must hold one element, got shape {}", ctx.node.Label(),
                          DimsToString(v->dims()));
    dtype = v->dtype();
  }
  SQ_ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> dims, IntsInput(ctx, 0, "shape"));
  if (!dims) {
    std::optional<int64_t> n = KnownLength(ctx, 0);
    if (!n) return One(dtype, std::nullopt);
    return One(dtype, Shape(static_cast<size_t>(*n), Dim::Unknown()));
  }
  if (ctx.in(0).value->rank() != 1)
    return InvalidInput("{}: input 0 (shape) must be 1-D, got a scalar", ctx.node.Label());
  Result<int64_t> n = CheckedElementCount(*dims);
  if (!n.ok()) return n.status().WithContext(ctx.node.Label());
  return One(dtype, ShapeFromDims(*dims));
}

Status ConstantOfShapeKernel(const Node& node, std::span<const Tensor* const>, std::span<Tensor> outputs) {
  Tensor& out = outputs[0];
  if (const Tensor* v = node.attrs.GetTensor("value"))
    FillElements(out.raw(), v->raw(), DTypeSize(v->dtype()), out.size());
  // Without the attribute the output is float zeros, as allocated.
  return Status::Ok();
}

// ---- Range ---------------------------------------------------------------------------

Result<std::vector<OutputType>> RangeInfer(const InferContext& ctx) {
  const Node& node = ctx.node;
  const char* names[3] = {"start", "limit", "delta"};
  for (size_t i = 0; i < 3; ++i) {
    SQ_RETURN_IF_ERROR(RequireInput(ctx, i, names[i]));
    if (ctx.in(i).shape && !ctx.in(i).shape->empty() &&
        !(ctx.in(i).shape->size() == 1 && (*ctx.in(i).shape)[0].value == 1))
      return InvalidInput("{}: input {} ({}) must be a scalar, got shape {}", node.Label(), i, names[i],
                          ShapeToString(*ctx.in(i).shape));
    if (ctx.in(i).dtype != ctx.in(0).dtype)
      return InvalidInput("{}: inputs must share one type; start is {}, {} is {}", node.Label(),
                          DTypeName(ctx.in(0).dtype), names[i], DTypeName(ctx.in(i).dtype));
  }
  const DType dtype = ctx.in(0).dtype;
  if (dtype != DType::kFloat32 && dtype != DType::kFloat64 && dtype != DType::kInt16 && dtype != DType::kInt32 &&
      dtype != DType::kInt64)
    return InvalidInput("{}: type {} is not one of float32, float64, int16, int32, int64", node.Label(),
                        DTypeName(dtype));
  if (!ctx.in(0).value || !ctx.in(1).value || !ctx.in(2).value) return One(dtype, Shape{Dim::Unknown()});
  int64_t n = 0;
  if (dtype == DType::kFloat32 || dtype == DType::kFloat64) {
    const double start = ctx.in(0).value->dtype() == DType::kFloat64 ? ctx.in(0).value->data<double>()[0]
                                                                     : ctx.in(0).value->data<float>()[0];
    const double limit = ctx.in(1).value->dtype() == DType::kFloat64 ? ctx.in(1).value->data<double>()[0]
                                                                     : ctx.in(1).value->data<float>()[0];
    const double delta = ctx.in(2).value->dtype() == DType::kFloat64 ? ctx.in(2).value->data<double>()[0]
                                                                     : ctx.in(2).value->data<float>()[0];
    if (delta == 0 || !std::isfinite(delta) || !std::isfinite(start) || !std::isfinite(limit))
      return InvalidInput("{}: start {}, limit {}, delta {} do not define a finite range", node.Label(), start,
                          limit, delta);
    const double count = std::ceil((limit - start) / delta);
    if (count > static_cast<double>(kMaxElements))
      return InvalidInput("{}: range of {} elements exceeds 2^34", node.Label(), count);
    n = count > 0 ? static_cast<int64_t>(count) : 0;
  } else {
    const __int128 start = ctx.in(0).value->ToInt64Vector()[0], limit = ctx.in(1).value->ToInt64Vector()[0],
                   delta = ctx.in(2).value->ToInt64Vector()[0];
    if (delta == 0) return InvalidInput("{}: delta is 0", node.Label());
    const __int128 diff = limit - start;
    // ceil(diff / delta) with truncating division.
    __int128 q = diff / delta;
    if (diff % delta != 0 && ((diff < 0) == (delta < 0))) ++q;
    if (q > kMaxElements)
      return InvalidInput("{}: range from {} to {} by {} exceeds 2^34 elements", node.Label(),
                          static_cast<int64_t>(start), static_cast<int64_t>(limit), static_cast<int64_t>(delta));
    n = q > 0 ? static_cast<int64_t>(q) : 0;
  }
  return One(dtype, Shape{Dim::Known(n)});
}

template <typename T>
void FillRange(const Tensor& start, const Tensor& delta, Tensor& out) {
  const T s = start.data<T>()[0], d = delta.data<T>()[0];
  T* o = out.data<T>();
  for (int64_t i = 0; i < out.size(); ++i) o[i] = static_cast<T>(s + static_cast<T>(i) * d);
}

Status RangeKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& start = *inputs[0];
  const Tensor& delta = *inputs[2];
  Tensor& out = outputs[0];
  switch (out.dtype()) {
    case DType::kFloat32: FillRange<float>(start, delta, out); break;
    case DType::kFloat64: FillRange<double>(start, delta, out); break;
    case DType::kInt16: FillRange<int16_t>(start, delta, out); break;
    case DType::kInt32: FillRange<int32_t>(start, delta, out); break;
    case DType::kInt64: FillRange<int64_t>(start, delta, out); break;
    default: return Internal("{}: unexpected type {}", node.Label(), DTypeName(out.dtype()));
  }
  return Status::Ok();
}

}  // namespace

extern const OpDef kDefIdentity{IdentityInfer, CopyKernel};
extern const OpDef kDefDropout{DropoutInfer, DropoutKernel};
extern const OpDef kDefShape{ShapeInfer, ShapeKernel};
extern const OpDef kDefReshape{ReshapeInfer, CopyKernel};
extern const OpDef kDefFlatten{FlattenInfer, CopyKernel};
extern const OpDef kDefSqueeze{SqueezeInfer, CopyKernel};
extern const OpDef kDefUnsqueeze{UnsqueezeInfer, CopyKernel};
extern const OpDef kDefConstant{ConstantInfer, ConstantKernel};
extern const OpDef kDefConstantOfShape{ConstantOfShapeInfer, ConstantOfShapeKernel};
extern const OpDef kDefRange{RangeInfer, RangeKernel};

}  // namespace squint::ir::eval
