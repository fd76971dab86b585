// Prepare of the compute ops: every precondition documented in runtime/kernels/reference/kernels.h
// is checked here, against the loaded (already structurally verified) model, before any kernel runs.
#include <algorithm>
#include <cstring>

#include "runtime/op_prepare_util.h"

namespace squint::rt::prep {
namespace {

// ---- Run functions (chosen once in prepare) ---------------------------------------------

template <typename T>
void RunConv(const PreparedOp& op, const void* const* in, void* const* out) {
  ref::Conv2D<T>(Get<ref::Conv2DParams>(op), static_cast<const T*>(in[0]), static_cast<const int8_t*>(in[1]),
                 static_cast<const int32_t*>(in[2]), static_cast<T*>(out[0]));
}
template <typename T>
void RunFc(const PreparedOp& op, const void* const* in, void* const* out) {
  ref::FullyConnected<T>(Get<ref::FullyConnectedParams>(op), static_cast<const T*>(in[0]),
                         static_cast<const int8_t*>(in[1]), static_cast<const int32_t*>(in[2]),
                         static_cast<T*>(out[0]));
}
void RunConvInt4(const PreparedOp& op, const void* const* in, void* const* out) {
  ref::Conv2DInt4(Get<ref::Conv2DParams>(op), static_cast<const int8_t*>(in[0]), static_cast<const uint8_t*>(in[1]),
                  static_cast<const int32_t*>(in[2]), static_cast<int8_t*>(out[0]));
}
void RunConvGroupScaled(const PreparedOp& op, const void* const* in, void* const* out) {
  ref::Conv2DGroupScaled(Get<ref::Conv2DGroupScaledParams>(op), static_cast<const int8_t*>(in[0]),
                         static_cast<const uint8_t*>(in[1]), static_cast<const int32_t*>(in[2]),
                         static_cast<int8_t*>(out[0]));
}
template <typename T>
void RunFcLowBit(const PreparedOp& op, const void* const* in, void* const* out) {
  ref::FullyConnectedLowBit<T>(Get<ref::FullyConnectedLowBitParams>(op), static_cast<const T*>(in[0]),
                               static_cast<const uint8_t*>(in[1]), static_cast<const int32_t*>(in[2]),
                               static_cast<T*>(out[0]));
}
template <typename T>
void RunBatchMatMul(const PreparedOp& op, const void* const* in, void* const* out) {
  ref::BatchMatMul<T>(Get<ref::BatchMatMulParams>(op), static_cast<const T*>(in[0]),
                      static_cast<const T*>(in[1]), static_cast<T*>(out[0]));
}
template <typename T, int kKind>
void RunElementwise(const PreparedOp& op, const void* const* in, void* const* out) {
  const ElementwiseState& s = Get<ElementwiseState>(op);
  const T* a = static_cast<const T*>(in[0]);
  const T* b = static_cast<const T*>(in[1]);
  T* y = static_cast<T*>(out[0]);
  if (kKind == 0) ref::Add<T>(s.p, s.shape, a, b, y);
  else if (kKind == 1) ref::Sub<T>(s.p, s.shape, a, b, y);
  else ref::Mul<T>(s.p, s.shape, a, b, y);
}
template <typename TIn, typename TOut>
void RunSoftmax(const PreparedOp& op, const void* const* in, void* const* out) {
  ref::Softmax<TIn, TOut>(Get<ref::SoftmaxParams>(op), static_cast<const TIn*>(in[0]), static_cast<TOut*>(out[0]));
}
// With a mask computed at run time (input 1, int32, nonzero = keep).
template <typename TIn, typename TOut>
void RunSoftmaxMasked(const PreparedOp& op, const void* const* in, void* const* out) {
  ref::SoftmaxParams p = Get<ref::SoftmaxParams>(op);
  p.mask32 = static_cast<const int32_t*>(in[1]);
  ref::Softmax<TIn, TOut>(p, static_cast<const TIn*>(in[0]), static_cast<TOut*>(out[0]));
}
template <typename T>
void RunLayerNorm(const PreparedOp& op, const void* const* in, void* const* out) {
  ref::LayerNorm<T>(Get<ref::LayerNormParams>(op), static_cast<const T*>(in[0]), static_cast<T*>(out[0]));
}
template <typename TIn, typename TOut>
void RunLut(const PreparedOp& op, const void* const* in, void* const* out) {
  const LutState& s = Get<LutState>(op);
  ref::Lut<TIn, TOut>(s.count, static_cast<const TIn*>(in[0]), s.table, s.table_size, s.min_code,
                      static_cast<TOut*>(out[0]));
}
template <typename T, bool kMax>
void RunPool(const PreparedOp& op, const void* const* in, void* const* out) {
  if (kMax) ref::MaxPool2D<T>(Get<ref::Pool2DParams>(op), static_cast<const T*>(in[0]), static_cast<T*>(out[0]));
  else ref::AveragePool2D<T>(Get<ref::Pool2DParams>(op), static_cast<const T*>(in[0]), static_cast<T*>(out[0]));
}
template <typename TIn>
void RunHadamard(const PreparedOp& op, const void* const* in, void* const* out) {
  ref::Hadamard<TIn>(Get<HadamardState>(op).p, static_cast<const TIn*>(in[0]), static_cast<int8_t*>(out[0]));
}
// Picks Fn<int8_t> / Fn<int16_t> (and uint8/int32 where listed) by element type.
#define PICK_8_16(Fn, type) ((type) == ElementType::INT8 ? &Fn<int8_t> : &Fn<int16_t>)
}  // namespace

// ---- Per-op checks and parameter conversion ----------------------------------------------

// The group path of a group-scaled weight w (FULLY_CONNECTED with int8 or int16 activations, or
// CONV_2D with int8): `units`·G multipliers in [0, 2^B] and the kernels.h accumulator bounds. The
// loader checked that w.group_size divides `depth` and the scale count; `m` is the op's
// group_multiplier.
static Status CheckGroupScaled(const Ctx& ctx, const TensorDesc& w, const flatbuffers::Vector<uint16_t>* m,
                               int64_t units, int64_t depth, int32_t input_zero_point, int64_t max_abs_bias,
                               bool int16_input = false) {
  const int64_t groups = depth / w.group_size;
  OP_CHECK(m != nullptr && static_cast<int64_t>(m->size()) == units * groups,
           "weight '%s' has group_size %d: group_multiplier needs %lld values (%lld units x %lld groups), has %u",
           w.name, w.group_size, static_cast<long long>(units * groups), static_cast<long long>(units),
           static_cast<long long>(groups), m ? m->size() : 0u);
  for (uint32_t i = 0; i < m->size(); ++i)
    OP_CHECK(m->Get(i) <= (1 << ref::kGroupScaleBits), "group_multiplier[%u] = %d, expected in [0, 2^%d]", i,
             m->Get(i), ref::kGroupScaleBits);
  OP_CHECK(int16_input || ref::Int8DotFitsInt32(w.group_size, input_zero_point, 0),
           "int32 group sum may overflow: group_size %d, input zero point %d", w.group_size, input_zero_point);
  OP_CHECK(ref::GroupedDotFitsInt64(depth, input_zero_point, max_abs_bias, w.type == ElementType::INT4 ? 8 : 128,
                                    int16_input),
           "int64 accumulator may exceed 2^62: depth %lld, input zero point %d, max |bias| %lld",
           static_cast<long long>(depth), input_zero_point, static_cast<long long>(max_abs_bias));
  return Status::Ok();
}

// A group_multiplier vector on an op whose weight has no group scales is a malformed file.
static Status NoStrayMultipliers(const Ctx& ctx, const TensorDesc& w, const flatbuffers::Vector<uint16_t>* m) {
  OP_CHECK(w.group_size > 0 || m == nullptr || m->size() == 0,
           "group_multiplier has %u values but weight '%s' has no group scales", m ? m->size() : 0u, w.name);
  return Status::Ok();
}

// The checks CONV_2D and CONV_TRANSPOSE_2D share (both read Conv2DOptions and a weight
// [C_out, C_in/groups, kH, kW]): arity, options, types and ranks, channels and groups, stride,
// dilation and pads (each >= 1, >= 1 and >= min_pad), the bias and symmetric weights. Fills p
// except out_h/out_w, the four pads and max |bias|; the caller checks the weight type and the
// output dims.
Status PrepareConvCommon(const Ctx& ctx, int32_t min_pad, ref::Conv2DParams* p, int32_t pads[4],
                         int64_t* max_abs_bias) {
  SQUINT_RT_RETURN_IF_ERROR(Arity(ctx, 2, 3, 1, 1));
  SQUINT_RT_RETURN_IF_ERROR(Options(ctx, fb::OpOptions::Conv2DOptions));
  const auto* o = ctx.op->options_as_Conv2DOptions();
  const TensorDesc &x = *ctx.In(0), &w = *ctx.In(1), &y = ctx.Out(0);
  const TensorDesc* bias = ctx.In(2);
  OP_CHECK(Is8or16(x.type) && y.type == x.type, "input %s / output %s, expected int8 or int16, equal",
           ElementTypeName(x.type), ElementTypeName(y.type));
  SQUINT_RT_RETURN_IF_ERROR(PerTensor(ctx, x, "input"));
  OP_CHECK(x.rank == 4 && y.rank == 4, "input has %d dims and output %d, expected 4 (NCHW)", x.rank, y.rank);
  OP_CHECK(w.rank == 4, "weight has %d dims, expected 4", w.rank);
  p->groups = o->groups();
  OP_CHECK(p->groups >= 1, "groups = %d, expected >= 1", p->groups);
  p->batch = x.dims[0];
  p->in_channels = x.dims[1];
  p->in_h = x.dims[2];
  p->in_w = x.dims[3];
  p->out_channels = w.dims[0];
  p->kernel_h = w.dims[2];
  p->kernel_w = w.dims[3];
  OP_CHECK(p->in_channels % p->groups == 0 && p->out_channels % p->groups == 0,
           "groups %d does not divide input channels %d and output channels %d", p->groups, p->in_channels,
           p->out_channels);
  OP_CHECK(static_cast<int64_t>(w.dims[1]) * p->groups == p->in_channels,
           "weight has %d input channels per group, expected %d / %d groups", w.dims[1], p->in_channels, p->groups);
  OP_CHECK(p->kernel_h >= 1 && p->kernel_w >= 1, "kernel %dx%d is empty", p->kernel_h, p->kernel_w);
  int32_t stride[2] = {1, 1}, dilation[2] = {1, 1};
  SQUINT_RT_RETURN_IF_ERROR(IntVector(ctx, o->stride(), 2, 1, 1, "stride", stride));
  SQUINT_RT_RETURN_IF_ERROR(IntVector(ctx, o->dilation(), 2, 1, 1, "dilation", dilation));
  SQUINT_RT_RETURN_IF_ERROR(IntVector(ctx, o->pads(), 4, 0, min_pad, "pads", pads));
  p->stride_h = stride[0];
  p->stride_w = stride[1];
  p->dilation_h = dilation[0];
  p->dilation_w = dilation[1];
  p->pad_top = pads[0];
  p->pad_left = pads[1];
  *max_abs_bias = 0;
  if (bias != nullptr) {
    OP_CHECK(bias->is_constant && bias->type == ElementType::INT32 && bias->num_elements == p->out_channels,
             "bias must be a constant int32 tensor of %d values", p->out_channels);
    const int32_t* b = reinterpret_cast<const int32_t*>(bias->data);
    for (int64_t i = 0; i < bias->num_elements; ++i) *max_abs_bias = std::max<int64_t>(*max_abs_bias, std::llabs(b[i]));
  }
  if (w.quant != nullptr && w.quant->zero_point() != nullptr)
    for (uint32_t i = 0; i < w.quant->zero_point()->size(); ++i)
      OP_CHECK(w.quant->zero_point()->Get(i) == 0, "weight zero point %d, weights must be symmetric",
               w.quant->zero_point()->Get(i));
  p->input_zero_point = x.zero_point;
  return Status::Ok();
}

// The int8 accumulator bound of kernels.h (Int8DotFitsInt32), or depth <= 2^24 for int16.
Status CheckConvAccumulator(const Ctx& ctx, ElementType x_type, int32_t input_zero_point, int64_t depth,
                            int64_t max_abs_bias) {
  if (x_type == ElementType::INT8)
    OP_CHECK(ref::Int8DotFitsInt32(depth, input_zero_point, max_abs_bias),
             "int32 accumulator may overflow: reduction depth %lld, input zero point %d, max |bias| %lld",
             static_cast<long long>(depth), input_zero_point, static_cast<long long>(max_abs_bias));
  else
    OP_CHECK(depth <= (int64_t{1} << 24), "reduction depth %lld exceeds 2^24 for int16", static_cast<long long>(depth));
  return Status::Ok();
}

Status PrepareConv(const Ctx& ctx, PreparePools* pools, PreparedOp* out) {
  ref::Conv2DParams p;
  int32_t pads[4] = {};
  int64_t max_abs_bias = 0;
  SQUINT_RT_RETURN_IF_ERROR(PrepareConvCommon(ctx, 0, &p, pads, &max_abs_bias));
  const auto* o = ctx.op->options_as_Conv2DOptions();
  const TensorDesc &x = *ctx.In(0), &w = *ctx.In(1), &y = ctx.Out(0);
  const TensorDesc* bias = ctx.In(2);
  OP_CHECK(w.is_constant && (w.type == ElementType::INT8 || w.type == ElementType::INT4),
           "weight must be a constant int8 or int4 tensor (is %s)", ElementTypeName(w.type));
  OP_CHECK((w.type != ElementType::INT4 && w.group_size == 0) || x.type == ElementType::INT8,
           "weight '%s' is %s; such weights need int8 activations, input is %s", w.name,
           w.type == ElementType::INT4 ? "int4" : "group-scaled", ElementTypeName(x.type));
  SQUINT_RT_RETURN_IF_ERROR(NoStrayMultipliers(ctx, w, o->group_multiplier()));
  const int64_t oh = WindowOutput(p.in_h, pads[0], pads[2], p.kernel_h, p.stride_h, p.dilation_h);
  const int64_t ow = WindowOutput(p.in_w, pads[1], pads[3], p.kernel_w, p.stride_w, p.dilation_w);
  OP_CHECK(y.dims[0] == p.batch && y.dims[1] == p.out_channels && y.dims[2] == oh && y.dims[3] == ow,
           "output is [%d, %d, %d, %d], expected [%d, %d, %lld, %lld] from stride/pad/dilation", y.dims[0], y.dims[1],
           y.dims[2], y.dims[3], p.batch, p.out_channels, static_cast<long long>(oh), static_cast<long long>(ow));
  p.out_h = y.dims[2];
  p.out_w = y.dims[3];
  const int64_t depth = static_cast<int64_t>(w.dims[1]) * p.kernel_h * p.kernel_w;
  if (w.group_size > 0) {
    SQUINT_RT_RETURN_IF_ERROR(
        CheckGroupScaled(ctx, w, o->group_multiplier(), p.out_channels, depth, x.zero_point, max_abs_bias));
    ref::Conv2DGroupScaledParams gp;
    SQUINT_RT_RETURN_IF_ERROR(Requant(ctx, o->requant(), p.out_channels, y, "output", &p.requant));
    gp.conv = p;
    gp.weight_int4 = w.type == ElementType::INT4;
    gp.group_size = w.group_size;
    gp.group_multiplier = o->group_multiplier()->data();
    out->params = gp;
    out->run = &RunConvGroupScaled;
    PrepareFastGroupScaledConv(gp, w, pools, out);  // groups = 1
    return Status::Ok();
  }
  SQUINT_RT_RETURN_IF_ERROR(CheckConvAccumulator(ctx, x.type, x.zero_point, depth, max_abs_bias));
  SQUINT_RT_RETURN_IF_ERROR(Requant(ctx, o->requant(), p.out_channels, y, "output", &p.requant));
  out->params = p;
  out->run = w.type == ElementType::INT4 ? &RunConvInt4 : PICK_8_16(RunConv, x.type);
  // groups = 1 (int8 or int4 weights), depthwise (int8)
  if (x.type == ElementType::INT8) PrepareFastConv(p, w, bias, pools, out);
  return Status::Ok();
}

// FULLY_CONNECTED with an int4 or group-scaled weight (int8 or int16 activations, checked by
// PrepareFc, which also filled p's shapes and input zero point).
static Status PrepareFcLowBit(const Ctx& ctx, const ref::FullyConnectedParams& fc, int64_t max_abs_bias,
                              PreparePools* pools, PreparedOp* out) {
  const bool int16_input = ctx.In(0)->type == ElementType::INT16;
  const auto* o = ctx.op->options_as_FullyConnectedOptions();
  const TensorDesc &w = *ctx.In(1), &y = ctx.Out(0);
  ref::FullyConnectedLowBitParams p;
  p.rows = fc.rows;
  p.depth = fc.depth;
  p.units = fc.units;
  p.input_zero_point = fc.input_zero_point;
  p.weight_int4 = w.type == ElementType::INT4;
  p.group_size = w.group_size;
  if (p.group_size == 0 && int16_input) {
    OP_CHECK(p.depth <= (1 << 24), "depth K = %d exceeds 2^24 for int16", p.depth);
  } else if (p.group_size == 0) {
    OP_CHECK(ref::Int8DotFitsInt32(p.depth, p.input_zero_point, max_abs_bias),
             "int32 accumulator may overflow: depth K = %d, input zero point %d, max |bias| %lld", p.depth,
             p.input_zero_point, static_cast<long long>(max_abs_bias));
  } else {
    SQUINT_RT_RETURN_IF_ERROR(CheckGroupScaled(ctx, w, o->group_multiplier(), p.units, p.depth, p.input_zero_point,
                                               max_abs_bias, int16_input));
    p.group_multiplier = o->group_multiplier()->data();
  }
  SQUINT_RT_RETURN_IF_ERROR(Requant(ctx, o->requant(), p.units, y, "output", &p.requant));
  out->params = p;
  out->run = int16_input ? &RunFcLowBit<int16_t> : &RunFcLowBit<int8_t>;
  if (!int16_input && p.group_size == 0) {  // int4 per channel: the int8 GEMM on the unpacked codes
    ref::FullyConnectedParams fast = fc;
    fast.requant = p.requant;
    PrepareFastFc(fast, w, ctx.In(2), pools, out);
  } else if (!int16_input) {
    PrepareFastGroupScaledFc(p, w, pools, out);
  } else if (p.group_size == 0) {  // int16 × int4 per channel: the int16 kernel on the unpacked codes
    ref::FullyConnectedParams fast = fc;
    fast.requant = p.requant;
    PrepareFastInt16Fc(fast, w, ctx.In(2), pools, out);
  }
  return Status::Ok();
}

Status PrepareFc(const Ctx& ctx, PreparePools* pools, PreparedOp* out) {
  SQUINT_RT_RETURN_IF_ERROR(Arity(ctx, 2, 3, 1, 1));
  SQUINT_RT_RETURN_IF_ERROR(Options(ctx, fb::OpOptions::FullyConnectedOptions));
  const auto* o = ctx.op->options_as_FullyConnectedOptions();
  const TensorDesc &x = *ctx.In(0), &w = *ctx.In(1), &y = ctx.Out(0);
  const TensorDesc* bias = ctx.In(2);
  OP_CHECK(Is8or16(x.type) && y.type == x.type, "input %s / output %s, expected int8 or int16, equal",
           ElementTypeName(x.type), ElementTypeName(y.type));
  SQUINT_RT_RETURN_IF_ERROR(PerTensor(ctx, x, "input"));
  const bool low_bit = w.type == ElementType::INT4 || w.group_size > 0;
  OP_CHECK(w.rank == 2 && w.is_constant && (w.type == ElementType::INT8 || w.type == ElementType::INT4),
           "weight must be a constant int8 or int4 [N, K] tensor (has %d dims, type %s)", w.rank,
           ElementTypeName(w.type));
  SQUINT_RT_RETURN_IF_ERROR(NoStrayMultipliers(ctx, w, o->group_multiplier()));
  OP_CHECK(x.rank >= 1 && y.rank == x.rank, "input has %d dims and output %d, expected equal and >= 1", x.rank,
           y.rank);
  ref::FullyConnectedParams p;
  p.groups = o->groups();
  p.depth = x.dims[x.rank - 1];
  p.units = w.dims[0];
  OP_CHECK(p.groups >= 1, "groups = %d, expected >= 1", p.groups);
  OP_CHECK(p.groups == 1 || !low_bit, "groups = %d with weight '%s' %s; grouped layers take int8 weights per channel",
           p.groups, w.name, w.type == ElementType::INT4 ? "int4" : "group-scaled");
  OP_CHECK(p.depth % p.groups == 0 && p.units % p.groups == 0,
           "groups = %d must divide input K = %d and weight N = %d", p.groups, p.depth, p.units);
  OP_CHECK(int64_t{w.dims[1]} * p.groups == p.depth, "input K = %d but weight K = %d (weight [N, K/groups], groups = %d)",
           p.depth, w.dims[1], p.groups);
  OP_CHECK(y.dims[y.rank - 1] == p.units, "output N = %d but weight N = %d", y.dims[y.rank - 1], p.units);
  for (int i = 0; i + 1 < x.rank; ++i)
    OP_CHECK(x.dims[i] == y.dims[i], "output dim %d is %d, expected %d", i, y.dims[i], x.dims[i]);
  int64_t rows = 1;
  for (int i = 0; i + 1 < x.rank && rows <= kInt32Max; ++i) rows *= x.dims[i];  // stops before int64 overflow
  OP_CHECK(rows <= kInt32Max, "%lld rows exceed the int32 limit", static_cast<long long>(rows));
  p.rows = static_cast<int32_t>(rows);
  int64_t max_abs_bias = 0;
  if (bias != nullptr) {
    OP_CHECK(bias->is_constant && bias->type == ElementType::INT32 && bias->num_elements == p.units,
             "bias must be a constant int32 tensor of %d values", p.units);
    const int32_t* b = reinterpret_cast<const int32_t*>(bias->data);
    for (int64_t i = 0; i < bias->num_elements; ++i) max_abs_bias = std::max<int64_t>(max_abs_bias, std::llabs(b[i]));
  }
  if (w.quant != nullptr && w.quant->zero_point() != nullptr)
    for (uint32_t i = 0; i < w.quant->zero_point()->size(); ++i)
      OP_CHECK(w.quant->zero_point()->Get(i) == 0, "weight zero point %d, weights must be symmetric",
               w.quant->zero_point()->Get(i));
  p.input_zero_point = x.zero_point;
  if (low_bit) return PrepareFcLowBit(ctx, p, max_abs_bias, pools, out);
  const int32_t group_depth = p.depth / p.groups;
  if (x.type == ElementType::INT8)
    OP_CHECK(ref::Int8DotFitsInt32(group_depth, x.zero_point, max_abs_bias),
             "int32 accumulator may overflow: depth K/groups = %d, input zero point %d, max |bias| %lld", group_depth,
             x.zero_point, static_cast<long long>(max_abs_bias));
  else
    OP_CHECK(group_depth <= (1 << 24), "depth K/groups = %d exceeds 2^24 for int16", group_depth);
  SQUINT_RT_RETURN_IF_ERROR(Requant(ctx, o->requant(), p.units, y, "output", &p.requant));
  out->params = p;
  out->run = PICK_8_16(RunFc, x.type);
  if (x.type == ElementType::INT8)
    PrepareFastFc(p, w, bias, pools, out);  // keeps the reference kernel when the ISA has none
  else if (p.groups == 1)
    PrepareFastInt16Fc(p, w, bias, pools, out);
  return Status::Ok();
}

Status PrepareBatchMatMul(const Ctx& ctx, PreparePools* pools, PreparedOp* out) {
  SQUINT_RT_RETURN_IF_ERROR(Arity(ctx, 2, 2, 1, 1));
  SQUINT_RT_RETURN_IF_ERROR(Options(ctx, fb::OpOptions::BatchMatMulOptions));
  const TensorDesc &a = *ctx.In(0), &b = *ctx.In(1), &y = ctx.Out(0);
  OP_CHECK(Is8or16(a.type) && b.type == a.type && y.type == a.type, "inputs %s, %s / output %s: expected one of int8, int16",
           ElementTypeName(a.type), ElementTypeName(b.type), ElementTypeName(y.type));
  SQUINT_RT_RETURN_IF_ERROR(PerTensor(ctx, a, "input a"));
  SQUINT_RT_RETURN_IF_ERROR(PerTensor(ctx, b, "input b"));
  OP_CHECK(a.rank >= 2 && b.rank >= 2, "inputs have %d and %d dims, expected >= 2", a.rank, b.rank);
  ref::BatchMatMulParams p;
  p.m = a.dims[a.rank - 2];
  p.k = a.dims[a.rank - 1];
  p.n = b.dims[b.rank - 1];
  OP_CHECK(b.dims[b.rank - 2] == p.k, "a is [.., %d, %d] but b is [.., %d, %d]: K differs", p.m, p.k,
           b.dims[b.rank - 2], p.n);
  const int32_t batch_rank = std::max(a.rank, b.rank) - 2;
  OP_CHECK(batch_rank <= 4, "%d batch dims, at most 4 supported", batch_rank);
  OP_CHECK(y.rank == batch_rank + 2 && y.dims[y.rank - 2] == p.m && y.dims[y.rank - 1] == p.n,
           "output shape does not match [.., %d, %d]", p.m, p.n);
  p.batch_rank = batch_rank;
  int64_t a_stride = 1, b_stride = 1;
  for (int32_t i = batch_rank - 1; i >= 0; --i) {
    const int32_t ai = i - (batch_rank - (a.rank - 2)), bi = i - (batch_rank - (b.rank - 2));
    const int32_t ad = ai >= 0 ? a.dims[ai] : 1, bd = bi >= 0 ? b.dims[bi] : 1;
    OP_CHECK(ad == bd || ad == 1 || bd == 1, "batch dims %d and %d do not broadcast", ad, bd);
    const int32_t od = ad == 1 ? bd : ad;
    OP_CHECK(y.dims[i] == od, "output batch dim %d is %d, expected %d", i, y.dims[i], od);
    p.batch_dims[i] = od;
    p.a_batch_strides[i] = ad == 1 ? 0 : static_cast<int32_t>(a_stride);
    p.b_batch_strides[i] = bd == 1 ? 0 : static_cast<int32_t>(b_stride);
    a_stride *= ad;
    b_stride *= bd;
  }
  p.a_zero_point = a.zero_point;
  p.b_zero_point = b.zero_point;
  if (a.log_grid != nullptr) {
    // Log-grid form (kernels.h): k·max|b̃|·(2^(R + 15)·(1 + √2) + eta_q) must stay below 2^62.
    p.a_grid = &a.grid;
    OP_CHECK(a.type == ElementType::INT8 && b.type == ElementType::INT8, "log-grid P·V needs int8 operands");
    const double bound = static_cast<double>(p.k) * 255.0 *
                         (std::ldexp(2.5, a.grid.max_shift + 15) + static_cast<double>(a.grid.eta_q));
    OP_CHECK(bound < 0x1p62, "log-grid P·V: K = %d with max shift %d and eta_q %lld may overflow int64", p.k,
             a.grid.max_shift, static_cast<long long>(a.grid.eta_q));
  } else if (a.type == ElementType::INT8)
    OP_CHECK(ref::Int8MatMulFitsInt32(p.k, a.zero_point, b.zero_point),
             "int32 accumulator may overflow: K = %d with zero points %d, %d", p.k, a.zero_point, b.zero_point);
  else
    OP_CHECK(p.k <= (1 << 28), "K = %d exceeds 2^28 for int16", p.k);
  SQUINT_RT_RETURN_IF_ERROR(Requant(ctx, ctx.op->options_as_BatchMatMulOptions()->requant(), 1, y, "output", &p.requant));
  out->params = p;
  out->run = PICK_8_16(RunBatchMatMul, a.type);
  if (a.type == ElementType::INT8 && p.a_grid != nullptr) PrepareFastLogGridMatMul(p, pools, out);
  else if (a.type == ElementType::INT8) PrepareFastBatchMatMul(p, pools, out);  // keeps the reference when no kernel
  return Status::Ok();
}

Status PrepareElementwise(const Ctx& ctx, fb::OpCode code, PreparePools* pools, PreparedOp* out) {
  SQUINT_RT_RETURN_IF_ERROR(Arity(ctx, 2, 2, 1, 1));
  SQUINT_RT_RETURN_IF_ERROR(Options(ctx, fb::OpOptions::ElementwiseOptions));
  const auto* o = ctx.op->options_as_ElementwiseOptions();
  const TensorDesc &a = *ctx.In(0), &b = *ctx.In(1), &y = ctx.Out(0);
  OP_CHECK(Is8or16(a.type) && b.type == a.type && y.type == a.type,
           "inputs %s, %s / output %s: expected all int8 or all int16", ElementTypeName(a.type),
           ElementTypeName(b.type), ElementTypeName(y.type));
  SQUINT_RT_RETURN_IF_ERROR(PerTensor(ctx, a, "input a"));
  SQUINT_RT_RETURN_IF_ERROR(PerTensor(ctx, b, "input b"));
  ElementwiseState s;
  OP_CHECK(ref::ComputeBroadcast(a.dims, a.rank, b.dims, b.rank, &s.shape), "input shapes do not broadcast");
  bool same = s.shape.rank == y.rank;
  for (int i = 0; same && i < y.rank; ++i) same = s.shape.out_dims[i] == y.dims[i];
  OP_CHECK(same, "output shape differs from the broadcast of the inputs");
  s.p.a_zero_point = a.zero_point;
  s.p.b_zero_point = b.zero_point;
  if (code != fb::OpCode::MUL) {
    s.p.left_shift = o->left_shift();
    const int32_t max_shift = a.type == ElementType::INT8 ? 22 : 15;
    OP_CHECK(s.p.left_shift >= 0 && s.p.left_shift <= max_shift, "left_shift = %d, expected in [0, %d] for %s",
             s.p.left_shift, max_shift, ElementTypeName(a.type));
    ref::RescaleParams ra, rb;
    SQUINT_RT_RETURN_IF_ERROR(Rescale(ctx, o->input1(), a, y, "input1", &ra));
    SQUINT_RT_RETURN_IF_ERROR(Rescale(ctx, o->input2(), b, y, "input2", &rb));
    s.p.a_multiplier = ra.multiplier;
    s.p.a_shift = ra.shift;
    s.p.b_multiplier = rb.multiplier;
    s.p.b_shift = rb.shift;
  }
  SQUINT_RT_RETURN_IF_ERROR(Requant(ctx, o->output(), 1, y, "output", &s.p.output));
  out->params = s;
  if (code == fb::OpCode::ADD) {
    out->run = a.type == ElementType::INT8 ? &RunElementwise<int8_t, 0> : &RunElementwise<int16_t, 0>;
  } else if (code == fb::OpCode::SUB) {
    out->run = a.type == ElementType::INT8 ? &RunElementwise<int8_t, 1> : &RunElementwise<int16_t, 1>;
  } else {
    out->run = a.type == ElementType::INT8 ? &RunElementwise<int8_t, 2> : &RunElementwise<int16_t, 2>;
  }
  if (a.type == ElementType::INT8) PrepareFastElementwise(code, s, y.num_elements, pools, out);
  else if (code != fb::OpCode::MUL) PrepareFastAddSub16(code == fb::OpCode::ADD ? 1 : -1, pools, out);
  return Status::Ok();
}

Status PrepareSoftmax(const Ctx& ctx, PreparePools* pools, PreparedOp* out) {
  SQUINT_RT_RETURN_IF_ERROR(Arity(ctx, 1, 2, 1, 1));
  SQUINT_RT_RETURN_IF_ERROR(Options(ctx, fb::OpOptions::SoftmaxOptions));
  const auto* o = ctx.op->options_as_SoftmaxOptions();
  const TensorDesc &x = *ctx.In(0), &y = ctx.Out(0);
  OP_CHECK(Is8or16(x.type), "input is %s, expected int8 or int16", ElementTypeName(x.type));
  OP_CHECK(y.type == ElementType::INT8 || y.type == ElementType::UINT8, "output is %s, expected int8 or uint8",
           ElementTypeName(y.type));
  SQUINT_RT_RETURN_IF_ERROR(PerTensor(ctx, x, "input"));
  OP_CHECK(x.rank >= 1 && SameDims(x, y), "output shape must equal the input's (rank >= 1)");
  const int32_t expected_zp = y.type == ElementType::INT8 ? -128 : 0;
  OP_CHECK(y.log_grid != nullptr || y.zero_point == expected_zp, "output zero point %d, expected %d (scale 1/2^bits)",
           y.zero_point, expected_zp);
  // The output grid is uniform with step 1/2^b, b in [2, 8] (the softmax output bits); no
  // quantization: b = 8. Or log-grid codes (LogGridQuantization, its own tables).
  int32_t bits = 8;
  if (y.log_grid == nullptr && y.quant != nullptr) {
    bits = 0;
    for (int32_t b = 2; b <= 8; ++b)
      if (std::fabs(std::ldexp(y.scale, b) - 1.0f) < 1e-6f) bits = b;
    OP_CHECK(bits != 0, "output scale %g, expected 1/2^b with b in [2, 8]", static_cast<double>(y.scale));
  }
  ref::SoftmaxParams p;
  p.output_bits = bits;
  p.depth = x.dims[x.rank - 1];
  p.rows = p.depth == 0 ? 0 : static_cast<int32_t>(x.num_elements / p.depth);
  const auto* table = o->exp_table();
  OP_CHECK(table != nullptr && table->size() >= 1, "exp_table is missing");
  if (x.type == ElementType::INT8)
    OP_CHECK(table->size() <= 256, "exp_table has %u entries, expected at most 256 for int8 input", table->size());
  else
    OP_CHECK(table->size() <= 65536, "exp_table has %u entries, expected at most 65536", table->size());
  p.exp_bits = o->exp_bits();
  OP_CHECK(p.exp_bits >= 0 && p.exp_bits <= 30, "exp_bits = %d, expected in [0, 30]", p.exp_bits);
  OP_CHECK(table->Get(0) == (1 << p.exp_bits), "exp_table[0] = %d, expected 2^exp_bits = %d", table->Get(0),
           1 << p.exp_bits);
  for (uint32_t i = 1; i < table->size(); ++i)
    OP_CHECK(table->Get(i) >= 0 && table->Get(i) <= table->Get(i - 1),
             "exp_table[%u] = %d: the table must be non-negative and non-increasing", i, table->Get(i));
  p.exp_table = table->data();
  p.exp_table_size = static_cast<int32_t>(table->size());
  if (x.type == ElementType::INT8 && table->size() < 256) {  // 1.1: the trailing zeros are left out
    p.exp_table = PadExpTable(ctx, *table, 256);
    p.exp_table_size = 256;
  }
  const float zeta = o->zeta(), gamma = o->gamma();
  OP_CHECK(std::isfinite(zeta) && std::isfinite(gamma) && zeta >= gamma && zeta - gamma <= 16.0f &&
               std::fabs(gamma) <= 32.0f,
           "clip parameters zeta = %g, gamma = %g out of range (need gamma <= zeta <= gamma + 16, |gamma| <= 32)",
           static_cast<double>(zeta), static_cast<double>(gamma));
  ref::SoftmaxClipParams(zeta, gamma, &p.clip_scale_q16, &p.clip_offset_q16);
  OP_CHECK(y.log_grid == nullptr || p.clip_scale_q16 <= (1 << 17),
           "log-grid output with clipped softmax zeta - gamma = %g, at most 2 supported",
           static_cast<double>(zeta) - gamma);
  if (y.log_grid != nullptr) p.grid = &y.grid;
  OP_CHECK(p.clip_scale_q16 >= 0 && p.clip_scale_q16 <= (1 << 20) && std::llabs(p.clip_offset_q16) <= (1 << 30),
           "clip constants out of range");
  p.output_zero_point = y.zero_point;
  p.rank = x.rank;
  for (int i = 0; i < x.rank; ++i) p.dims[i] = x.dims[i];
  const TensorDesc* dynamic_mask = ctx.num_in > 1 ? ctx.In(1) : nullptr;
  // The element strides of a mask broadcast (numpy-style) to x's dims.
  auto mask_strides = [&](const TensorDesc& mask, int32_t* strides) -> Status {
    OP_CHECK(mask.rank <= x.rank, "mask has %d dims, input %d", mask.rank, x.rank);
    int64_t stride = 1;
    for (int i = x.rank - 1; i >= 0; --i) {
      const int mi_axis = i - (x.rank - mask.rank);
      const int32_t md = mi_axis >= 0 ? mask.dims[mi_axis] : 1;
      OP_CHECK(md == 1 || md == x.dims[i], "mask dim %d does not broadcast to input dim %d", md, x.dims[i]);
      strides[i] = md == 1 ? 0 : static_cast<int32_t>(stride);
      stride *= md;
    }
    return Status::Ok();
  };
  if (o->mask() != -1) {
    const int32_t mi = o->mask();
    OP_CHECK(mi >= 0 && mi < ctx.m.num_tensors(), "mask tensor index %d out of range", mi);
    const TensorDesc& mask = ctx.m.tensor(mi);
    OP_CHECK(mask.is_constant && (mask.type == ElementType::INT8 || mask.type == ElementType::UINT8 ||
                                  mask.type == ElementType::BIT),
             "mask tensor %d must be a constant int8/uint8/bit tensor", mi);
    SQUINT_RT_RETURN_IF_ERROR(mask_strides(mask, p.mask_strides));
    p.mask = mask.type == ElementType::BIT ? UnpackBits(ctx, mask) : static_cast<const uint8_t*>(mask.data);
  }
  if (dynamic_mask != nullptr) {
    OP_CHECK(!dynamic_mask->is_constant && dynamic_mask->type == ElementType::INT32,
             "mask input must be an int32 activation");
    SQUINT_RT_RETURN_IF_ERROR(mask_strides(*dynamic_mask, p.mask32_strides));
  }
  out->params = p;
  if (dynamic_mask != nullptr) {
    if (x.type == ElementType::INT8)
      out->run = y.type == ElementType::INT8 ? &RunSoftmaxMasked<int8_t, int8_t> : &RunSoftmaxMasked<int8_t, uint8_t>;
    else
      out->run =
          y.type == ElementType::INT8 ? &RunSoftmaxMasked<int16_t, int8_t> : &RunSoftmaxMasked<int16_t, uint8_t>;
  } else if (x.type == ElementType::INT8) {
    out->run = y.type == ElementType::INT8 ? &RunSoftmax<int8_t, int8_t> : &RunSoftmax<int8_t, uint8_t>;
  } else {
    out->run = y.type == ElementType::INT8 ? &RunSoftmax<int16_t, int8_t> : &RunSoftmax<int16_t, uint8_t>;
  }
  if (x.type == ElementType::INT8)
    PrepareFastSoftmax(p, dynamic_mask != nullptr, pools, out);
  return Status::Ok();
}

Status PrepareLayerNorm(const Ctx& ctx, PreparePools* pools, PreparedOp* out) {
  SQUINT_RT_RETURN_IF_ERROR(Arity(ctx, 1, 1, 1, 1));
  SQUINT_RT_RETURN_IF_ERROR(Options(ctx, fb::OpOptions::LayerNormOptions));
  const auto* o = ctx.op->options_as_LayerNormOptions();
  const TensorDesc &x = *ctx.In(0), &y = ctx.Out(0);
  OP_CHECK(Is8or16(x.type) && y.type == x.type, "input %s / output %s, expected int8 or int16, equal",
           ElementTypeName(x.type), ElementTypeName(y.type));
  OP_CHECK(x.rank >= 1 && SameDims(x, y), "output shape must equal the input's (rank >= 1)");
  ref::LayerNormParams p;
  p.channels = x.dims[x.rank - 1];
  OP_CHECK(p.channels >= 1 && p.channels <= 32768, "channels = %d, expected in [1, 32768]", p.channels);
  p.rows = static_cast<int32_t>(x.num_elements / p.channels);
  p.rms = o->rms();
  p.input_zero_point = x.zero_point;
  p.norm_bits = o->norm_bits();
  OP_CHECK(p.norm_bits >= 0 && p.norm_bits <= 20, "norm_bits = %d, expected in [0, 20]", p.norm_bits);
  p.epsilon_q = o->epsilon_q();
  OP_CHECK(p.epsilon_q >= 0 && p.epsilon_q <= (int64_t{1} << 60), "epsilon_q = %lld, expected in [0, 2^60]",
           static_cast<long long>(p.epsilon_q));
  OP_CHECK(o->gamma_q() != nullptr && static_cast<int64_t>(o->gamma_q()->size()) == p.channels,
           "gamma_q has %u values, expected %d", o->gamma_q() ? o->gamma_q()->size() : 0, p.channels);
  OP_CHECK(o->beta_q() != nullptr && static_cast<int64_t>(o->beta_q()->size()) == p.channels,
           "beta_q has %u values, expected %d", o->beta_q() ? o->beta_q()->size() : 0, p.channels);
  p.gamma_q = o->gamma_q()->data();
  p.beta_q = o->beta_q()->data();
  SQUINT_RT_RETURN_IF_ERROR(Requant(ctx, o->requant(), p.channels, y, "output", &p.requant));
  out->params = p;
  out->run = PICK_8_16(RunLayerNorm, x.type);
  PrepareFastLayerNorm(p, x.type == ElementType::INT16, pools, out);
  return Status::Ok();
}

Status PrepareLut(const Ctx& ctx, PreparePools* pools, PreparedOp* out) {
  SQUINT_RT_RETURN_IF_ERROR(Arity(ctx, 1, 1, 1, 1));
  SQUINT_RT_RETURN_IF_ERROR(Options(ctx, fb::OpOptions::LutOptions));
  const auto* o = ctx.op->options_as_LutOptions();
  const TensorDesc &x = *ctx.In(0), &y = ctx.Out(0);
  OP_CHECK(Is8or16(x.type) && Is8or16(y.type), "input %s / output %s, expected int8 or int16",
           ElementTypeName(x.type), ElementTypeName(y.type));
  OP_CHECK(x.num_elements == y.num_elements, "output has %lld elements, input %lld",
           static_cast<long long>(y.num_elements), static_cast<long long>(x.num_elements));
  OP_CHECK(o->table() == nullptr || o->table8() == nullptr, "has both table and table8, expected one");
  OP_CHECK(o->table8() == nullptr || y.type == ElementType::INT8, "table8 (one byte per entry) with a %s output",
           ElementTypeName(y.type));
  const uint32_t stored = o->table() ? o->table()->size() : o->table8() ? o->table8()->size() : 0;
  OP_CHECK(stored <= 65536 + 256, "table has %u entries, too many", stored);
  uint32_t n = 0;
  const int16_t* table = LutTable(ctx, *o, &n);
  const int64_t lo = o->min_code(), hi = lo + static_cast<int64_t>(n) - 1;
  OP_CHECK(n >= 1 && lo <= TypeMin(x.type) && hi >= TypeMax(x.type),
           "table covers codes [%lld, %lld], must cover the %s input range [%d, %d]", static_cast<long long>(lo),
           static_cast<long long>(hi), ElementTypeName(x.type), TypeMin(x.type), TypeMax(x.type));
  LutState s;
  s.count = static_cast<int32_t>(x.num_elements);
  s.table = table;
  s.table_size = static_cast<int32_t>(n);
  s.min_code = o->min_code();
  out->params = s;
  if (x.type == ElementType::INT8)
    out->run = y.type == ElementType::INT8 ? &RunLut<int8_t, int8_t> : &RunLut<int8_t, int16_t>;
  else
    out->run = y.type == ElementType::INT8 ? &RunLut<int16_t, int8_t> : &RunLut<int16_t, int16_t>;
  PrepareFastLut(s, x.type, y.type, pools, out);
  return Status::Ok();
}

Status PreparePool(const Ctx& ctx, bool is_max, PreparePools* pools, PreparedOp* out) {
  SQUINT_RT_RETURN_IF_ERROR(Arity(ctx, 1, 1, 1, 1));
  SQUINT_RT_RETURN_IF_ERROR(Options(ctx, fb::OpOptions::Pool2DOptions));
  const auto* o = ctx.op->options_as_Pool2DOptions();
  const TensorDesc &x = *ctx.In(0), &y = ctx.Out(0);
  OP_CHECK(Is8or16(x.type) && y.type == x.type, "input %s / output %s, expected int8 or int16, equal",
           ElementTypeName(x.type), ElementTypeName(y.type));
  SQUINT_RT_RETURN_IF_ERROR(PerTensor(ctx, x, "input"));
  OP_CHECK(x.rank == 4 && y.rank == 4, "input has %d dims and output %d, expected 4 (NCHW)", x.rank, y.rank);
  ref::Pool2DParams p;
  int32_t kernel[2] = {1, 1}, stride[2] = {1, 1}, dilation[2] = {1, 1}, pads[4] = {};
  OP_CHECK(o->kernel() != nullptr, "kernel size is missing");
  SQUINT_RT_RETURN_IF_ERROR(IntVector(ctx, o->kernel(), 2, 1, 1, "kernel", kernel));
  SQUINT_RT_RETURN_IF_ERROR(IntVector(ctx, o->stride(), 2, 1, 1, "stride", stride));
  SQUINT_RT_RETURN_IF_ERROR(IntVector(ctx, o->dilation(), 2, 1, 1, "dilation", dilation));
  SQUINT_RT_RETURN_IF_ERROR(IntVector(ctx, o->pads(), 4, 0, 0, "pads", pads));
  const int64_t window = static_cast<int64_t>(kernel[0]) * kernel[1];
  OP_CHECK(window <= (x.type == ElementType::INT8 ? (1 << 22) : (1 << 16)), "window of %lld positions is too large",
           static_cast<long long>(window));
  p.batch = x.dims[0];
  p.channels = x.dims[1];
  p.in_h = x.dims[2];
  p.in_w = x.dims[3];
  p.kernel_h = kernel[0];
  p.kernel_w = kernel[1];
  p.stride_h = stride[0];
  p.stride_w = stride[1];
  p.dilation_h = dilation[0];
  p.dilation_w = dilation[1];
  p.pad_top = pads[0];
  p.pad_left = pads[1];
  p.pad_bottom = pads[2];
  p.pad_right = pads[3];
  p.count_include_pad = o->count_include_pad();
  const int64_t oh = WindowOutput(p.in_h, pads[0], pads[2], p.kernel_h, p.stride_h, p.dilation_h);
  const int64_t ow = WindowOutput(p.in_w, pads[1], pads[3], p.kernel_w, p.stride_w, p.dilation_w);
  OP_CHECK(y.dims[0] == p.batch && y.dims[1] == p.channels && y.dims[2] == oh && y.dims[3] == ow,
           "output is [%d, %d, %d, %d], expected [%d, %d, %lld, %lld]", y.dims[0], y.dims[1], y.dims[2], y.dims[3],
           p.batch, p.channels, static_cast<long long>(oh), static_cast<long long>(ow));
  p.out_h = y.dims[2];
  p.out_w = y.dims[3];
  p.input_zero_point = x.zero_point;
  if (is_max) {
    OP_CHECK(x.scale == y.scale && x.zero_point == y.zero_point, "max pool must keep scale and zero point");
    p.requant.act_min = TypeMin(y.type);
    p.requant.act_max = TypeMax(y.type);
    p.requant.zero_point = y.zero_point;
    if (o->requant() != nullptr) {
      const int32_t lo = o->requant()->activation_min(), hi = o->requant()->activation_max();
      OP_CHECK(lo <= hi && lo >= TypeMin(y.type) && hi <= TypeMax(y.type), "activation range [%d, %d] invalid", lo, hi);
      p.requant.act_min = lo;
      p.requant.act_max = hi;
    }
  } else {
    SQUINT_RT_RETURN_IF_ERROR(Requant(ctx, o->requant(), 1, y, "output", &p.requant));
  }
  out->params = p;
  if (is_max) out->run = x.type == ElementType::INT8 ? &RunPool<int8_t, true> : &RunPool<int16_t, true>;
  else out->run = x.type == ElementType::INT8 ? &RunPool<int8_t, false> : &RunPool<int16_t, false>;
  PrepareFastPool(p, is_max, x.type == ElementType::INT16, pools, out);
  return Status::Ok();
}

// Checks every HADAMARD precondition of kernels.h, h_k's orthogonality exactly in integers, and
// grows the pools' shared scratch to the kernel's 2·block int32 entries.
Status PrepareHadamard(const Ctx& ctx, PreparePools* pools, PreparedOp* out) {
  SQUINT_RT_RETURN_IF_ERROR(Arity(ctx, 1, 1, 1, 1));
  SQUINT_RT_RETURN_IF_ERROR(Options(ctx, fb::OpOptions::HadamardOptions));
  const auto* o = ctx.op->options_as_HadamardOptions();
  const TensorDesc &x = *ctx.In(0), &y = ctx.Out(0);
  OP_CHECK(Is8or16(x.type) && y.type == ElementType::INT8, "input %s / output %s, expected int8 or int16 to int8",
           ElementTypeName(x.type), ElementTypeName(y.type));
  SQUINT_RT_RETURN_IF_ERROR(PerTensor(ctx, x, "input"));
  SQUINT_RT_RETURN_IF_ERROR(PerTensor(ctx, y, "output"));
  OP_CHECK(SameDims(x, y), "output '%s' and input '%s' shapes differ, expected equal", y.name, x.name);
  OP_CHECK(x.rank >= 1 && x.dims[x.rank - 1] >= 1, "input '%s' has no channel axis (rank %d)", x.name, x.rank);
  ref::HadamardParams p;
  p.channels = x.dims[x.rank - 1];
  OP_CHECK(x.num_elements / p.channels <= kInt32Max, "input '%s' has %lld rows, more than 2^31 - 1", x.name,
           static_cast<long long>(x.num_elements / p.channels));
  p.rows = static_cast<int32_t>(x.num_elements / p.channels);
  p.block = o->block();
  p.k = o->k();
  OP_CHECK(p.block >= 1 && p.channels % p.block == 0, "block %d, expected >= 1 and dividing the %d channels",
           p.block, p.channels);
  OP_CHECK(p.k >= 1 && p.block % p.k == 0 && ((p.block / p.k) & (p.block / p.k - 1)) == 0,
           "block %d is not k·2^m with k = %d", p.block, p.k);
  const uint32_t hk_size = o->h_k() ? o->h_k()->size() : 0;
  if (p.k == 1) {
    OP_CHECK(hk_size == 0, "h_k has %u entries, expected none when k = 1", hk_size);
  } else {
    OP_CHECK(static_cast<int64_t>(hk_size) == int64_t{p.k} * p.k, "h_k has %u entries, expected k·k = %lld", hk_size,
             static_cast<long long>(int64_t{p.k} * p.k));
    const int8_t* h = o->h_k()->data();
    for (uint32_t i = 0; i < hk_size; ++i)
      OP_CHECK(h[i] == 1 || h[i] == -1, "h_k[%u] = %d, expected +1 or -1", i, h[i]);
    for (int32_t i = 0; i < p.k; ++i)
      for (int32_t j = i; j < p.k; ++j) {
        int32_t dot = 0;  // |dot| <= k <= block
        for (int32_t c = 0; c < p.k; ++c) dot += h[i * p.k + c] * h[j * p.k + c];
        OP_CHECK(dot == (i == j ? p.k : 0), "h_k rows %d and %d have dot product %d, expected %d (h_k·h_kᵀ = k·I)", i,
                 j, dot, i == j ? p.k : 0);
      }
    p.h_k = h;
  }
  if (o->signs() != nullptr) {
    OP_CHECK(static_cast<int64_t>(o->signs()->size()) == p.channels, "signs has %u entries, expected %d (channels)",
             o->signs()->size(), p.channels);
    const int8_t* sg = o->signs()->data();
    for (int32_t c = 0; c < p.channels; ++c)
      OP_CHECK(sg[c] == 1 || sg[c] == -1, "signs[%d] = %d, expected +1 or -1", c, sg[c]);
    p.signs = sg;
  }
  p.input_zero_point = x.zero_point;
  const int64_t max_dev = std::max<int64_t>(TypeMax(x.type) - int64_t{x.zero_point}, x.zero_point - int64_t{TypeMin(x.type)});
  OP_CHECK(int64_t{p.block} * max_dev <= kInt32Max,
           "block %d · max|x - zero point| %lld overflows the int32 accumulator (block·max|x - z| < 2^31)", p.block,
           static_cast<long long>(max_dev));
  const fb::Requantization* rq = o->requant();
  OP_CHECK(rq == nullptr || rq->multiplier() == nullptr || rq->multiplier()->size() == 1,
           "output requantization has %u multipliers, expected 1 (per tensor)", rq ? rq->multiplier()->size() : 0);
  SQUINT_RT_RETURN_IF_ERROR(Requant(ctx, rq, 1, y, "output", &p.requant));
  HadamardState s;
  s.p = p;
  pools->NeedScratch(2 * static_cast<size_t>(p.block));
  out->params = s;
  out->run = PICK_8_16(RunHadamard, x.type);
  PrepareFastHadamard(p, x.type == ElementType::INT16, pools, out);
  return Status::Ok();
}

}  // namespace squint::rt::prep
