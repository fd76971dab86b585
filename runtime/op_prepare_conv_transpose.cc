// Prepare of CONV_TRANSPOSE_2D: every precondition of kernels.h ConvTranspose2D, checked against
// the loaded model before the kernel runs (schema: Conv2DOptions, weight stored as CONV_2D's).
#include "runtime/op_prepare_util.h"

namespace squint::rt::prep {
namespace {

template <typename T>
void RunConvTranspose(const PreparedOp& op, const void* const* in, void* const* out) {
  ref::ConvTranspose2D<T>(Get<ref::Conv2DParams>(op), static_cast<const T*>(in[0]),
                          static_cast<const int8_t*>(in[1]), static_cast<const int32_t*>(in[2]),
                          static_cast<T*>(out[0]));
}

}  // namespace

Status PrepareConvTranspose(const Ctx& ctx, PreparePools* pools, PreparedOp* out) {
  ref::Conv2DParams p;
  int32_t pads[4] = {};
  int64_t max_abs_bias = 0;
  // End pads may be negative (output_padding, output_shape); begin pads are checked below.
  SQUINT_RT_RETURN_IF_ERROR(PrepareConvCommon(ctx, std::numeric_limits<int32_t>::min(), &p, pads, &max_abs_bias));
  const auto* o = ctx.op->options_as_Conv2DOptions();
  const TensorDesc &x = *ctx.In(0), &w = *ctx.In(1), &y = ctx.Out(0);
  OP_CHECK(w.is_constant && w.type == ElementType::INT8 && w.group_size == 0,
           "weight must be a constant int8 tensor without group scales (is %s%s)", ElementTypeName(w.type),
           w.group_size ? ", group-scaled" : "");
  OP_CHECK(o->group_multiplier() == nullptr || o->group_multiplier()->size() == 0,
           "group_multiplier has %u values; CONV_TRANSPOSE_2D takes no group scales", o->group_multiplier()->size());
  OP_CHECK(pads[0] >= 0 && pads[1] >= 0, "pads top %d and left %d, expected >= 0", pads[0], pads[1]);
  OP_CHECK(p.in_h >= 1 && p.in_w >= 1, "input plane %dx%d is empty", p.in_h, p.in_w);
  // out = stride·(in − 1) + (k − 1)·dilation + 1 − begin − end, in int64 (int32 fields cannot overflow it).
  auto transposed = [](int64_t in, int64_t k, int64_t s, int64_t d, int64_t begin, int64_t end) {
    return s * (in - 1) + (k - 1) * d + 1 - begin - end;
  };
  const int64_t oh = transposed(p.in_h, p.kernel_h, p.stride_h, p.dilation_h, pads[0], pads[2]);
  const int64_t ow = transposed(p.in_w, p.kernel_w, p.stride_w, p.dilation_w, pads[1], pads[3]);
  OP_CHECK(y.dims[0] == p.batch && y.dims[1] == p.out_channels && y.dims[2] == oh && y.dims[3] == ow,
           "output is [%d, %d, %d, %d], expected [%d, %d, %lld, %lld] from stride/pad/dilation", y.dims[0], y.dims[1],
           y.dims[2], y.dims[3], p.batch, p.out_channels, static_cast<long long>(oh), static_cast<long long>(ow));
  p.out_h = y.dims[2];
  p.out_w = y.dims[3];
  // At most (C_in/groups)·kH·kW products reach one output position.
  const int64_t depth = static_cast<int64_t>(w.dims[1]) * p.kernel_h * p.kernel_w;
  SQUINT_RT_RETURN_IF_ERROR(CheckConvAccumulator(ctx, x.type, x.zero_point, depth, max_abs_bias));
  SQUINT_RT_RETURN_IF_ERROR(Requant(ctx, o->requant(), p.out_channels, y, "output", &p.requant));
  out->params = p;
  out->run = x.type == ElementType::INT8 ? &RunConvTranspose<int8_t> : &RunConvTranspose<int16_t>;
  if (x.type == ElementType::INT8) PrepareFastConvTranspose(p, w, ctx.In(2), pads[2] >= 0 && pads[3] >= 0, pools, out);
  return Status::Ok();
}

}  // namespace squint::rt::prep
