// Prepare of MEAN (reductions): checks the schema's MeanOptions contract and the keep mask's
// broadcast, then picks the reference kernel for the input type.
#include "runtime/op_prepare_util.h"

namespace squint::rt {
namespace prep {
namespace {

template <typename T, bool kMasked>
void RunMean(const PreparedOp& op, const void* const* in, void* const* out) {
  if constexpr (kMasked) {
    ref::MeanParams p = Get<ref::MeanParams>(op);
    p.keep = static_cast<const int32_t*>(in[1]);
    ref::Mean<T>(p, static_cast<const T*>(in[0]), static_cast<T*>(out[0]));
  } else {
    ref::Mean<T>(Get<ref::MeanParams>(op), static_cast<const T*>(in[0]), static_cast<T*>(out[0]));
  }
}

}  // namespace

Status PrepareMean(const Ctx& ctx, PreparedOp* out) {
  SQUINT_RT_RETURN_IF_ERROR(Arity(ctx, 1, 2, 1, 1));
  SQUINT_RT_RETURN_IF_ERROR(Options(ctx, fb::OpOptions::MeanOptions));
  const auto* o = ctx.op->options_as_MeanOptions();
  const TensorDesc &x = *ctx.In(0), &y = ctx.Out(0);
  OP_CHECK(Is8or16(x.type) && y.type == x.type, "input %s / output %s, expected int8 or int16, equal",
           ElementTypeName(x.type), ElementTypeName(y.type));
  SQUINT_RT_RETURN_IF_ERROR(PerTensor(ctx, x, "input"));
  const int32_t axis = o->axis(), count = o->count();
  OP_CHECK(x.rank >= 1 && axis >= 0 && count >= 1 && count <= x.rank - axis,
           "axes [%lld, %lld) outside the input's %d dims", static_cast<long long>(axis),
           static_cast<long long>(axis) + count, x.rank);
  // With no zero dim, every partial product of the dims is at most the element count (which the
  // loader bounds), so the products below cannot overflow.
  OP_CHECK(x.num_elements >= 1, "input has no elements");
  ref::MeanParams p;
  int64_t outer = 1, r = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= x.dims[i];
  for (int i = axis; i < axis + count; ++i) r *= x.dims[i];
  for (int i = axis + count; i < x.rank; ++i) inner *= x.dims[i];
  OP_CHECK(y.num_elements == outer * inner, "output has %lld elements, expected %lld",
           static_cast<long long>(y.num_elements), static_cast<long long>(outer * inner));
  OP_CHECK(r >= 1 && r < (int64_t{1} << 30), "reduced size %lld out of range", static_cast<long long>(r));
  p.outer = static_cast<int32_t>(outer);
  p.r = static_cast<int32_t>(r);
  p.inner = static_cast<int32_t>(inner);
  p.input_zero_point = x.zero_point;
  SQUINT_RT_RETURN_IF_ERROR(Requant(ctx, o->requant(), 1, y, "output", &p.requant));
  const TensorDesc* keep = ctx.num_in > 1 ? ctx.In(1) : nullptr;  // absent (index −1): no mask
  if (keep != nullptr) {
    const TensorDesc& k = *keep;
    OP_CHECK(!k.is_constant && k.type == ElementType::INT32, "keep mask must be an int32 activation");
    OP_CHECK(k.rank <= x.rank, "keep mask has %d dims, input %d", k.rank, x.rank);
    // Element strides of the keep mask over x's axes (numpy broadcast, right-aligned); each of
    // the three groups (outer, reduced, inner) must be wholly broadcast or wholly dense in x's
    // own layout, so one stride per group addresses it.
    int64_t strides[kMaxRank] = {};
    int64_t s = 1;
    for (int i = x.rank - 1; i >= 0; --i) {
      const int ki = i - (x.rank - k.rank);
      const int32_t kd = ki >= 0 ? k.dims[ki] : 1;
      OP_CHECK(kd == 1 || kd == x.dims[i], "keep mask dim %d does not broadcast to input dim %d", kd, x.dims[i]);
      strides[i] = kd == 1 ? 0 : s;
      s *= kd;
    }
    auto group = [&](int begin, int end, int64_t* stride) -> bool {
      // Dense: strides of the group's non-1 dims are those of a contiguous block; broadcast: all 0.
      bool all_zero = true, dense = true;
      int64_t want = -1;
      for (int i = end - 1; i >= begin; --i) {
        if (x.dims[i] == 1) continue;
        if (strides[i] != 0) all_zero = false;
        if (want < 0) want = strides[i];
        if (strides[i] != want) dense = false;
        want *= x.dims[i];
      }
      if (all_zero) {
        *stride = 0;
        return true;
      }
      int64_t innermost = 0;
      for (int i = end - 1; i >= begin; --i)
        if (x.dims[i] != 1) {
          innermost = strides[i];
          break;
        }
      *stride = innermost;
      return dense;
    };
    OP_CHECK(group(0, axis, &p.keep_outer) && group(axis, axis + count, &p.keep_r) &&
                 group(axis + count, x.rank, &p.keep_inner),
             "keep mask broadcast is not addressable by one stride per group of axes");
    p.keep = nullptr;  // set per invoke from input 1
  }
  out->params = p;
  if (keep != nullptr) out->run = x.type == ElementType::INT8 ? &RunMean<int8_t, true> : &RunMean<int16_t, true>;
  else out->run = x.type == ElementType::INT8 ? &RunMean<int8_t, false> : &RunMean<int16_t, false>;
  return Status::Ok();
}

}  // namespace prep
}  // namespace squint::rt
