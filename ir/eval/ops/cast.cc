// Cast between every pair of ir dtypes, following ONNX / numpy:
//   to bool: x != 0 (NaN is true); from bool: 0 or 1;
//   float -> integer: truncation toward zero. Out of range values and NaN are undefined in
//     ONNX; squint does what numpy and ONNX Runtime do on x86: targets up to 32 bits convert
//     through int32 (then wrap, e.g. -62.5 -> uint8 194), NaN and values outside int32 give
//     INT32_MIN before the wrap (0 for 8/16-bit targets); int64 targets give INT64_MIN;
//   integer -> narrower integer: two's-complement wrap-around, as numpy;
//   anything -> float: nearest representable value.
#include <cmath>
#include <limits>
#include <type_traits>

#include "ir/eval/ops/data_util.h"

namespace squint::ir::eval {
namespace {

template <typename To, typename From>
To Convert(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    const double t = std::trunc(static_cast<double>(v));
    if constexpr (sizeof(To) == 8) {
      // [-2^63, 2^63) converts exactly; NaN and the rest give the x86 "indefinite" INT64_MIN.
      if (!(t >= -0x1p63 && t < 0x1p63)) return static_cast<To>(std::numeric_limits<int64_t>::min());
      return static_cast<To>(static_cast<int64_t>(t));
    } else {
      if (!(t >= -0x1p31 && t < 0x1p31)) return static_cast<To>(std::numeric_limits<int32_t>::min());
      return static_cast<To>(static_cast<int32_t>(t));
    }
  } else {
    return static_cast<To>(v);
  }
}

Result<DType> TargetType(const Node& node) {
  if (!node.attrs.has("to")) return InvalidInput("{}: attribute 'to' is missing", node.Label());
  const int64_t to = node.attrs.GetInt("to", 0);
  const DType d = DTypeFromOnnx(static_cast<int>(to));
  if (d == DType::kUndefined)
    return Unsupported("{}: cast to ONNX type {} is not supported (squint handles float32, float64, int8-64, uint8, "
                       "bool)",
                       node.Label(), to);
  return d;
}

Result<std::vector<OutputType>> CastInfer(const InferContext& ctx) {
  SQ_RETURN_IF_ERROR(RequireInput(ctx, 0, "input"));
  SQ_ASSIGN_OR_RETURN(DType to, TargetType(ctx.node));
  OutputType out = SameAsInput(ctx, 0);
  out.dtype = to;
  return std::vector<OutputType>{out};
}

Status CastKernel(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
  const Tensor& in = *inputs[0];
  Tensor& out = outputs[0];
  return VisitDType(node, in.dtype(), [&](auto from_tag) {
    using From = typename decltype(from_tag)::type;
    return VisitDType(node, out.dtype(), [&](auto to_tag) {
      using To = typename decltype(to_tag)::type;
      const From* src = in.data<From>();
      To* dst = out.data<To>();
      for (int64_t i = 0; i < in.size(); ++i) dst[i] = Convert<To>(src[i]);
      return Status::Ok();
    });
  });
}

}  // namespace

extern const OpDef kDefCast{CastInfer, CastKernel};

}  // namespace squint::ir::eval
