#include "ir/eval/ops/common.h"

namespace squint::ir::eval {

Result<Shape> BroadcastShapes(const Node& node, const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const Dim one = Dim::Known(1);
    const Dim& da = i < rank - a.size() ? one : a[i - (rank - a.size())];
    const Dim& db = i < rank - b.size() ? one : b[i - (rank - b.size())];
    if (da.known() && db.known()) {
      if (da.value == db.value || db.value == 1) {
        out[i] = da;
      } else if (da.value == 1) {
        out[i] = db;
      } else {
        return InvalidInput("{}: shapes {} and {} cannot be broadcast (dim {}: {} vs {})", node.Label(),
                            ShapeToString(a), ShapeToString(b), i, da.value, db.value);
      }
    } else if (da.known() && da.value == 1) {
      out[i] = db;
    } else if (db.known() && db.value == 1) {
      out[i] = da;
    } else if (!da.known() && !db.known() && da == db) {
      out[i] = da;
    } else if (da.known()) {
      out[i] = da;  // the other, unknown, must equal it (or be 1)
    } else if (db.known()) {
      out[i] = db;
    } else {
      out[i] = Dim::Unknown();
    }
  }
  return out;
}

Result<std::optional<Shape>> BroadcastInputs(const InferContext& ctx) {
  std::optional<Shape> out;
  for (const InputInfo& in : ctx.inputs) {
    if (!in.present) continue;
    if (!in.shape) return std::optional<Shape>();
    if (!out) {
      out = *in.shape;
    } else {
      SQ_ASSIGN_OR_RETURN(Shape s, BroadcastShapes(ctx.node, *out, *in.shape));
      out = std::move(s);
    }
  }
  return out;
}

Result<int64_t> NormalizeAxis(const Node& node, int64_t axis, int64_t rank, const char* what) {
  if (axis < -rank || axis >= rank)
    return InvalidInput("{}: {} {} is out of range for rank {}", node.Label(), what, axis, rank);
  return axis < 0 ? axis + rank : axis;
}

Status RequireInput(const InferContext& ctx, size_t i, const char* what) {
  if (!ctx.in(i).present) return InvalidInput("{}: input {} ({}) is missing", ctx.node.Label(), i, what);
  return Status::Ok();
}

Result<const Shape*> RequireShape(const InferContext& ctx, size_t i, const char* what) {
  SQ_RETURN_IF_ERROR(RequireInput(ctx, i, what));
  if (!ctx.in(i).shape) return Unsupported("{}: rank of input {} ({}) is unknown", ctx.node.Label(), i, what);
  return ctx.in(i).shape;
}

Result<const Tensor*> RequireValue(const InferContext& ctx, size_t i, const char* what) {
  SQ_RETURN_IF_ERROR(RequireInput(ctx, i, what));
  if (!ctx.in(i).value)
    return Unsupported("{}: input {} ({}) must be a constant or computable from constants",
                       ctx.node.Label(), i, what);
  return ctx.in(i).value;
}

std::vector<int64_t> Strides(const Dims& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  return s;
}

BroadcastIndexer::BroadcastIndexer(const Dims& in_dims, const Dims& out_dims) {
  const size_t rank = out_dims.size();
  Dims in_full(rank, 1);
  for (size_t i = 0; i < in_dims.size(); ++i) in_full[rank - in_dims.size() + i] = in_dims[i];
  identity_ = in_full == out_dims;
  out_strides_ = Strides(out_dims);
  std::vector<int64_t> in_s = Strides(in_full);
  in_strides_.resize(rank);
  for (size_t i = 0; i < rank; ++i) in_strides_[i] = in_full[i] == 1 ? 0 : in_s[i];
}

int64_t BroadcastIndexer::operator()(int64_t out_index) const {
  if (identity_) return out_index;
  int64_t in = 0;
  for (size_t i = 0; i < out_strides_.size(); ++i) {
    const int64_t c = out_index / out_strides_[i];
    out_index -= c * out_strides_[i];
    in += c * in_strides_[i];
  }
  return in;
}

}  // namespace squint::ir::eval
