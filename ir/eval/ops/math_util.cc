#include "ir/eval/ops/math_util.h"

namespace squint::ir::eval {

std::string TypeSetNames(unsigned set) {
  std::string s;
  auto add = [&](const char* n) { s += s.empty() ? n : std::string(", ") + n; };
  if (set & kFloatTypes) add("float32, float64");
  if (set & kWideIntTypes) add("int32, int64");
  if (set & kNarrowIntTypes) add("int8, uint8, int16");
  return s;
}

Status RequireDType(const InferContext& ctx, size_t i, const char* what, unsigned set) {
  SQ_RETURN_IF_ERROR(RequireInput(ctx, i, what));
  const DType d = ctx.in(i).dtype;
  if (!InTypeSet(d, set))
    return InvalidInput("{}: input {} ({}) has dtype {}, expected one of {}", ctx.node.Label(), i, what,
                        DTypeName(d), TypeSetNames(set));
  return Status::Ok();
}

Status RequireSameDType(const InferContext& ctx, size_t i, const char* what) {
  if (!ctx.in(i).present) return Status::Ok();
  if (ctx.in(i).dtype != ctx.in(0).dtype)
    return InvalidInput("{}: input {} ({}) has dtype {}, expected {} like input 0", ctx.node.Label(), i, what,
                        DTypeName(ctx.in(i).dtype), DTypeName(ctx.in(0).dtype));
  return Status::Ok();
}

Status KernelDTypeError(const Node& node, DType d) {
  return InvalidInput("{}: dtype {} is not supported", node.Label(), DTypeName(d));
}

Status CheckInputCount(const InferContext& ctx, size_t min_in, size_t max_in) {
  const size_t n = ctx.inputs.size();
  if (n < min_in || n > max_in) {
    if (min_in == max_in)
      return InvalidInput("{}: has {} inputs, expected {}", ctx.node.Label(), n, min_in);
    return InvalidInput("{}: has {} inputs, expected {} to {}", ctx.node.Label(), n, min_in, max_in);
  }
  return Status::Ok();
}

}  // namespace squint::ir::eval
