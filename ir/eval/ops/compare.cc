// Comparisons (Equal, Less, Greater: numpy broadcasting, bool output), Not, and Where
// (3-way broadcast select, on bytes so any dtype works).
#include <cstring>
#include <functional>

#include "ir/eval/ops/data_util.h"

namespace squint::ir::eval {
namespace {

// ---- Equal / Less / Greater ----------------------------------------------------------

Result<std::vector<OutputType>> CompareInfer(const InferContext& ctx) {
  const Node& node = ctx.node;
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 0, "A"));
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 1, "B"));
  if (ctx.in(0).dtype != ctx.in(1).dtype)
    return InvalidInput("{}: inputs differ in type: {} vs {}", node.Label(), DTypeName(ctx.in(0).dtype),
                        DTypeName(ctx.in(1).dtype));
  if (ctx.in(0).dtype == DType::kBool && node.op != OpType::kEqual)
    return InvalidInput("{}: cannot order bool inputs", node.Label());
  SQ_ASSIGN_OR_RETURN(std::optional<Shape> shape, BroadcastInputs(ctx));
  return One(DType::kBool, std::move(shape));
}

template <typename T, typename Cmp>
void CompareLoop(const Tensor& a, const Tensor& b, Tensor& out, Cmp cmp) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  bool* po = out.data<bool>();
  const int64_t n = out.size();
  if (a.size() == n && b.size() == n) {
    for (int64_t i = 0; i < n; ++i) po[i] = cmp(pa[i], pb[i]);
  } else if (b.size() == 1 && a.size() == n) {
    const T v = pb[0];
    for (int64_t i = 0; i < n; ++i) po[i] = cmp(pa[i], v);
  } else if (a.size() == 1 && b.size() == n) {
    const T v = pa[0];
    for (int64_t i = 0; i < n; ++i) po[i] = cmp(v, pb[i]);
  } else {
    const BroadcastIndexer ia(a.dims(), out.dims()), ib(b.dims(), out.dims());
    for (int64_t i = 0; i < n; ++i) po[i] = cmp(pa[ia(i)], pb[ib(i)]);
  }
}

template <template <typename> class Cmp>
Status CompareKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& a = *inputs[0];
  const Tensor& b = *inputs[1];
  return VisitDType(node, a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    CompareLoop<T>(a, b, outputs[0], Cmp<T>{});
    return Status::Ok();
  });
}

// ---- Not -----------------------------------------------------------------------------

Result<std::vector<OutputType>> NotInfer(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 0, "X"));
  if (ctx.in(0).dtype != DType::kBool)
    return InvalidInput("{}: input must be bool, got {}", ctx.node.Label(), DTypeName(ctx.in(0).dtype));
  return std::vector<OutputType>{SameAsInput(ctx, 0)};
}

Status NotKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const bool* in = inputs[0]->data<bool>();
  bool* out = outputs[0].data<bool>();
  for (int64_t i = 0; i < outputs[0].size(); ++i) out[i] = !in[i];
  return Status::Ok();
}

// ---- Where ---------------------------------------------------------------------------

Result<std::vector<OutputType>> WhereInfer(const InferContext& ctx) {
  const Node& node = ctx.node;
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 0, "condition"));
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 1, "X"));
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 2, "Y"));
  if (ctx.in(0).dtype != DType::kBool)
    return InvalidInput("{}: condition must be bool, got {}", node.Label(), DTypeName(ctx.in(0).dtype));
  if (ctx.in(1).dtype != ctx.in(2).dtype)
    return InvalidInput("{}: X and Y differ in type: {} vs {}", node.Label(), DTypeName(ctx.in(1).dtype),
                        DTypeName(ctx.in(2).dtype));
  SQ_ASSIGN_OR_RETURN(std::optional<Shape> shape, BroadcastInputs(ctx));
  return One(ctx.in(1).dtype, std::move(shape));
}

template <typename T>
void WhereLoop(const Tensor& c, const Tensor& x, const Tensor& y, Tensor& out) {
  const bool* pc = c.data<bool>();
  const T* px = x.data<T>();
  const T* py = y.data<T>();
  T* po = out.data<T>();
  const int64_t n = out.size();
  const BroadcastIndexer ic(c.dims(), out.dims()), ix(x.dims(), out.dims()), iy(y.dims(), out.dims());
  if (ic.identity() && ix.identity() && iy.identity()) {
    for (int64_t i = 0; i < n; ++i) po[i] = pc[i] ? px[i] : py[i];
    return;
  }
  for (int64_t i = 0; i < n; ++i) po[i] = pc[ic(i)] ? px[ix(i)] : py[iy(i)];
}

Status WhereKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& c = *inputs[0];
  const Tensor& x = *inputs[1];
  const Tensor& y = *inputs[2];
  Tensor& out = outputs[0];
  switch (DTypeSize(out.dtype())) {
    case 1: WhereLoop<uint8_t>(c, x, y, out); break;
    case 2: WhereLoop<uint16_t>(c, x, y, out); break;
    case 4: WhereLoop<uint32_t>(c, x, y, out); break;
    case 8: WhereLoop<uint64_t>(c, x, y, out); break;
    default: return Internal("{}: unexpected element size {}", node.Label(), DTypeSize(out.dtype()));
  }
  return Status::Ok();
}

}  // namespace

extern const OpDef kDefEqual{CompareInfer, CompareKernel<std::equal_to>};
extern const OpDef kDefLess{CompareInfer, CompareKernel<std::less>};
extern const OpDef kDefGreater{CompareInfer, CompareKernel<std::greater>};
extern const OpDef kDefNot{NotInfer, NotKernel};
extern const OpDef kDefWhere{WhereInfer, WhereKernel};

}  // namespace squint::ir::eval
