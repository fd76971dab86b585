// Prepare of the data-movement ops (RESHAPE .. REQUANTIZE) and the dispatcher over all opcodes.
#include <cstring>

#include "runtime/op_prepare_util.h"

namespace squint::rt {
namespace prep {
namespace {

template <typename T>
void RunTranspose(const PreparedOp& op, const void* const* in, void* const* out) {
  const TransposeState& s = Get<TransposeState>(op);
  ref::Transpose<T>(s.rank, s.in_dims, s.perm, static_cast<const T*>(in[0]), static_cast<T*>(out[0]));
}
template <typename T>
void RunConcat(const PreparedOp& op, const void* const* in, void* const* out) {
  const ConcatState& s = Get<ConcatState>(op);
  // The interpreter's pointer pools hold void*; all object pointers share one representation.
  ref::Concat<T>(s.num_inputs, reinterpret_cast<const T* const*>(in), s.axis_sizes, s.outer, s.inner,
                 s.has_rescale ? s.rescale : nullptr, static_cast<T*>(out[0]));
}
template <typename T>
void RunSlice(const PreparedOp& op, const void* const* in, void* const* out) {
  const SliceState& s = Get<SliceState>(op);
  ref::Slice<T>(s.rank, s.in_dims, s.starts, s.steps, s.out_dims, static_cast<const T*>(in[0]),
                static_cast<T*>(out[0]));
}
template <typename T>
void RunGather(const PreparedOp& op, const void* const* in, void* const* out) {
  const GatherState& s = Get<GatherState>(op);
  ref::Gather<T>(s.outer, s.axis_dim, s.inner, static_cast<const int32_t*>(in[1]), s.num_indices,
                 static_cast<const T*>(in[0]), static_cast<T*>(out[0]));
}
template <typename T>
void RunSplit(const PreparedOp& op, const void* const* in, void* const* out) {
  const SplitState& s = Get<SplitState>(op);
  ref::Split<T>(s.outer, s.inner, s.num_outputs, s.sizes, static_cast<const T*>(in[0]),
                reinterpret_cast<T* const*>(out));
}
template <typename T>
void RunPad(const PreparedOp& op, const void* const* in, void* const* out) {
  const PadState& s = Get<PadState>(op);
  ref::Pad<T>(s.rank, s.in_dims, s.pads, s.mode, s.value, static_cast<const T*>(in[0]), static_cast<T*>(out[0]));
}
template <typename T>
void RunResize(const PreparedOp& op, const void* const* in, void* const* out) {
  ref::Resize<T>(Get<ref::ResizeParams>(op), static_cast<const T*>(in[0]), static_cast<T*>(out[0]));
}
template <typename TIn, typename TOut>
void RunRequantize(const PreparedOp& op, const void* const* in, void* const* out) {
  const RequantizeState& s = Get<RequantizeState>(op);
  ref::Requantize<TIn, TOut>(s.p, s.count, static_cast<const TIn*>(in[0]), static_cast<TOut*>(out[0]));
}
void RunCopy(const PreparedOp& op, const void* const* in, void* const* out) {
  const int64_t bytes = Get<CopyState>(op).bytes;
  if (bytes > 0 && in[0] != out[0]) std::memmove(out[0], in[0], static_cast<size_t>(bytes));
}

template <template <typename> class F>
RunFn PickAny(ElementType t) {
  switch (t) {
    case ElementType::INT8: return &F<int8_t>::Run;
    case ElementType::UINT8: return &F<uint8_t>::Run;
    case ElementType::INT16: return &F<int16_t>::Run;
    case ElementType::INT32: return &F<int32_t>::Run;
    case ElementType::INT4: return nullptr;  // constant weights only (loader): never a data op's
    case ElementType::BIT: return nullptr;   // softmax masks only (loader)
  }
  return nullptr;
}
#define RUNNER(Name, Fn) \
  template <typename T>  \
  struct Name {          \
    static void Run(const PreparedOp& op, const void* const* in, void* const* out) { Fn<T>(op, in, out); } \
  };
RUNNER(TransposeRunner, RunTranspose)
RUNNER(ConcatRunner, RunConcat)
RUNNER(SliceRunner, RunSlice)
RUNNER(GatherRunner, RunGather)
RUNNER(SplitRunner, RunSplit)
RUNNER(PadRunner, RunPad)

// Product of dims [begin, end) (bounded by the tensor's element count, so no overflow).
int64_t Product(const TensorDesc& t, int begin, int end) {
  int64_t p = 1;
  for (int i = begin; i < end; ++i) p *= t.dims[i];
  return p;
}

// Bytes per element (0 when the tensor is empty or not a whole number of bytes per element).
int32_t ElementSize(const TensorDesc& x) {
  return x.num_elements > 0 && x.bytes % x.num_elements == 0 ? static_cast<int32_t>(x.bytes / x.num_elements) : 0;
}

Status SameTypeAndQuant(const Ctx& ctx, const TensorDesc& x, const TensorDesc& y) {
  OP_CHECK(x.type == y.type, "input is %s but output %s", ElementTypeName(x.type), ElementTypeName(y.type));
  OP_CHECK(x.scale == y.scale && x.zero_point == y.zero_point,
           "input (scale %g, zero point %d) and output (scale %g, zero point %d) must share quantization",
           static_cast<double>(x.scale), x.zero_point, static_cast<double>(y.scale), y.zero_point);
  return Status::Ok();
}

}  // namespace

Status PrepareReshape(const Ctx& ctx, PreparedOp* out) {
  SQUINT_RT_RETURN_IF_ERROR(Arity(ctx, 1, 2, 1, 1));
  const TensorDesc &x = *ctx.In(0), &y = ctx.Out(0);
  SQUINT_RT_RETURN_IF_ERROR(SameTypeAndQuant(ctx, x, y));
  OP_CHECK(x.num_elements == y.num_elements, "output has %lld elements, input %lld",
           static_cast<long long>(y.num_elements), static_cast<long long>(x.num_elements));
  CopyState s;
  s.bytes = x.bytes;
  out->params = s;
  out->run = &RunCopy;
  return Status::Ok();
}

Status PrepareTranspose(const Ctx& ctx, PreparePools* pools, PreparedOp* out) {
  SQUINT_RT_RETURN_IF_ERROR(Arity(ctx, 1, 1, 1, 1));
  SQUINT_RT_RETURN_IF_ERROR(Options(ctx, fb::OpOptions::TransposeOptions));
  const auto* perm = ctx.op->options_as_TransposeOptions()->perm();
  const TensorDesc &x = *ctx.In(0), &y = ctx.Out(0);
  SQUINT_RT_RETURN_IF_ERROR(SameTypeAndQuant(ctx, x, y));
  OP_CHECK(perm != nullptr && static_cast<int32_t>(perm->size()) == x.rank && y.rank == x.rank,
           "perm has %u values, input rank %d, output rank %d", perm ? perm->size() : 0, x.rank, y.rank);
  TransposeState s;
  s.rank = x.rank;
  bool seen[kMaxRank] = {};
  for (int j = 0; j < x.rank; ++j) {
    const int32_t a = perm->Get(j);
    OP_CHECK(a >= 0 && a < x.rank && !seen[a], "perm is not a permutation of 0..%d (perm[%d] = %d)", x.rank - 1, j, a);
    seen[a] = true;
    s.perm[j] = a;
    s.in_dims[j] = x.dims[j];
    OP_CHECK(y.dims[j] == x.dims[a], "output dim %d is %d, expected input dim %d = %d", j, y.dims[j], a, x.dims[a]);
  }
  out->params = s;
  out->run = PickAny<TransposeRunner>(x.type);
  PrepareFastTranspose(s, ElementSize(x), pools, out);  // keeps the reference when no kernel
  return Status::Ok();
}

Status PrepareConcat(const Ctx& ctx, PreparePools* pools, PreparedOp* out) {
  SQUINT_RT_RETURN_IF_ERROR(Arity(ctx, 1, static_cast<int32_t>(kMaxOpArity), 1, 1));
  SQUINT_RT_RETURN_IF_ERROR(Options(ctx, fb::OpOptions::ConcatOptions));
  const auto* o = ctx.op->options_as_ConcatOptions();
  const TensorDesc& y = ctx.Out(0);
  OP_CHECK(y.rank >= 1, "output has rank 0");
  const int32_t axis = NormalizeAxis(o->axis(), y.rank);
  OP_CHECK(axis >= 0 && axis < y.rank, "axis %d out of range for rank %d", o->axis(), y.rank);
  ConcatState s;
  s.num_inputs = ctx.num_in;
  s.outer = static_cast<int32_t>(Product(y, 0, axis));
  s.inner = static_cast<int32_t>(Product(y, axis + 1, y.rank));
  s.sizes_at = pools->ints.size();
  const auto* requant = o->requant();
  OP_CHECK(requant == nullptr || static_cast<int32_t>(requant->size()) == ctx.num_in,
           "has %u requantizations for %d inputs", requant ? requant->size() : 0, ctx.num_in);
  s.has_rescale = requant != nullptr;
  OP_CHECK(!s.has_rescale || IsSmall(y.type), "rescaling concat of %s is not supported", ElementTypeName(y.type));
  s.rescale_at = pools->rescales.size();
  int64_t total = 0;
  for (int32_t k = 0; k < ctx.num_in; ++k) {
    const TensorDesc* x = ctx.In(k);
    OP_CHECK(x != nullptr, "input %d is absent", k);
    OP_CHECK(x->type == y.type && x->rank == y.rank, "input %d is %s rank %d, output %s rank %d", k,
             ElementTypeName(x->type), x->rank, ElementTypeName(y.type), y.rank);
    for (int i = 0; i < y.rank; ++i)
      OP_CHECK(i == axis || x->dims[i] == y.dims[i], "input %d dim %d is %d, output's %d", k, i, x->dims[i], y.dims[i]);
    total += x->dims[axis];
    pools->ints.push_back(x->dims[axis]);
    if (s.has_rescale) {
      SQUINT_RT_RETURN_IF_ERROR(PerTensor(ctx, *x, "input"));
      ref::RescaleParams r;
      SQUINT_RT_RETURN_IF_ERROR(Rescale(ctx, requant->Get(k), *x, y, "input", &r));
      pools->rescales.push_back(r);
    } else {
      OP_CHECK(x->scale == y.scale && x->zero_point == y.zero_point,
               "input %d quantization differs from the output's and no requantization is given", k);
    }
  }
  OP_CHECK(total == y.dims[axis], "inputs sum to %lld along axis %d, output has %d", static_cast<long long>(total),
           axis, y.dims[axis]);
  out->params = s;
  out->run = PickAny<ConcatRunner>(y.type);
  PrepareFastConcat(&s, y.type, pools, out);
  return Status::Ok();
}

Status PrepareSlice(const Ctx& ctx, PreparedOp* out) {
  SQUINT_RT_RETURN_IF_ERROR(Arity(ctx, 1, 1, 1, 1));
  SQUINT_RT_RETURN_IF_ERROR(Options(ctx, fb::OpOptions::SliceOptions));
  const auto* o = ctx.op->options_as_SliceOptions();
  const TensorDesc &x = *ctx.In(0), &y = ctx.Out(0);
  SQUINT_RT_RETURN_IF_ERROR(SameTypeAndQuant(ctx, x, y));
  OP_CHECK(y.rank == x.rank, "output rank %d, input rank %d", y.rank, x.rank);
  const uint32_t r = static_cast<uint32_t>(x.rank);
  OP_CHECK(o->starts() && o->ends() && o->starts()->size() == r && o->ends()->size() == r &&
               (o->steps() == nullptr || o->steps()->size() == r),
           "starts/ends/steps must have %u values", r);
  SliceState s;
  s.rank = x.rank;
  for (uint32_t i = 0; i < r; ++i) {
    const int64_t in = x.dims[i], start = o->starts()->Get(i), end = o->ends()->Get(i);
    const int64_t step = o->steps() ? o->steps()->Get(i) : 1;
    OP_CHECK(step != 0, "steps[%u] is 0", i);
    int64_t count = 0;
    if (step > 0) {
      const int64_t e = std::min(std::max<int64_t>(end, 0), in);
      if (start < e) count = (e - start + step - 1) / step;
    } else {
      const int64_t e = std::min(std::max<int64_t>(end, -1), in - 1);
      if (start > e) count = (start - e + (-step) - 1) / (-step);
    }
    if (count > 0) {
      const int64_t last = start + (count - 1) * step;
      OP_CHECK(start >= 0 && start < in && last >= 0 && last < in,
               "axis %u: start %lld (last %lld) outside [0, %lld); starts must be normalized", i,
               static_cast<long long>(start), static_cast<long long>(last), static_cast<long long>(in));
    }
    OP_CHECK(y.dims[i] == count, "output dim %u is %d, expected %lld from start %lld end %lld step %lld", i, y.dims[i],
             static_cast<long long>(count), static_cast<long long>(start), static_cast<long long>(end),
             static_cast<long long>(step));
    s.in_dims[i] = x.dims[i];
    s.starts[i] = count > 0 ? static_cast<int32_t>(start) : 0;
    s.steps[i] = static_cast<int32_t>(step);
    s.out_dims[i] = y.dims[i];
  }
  out->params = s;
  out->run = PickAny<SliceRunner>(x.type);
  return Status::Ok();
}

Status PrepareGather(const Ctx& ctx, PreparePools* pools, PreparedOp* out) {
  SQUINT_RT_RETURN_IF_ERROR(Arity(ctx, 2, 2, 1, 1));
  SQUINT_RT_RETURN_IF_ERROR(Options(ctx, fb::OpOptions::GatherOptions));
  const TensorDesc &x = *ctx.In(0), &idx = *ctx.In(1), &y = ctx.Out(0);
  SQUINT_RT_RETURN_IF_ERROR(SameTypeAndQuant(ctx, x, y));
  OP_CHECK(x.rank >= 1, "data has rank 0");
  const int32_t axis = NormalizeAxis(ctx.op->options_as_GatherOptions()->axis(), x.rank);
  OP_CHECK(axis >= 0 && axis < x.rank, "axis %d out of range for rank %d", ctx.op->options_as_GatherOptions()->axis(),
           x.rank);
  OP_CHECK(idx.type == ElementType::INT32, "indices are %s, expected int32", ElementTypeName(idx.type));
  OP_CHECK(y.rank == x.rank - 1 + idx.rank, "output rank %d, expected %d", y.rank, x.rank - 1 + idx.rank);
  for (int i = 0; i < y.rank; ++i) {
    const int32_t expected = i < axis ? x.dims[i] : (i < axis + idx.rank ? idx.dims[i - axis] : x.dims[i - idx.rank + 1]);
    OP_CHECK(y.dims[i] == expected, "output dim %d is %d, expected %d", i, y.dims[i], expected);
  }
  GatherState s;
  s.outer = static_cast<int32_t>(Product(x, 0, axis));
  s.axis_dim = x.dims[axis];
  s.inner = static_cast<int32_t>(Product(x, axis + 1, x.rank));
  s.num_indices = static_cast<int32_t>(idx.num_elements);
  OP_CHECK(s.axis_dim >= 1 || y.num_elements == 0, "gathering from an empty axis");
  if (idx.is_constant) {  // activation indices are clamped by the kernel (memory-safe)
    const int32_t* v = reinterpret_cast<const int32_t*>(idx.data);
    for (int64_t i = 0; i < idx.num_elements; ++i)
      OP_CHECK(v[i] >= -s.axis_dim && v[i] < s.axis_dim, "index[%lld] = %d outside [-%d, %d)",
               static_cast<long long>(i), v[i], s.axis_dim, s.axis_dim);
  }
  out->params = s;
  out->run = PickAny<GatherRunner>(x.type);
  PrepareFastGather(ElementSize(x), pools, out);  // keeps the reference when no kernel
  return Status::Ok();
}

Status PrepareSplit(const Ctx& ctx, PreparePools* pools, PreparedOp* out) {
  SQUINT_RT_RETURN_IF_ERROR(Arity(ctx, 1, 1, 1, static_cast<int32_t>(kMaxOpArity)));
  SQUINT_RT_RETURN_IF_ERROR(Options(ctx, fb::OpOptions::SplitOptions));
  const auto* o = ctx.op->options_as_SplitOptions();
  const TensorDesc& x = *ctx.In(0);
  OP_CHECK(x.rank >= 1, "input has rank 0");
  const int32_t axis = NormalizeAxis(o->axis(), x.rank);
  OP_CHECK(axis >= 0 && axis < x.rank, "axis %d out of range for rank %d", o->axis(), x.rank);
  OP_CHECK(o->sizes() != nullptr && static_cast<int32_t>(o->sizes()->size()) == ctx.num_out,
           "sizes has %u values for %d outputs", o->sizes() ? o->sizes()->size() : 0, ctx.num_out);
  SplitState s;
  s.outer = static_cast<int32_t>(Product(x, 0, axis));
  s.inner = static_cast<int32_t>(Product(x, axis + 1, x.rank));
  s.num_outputs = ctx.num_out;
  s.sizes_at = pools->ints.size();
  int64_t total = 0;
  for (int32_t k = 0; k < ctx.num_out; ++k) {
    const TensorDesc& y = ctx.Out(k);
    const int32_t size = o->sizes()->Get(k);
    OP_CHECK(size >= 0, "sizes[%d] = %d is negative", k, size);
    SQUINT_RT_RETURN_IF_ERROR(SameTypeAndQuant(ctx, x, y));
    OP_CHECK(y.rank == x.rank, "output %d rank %d, input rank %d", k, y.rank, x.rank);
    for (int i = 0; i < x.rank; ++i)
      OP_CHECK(y.dims[i] == (i == axis ? size : x.dims[i]), "output %d dim %d is %d, expected %d", k, i, y.dims[i],
               i == axis ? size : x.dims[i]);
    total += size;
    pools->ints.push_back(size);
  }
  OP_CHECK(total == x.dims[axis], "sizes sum to %lld, input dim %d is %d", static_cast<long long>(total), axis,
           x.dims[axis]);
  out->params = s;
  out->run = PickAny<SplitRunner>(x.type);
  return Status::Ok();
}

Status PreparePad(const Ctx& ctx, PreparePools* pools, PreparedOp* out) {
  SQUINT_RT_RETURN_IF_ERROR(Arity(ctx, 1, 1, 1, 1));
  SQUINT_RT_RETURN_IF_ERROR(Options(ctx, fb::OpOptions::PadOptions));
  const auto* o = ctx.op->options_as_PadOptions();
  const TensorDesc &x = *ctx.In(0), &y = ctx.Out(0);
  SQUINT_RT_RETURN_IF_ERROR(SameTypeAndQuant(ctx, x, y));
  OP_CHECK(y.rank == x.rank, "output rank %d, input rank %d", y.rank, x.rank);
  PadState s;
  s.rank = x.rank;
  SQUINT_RT_RETURN_IF_ERROR(IntVector(ctx, o->pads(), 2 * static_cast<uint32_t>(x.rank), 0, 0, "pads", s.pads));
  s.mode = o->mode();
  OP_CHECK(s.mode >= 0 && s.mode <= 2, "mode %d, expected 0 (constant), 1 (reflect) or 2 (edge)", s.mode);
  for (int i = 0; i < x.rank; ++i) {
    const int64_t b = s.pads[i], e = s.pads[x.rank + i];
    s.in_dims[i] = x.dims[i];
    OP_CHECK(y.dims[i] == x.dims[i] + b + e, "output dim %d is %d, expected %lld", i, y.dims[i],
             static_cast<long long>(x.dims[i] + b + e));
    if (s.mode == 1) OP_CHECK(b <= x.dims[i] - 1 && e <= x.dims[i] - 1, "reflect pad on axis %d exceeds dim - 1 = %d", i, x.dims[i] - 1);
    if (s.mode == 2 && (b > 0 || e > 0)) OP_CHECK(x.dims[i] >= 1, "edge pad of empty axis %d", i);
  }
  s.value = x.zero_point;
  out->params = s;
  out->run = PickAny<PadRunner>(x.type);
  PrepareFastPad(s, x.type, pools, out);  // keeps the reference when no kernel
  return Status::Ok();
}

Status PrepareResize(const Ctx& ctx, PreparePools* pools, PreparedOp* out) {
  SQUINT_RT_RETURN_IF_ERROR(Arity(ctx, 1, 1, 1, 1));
  SQUINT_RT_RETURN_IF_ERROR(Options(ctx, fb::OpOptions::ResizeOptions));
  const auto* o = ctx.op->options_as_ResizeOptions();
  const TensorDesc &x = *ctx.In(0), &y = ctx.Out(0);
  OP_CHECK(IsSmall(x.type) && y.type == x.type, "input %s / output %s, expected int8, uint8 or int16, equal",
           ElementTypeName(x.type), ElementTypeName(y.type));
  SQUINT_RT_RETURN_IF_ERROR(PerTensor(ctx, x, "input"));
  OP_CHECK(x.rank == 4 && y.rank == 4 && y.dims[0] == x.dims[0] && y.dims[1] == x.dims[1],
           "input and output must be [N, C, H, W] with equal N and C");
  ref::ResizeParams p;
  p.batch = x.dims[0];
  p.channels = x.dims[1];
  p.in_h = x.dims[2];
  p.in_w = x.dims[3];
  p.out_h = y.dims[2];
  p.out_w = y.dims[3];
  OP_CHECK((p.out_h == 0 || p.in_h >= 1) && (p.out_w == 0 || p.in_w >= 1), "resizing an empty image");
  p.mode = o->mode();
  p.coordinate_mode = o->coordinate_mode();
  p.nearest_mode = o->nearest_mode();
  OP_CHECK(p.mode >= 0 && p.mode <= 1, "mode %d, expected 0 (nearest) or 1 (linear)", p.mode);
  OP_CHECK(p.coordinate_mode >= 0 && p.coordinate_mode <= 3, "coordinate_mode %d, expected 0..3", p.coordinate_mode);
  OP_CHECK(p.nearest_mode >= 0 && p.nearest_mode <= 3, "nearest_mode %d, expected 0..3", p.nearest_mode);
  p.input_zero_point = x.zero_point;
  SQUINT_RT_RETURN_IF_ERROR(Requant(ctx, o->requant(), 1, y, "output", &p.requant));
  out->params = p;
  out->run = x.type == ElementType::INT8 ? &RunResize<int8_t>
             : x.type == ElementType::UINT8 ? &RunResize<uint8_t> : &RunResize<int16_t>;
  PrepareFastResize(p, x.type, pools, out);
  return Status::Ok();
}

Status PrepareRequantize(const Ctx& ctx, PreparePools* pools, PreparedOp* out) {
  SQUINT_RT_RETURN_IF_ERROR(Arity(ctx, 1, 1, 1, 1));
  SQUINT_RT_RETURN_IF_ERROR(Options(ctx, fb::OpOptions::RequantizeOptions));
  const TensorDesc &x = *ctx.In(0), &y = ctx.Out(0);
  OP_CHECK(IsSmall(x.type) && IsSmall(y.type), "input %s / output %s, expected int8, uint8 or int16",
           ElementTypeName(x.type), ElementTypeName(y.type));
  SQUINT_RT_RETURN_IF_ERROR(PerTensor(ctx, x, "input"));
  OP_CHECK(x.num_elements == y.num_elements, "output has %lld elements, input %lld",
           static_cast<long long>(y.num_elements), static_cast<long long>(x.num_elements));
  RequantizeState s;
  s.count = static_cast<int32_t>(x.num_elements);
  SQUINT_RT_RETURN_IF_ERROR(Rescale(ctx, ctx.op->options_as_RequantizeOptions()->requant(), x, y, "output", &s.p));
  out->params = s;
  const RunFn table[3][3] = {
      {&RunRequantize<int8_t, int8_t>, &RunRequantize<int8_t, uint8_t>, &RunRequantize<int8_t, int16_t>},
      {&RunRequantize<uint8_t, int8_t>, &RunRequantize<uint8_t, uint8_t>, &RunRequantize<uint8_t, int16_t>},
      {&RunRequantize<int16_t, int8_t>, &RunRequantize<int16_t, uint8_t>, &RunRequantize<int16_t, int16_t>}};
  auto row = [](ElementType t) { return t == ElementType::INT8 ? 0 : t == ElementType::UINT8 ? 1 : 2; };
  out->run = table[row(x.type)][row(y.type)];
  PrepareFastRequantize(s, x.type, y.type, pools, out);
  return Status::Ok();
}

}  // namespace prep

Status PrepareOp(const Model& model, int32_t index, PreparePools* pools, PreparedOp* out) {
  const fb::Operator* op = model.op(index);
  prep::Ctx ctx{model,
                index,
                op,
                model.op_name(index),
                OpCodeName(op->opcode()),
                static_cast<int32_t>(op->inputs()->size()),
                static_cast<int32_t>(op->outputs()->size()),
                pools};
  switch (op->opcode()) {
    case fb::OpCode::CONV_2D: return prep::PrepareConv(ctx, pools, out);
    case fb::OpCode::FULLY_CONNECTED: return prep::PrepareFc(ctx, pools, out);
    case fb::OpCode::BATCH_MATMUL: return prep::PrepareBatchMatMul(ctx, pools, out);
    case fb::OpCode::ADD:
    case fb::OpCode::SUB:
    case fb::OpCode::MUL: return prep::PrepareElementwise(ctx, op->opcode(), pools, out);
    case fb::OpCode::SOFTMAX: return prep::PrepareSoftmax(ctx, pools, out);
    case fb::OpCode::LAYER_NORM: return prep::PrepareLayerNorm(ctx, pools, out);
    case fb::OpCode::LUT: return prep::PrepareLut(ctx, pools, out);
    case fb::OpCode::MAX_POOL_2D: return prep::PreparePool(ctx, true, pools, out);
    case fb::OpCode::AVERAGE_POOL_2D: return prep::PreparePool(ctx, false, pools, out);
    case fb::OpCode::RESHAPE: return prep::PrepareReshape(ctx, out);
    case fb::OpCode::TRANSPOSE: return prep::PrepareTranspose(ctx, pools, out);
    case fb::OpCode::CONCAT: return prep::PrepareConcat(ctx, pools, out);
    case fb::OpCode::SLICE: return prep::PrepareSlice(ctx, out);
    case fb::OpCode::GATHER: return prep::PrepareGather(ctx, pools, out);
    case fb::OpCode::SPLIT: return prep::PrepareSplit(ctx, pools, out);
    case fb::OpCode::PAD: return prep::PreparePad(ctx, pools, out);
    case fb::OpCode::RESIZE: return prep::PrepareResize(ctx, pools, out);
    case fb::OpCode::REQUANTIZE: return prep::PrepareRequantize(ctx, pools, out);
    case fb::OpCode::HADAMARD: return prep::PrepareHadamard(ctx, pools, out);
    case fb::OpCode::CONV_TRANSPOSE_2D: return prep::PrepareConvTranspose(ctx, pools, out);
    case fb::OpCode::MEAN: return prep::PrepareMean(ctx, out);
  }
  return Status::Error(StatusCode::kUnsupported, "op %d '%s': unknown opcode %d", index, ctx.name,
                       static_cast<int>(op->opcode()));
}

}  // namespace squint::rt
