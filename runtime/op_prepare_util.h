// Internal to the runtime: helpers shared by the per-op prepare files (op_prepare*.cc).
#pragma once

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "runtime/prepared_op.h"

namespace squint::rt::prep {

using fb::ElementType;
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

struct Ctx {
  const Model& m;
  int32_t index;
  const fb::Operator* op;
  const char* name;
  const char* opname;
  int32_t num_in;
  int32_t num_out;
  PreparePools* pools;  // owns what prepare derives (PreparePools::owned)

  Status Fail(const char* format, ...) const
#if defined(__GNUC__)
      __attribute__((format(printf, 2, 3)))
#endif
  {
    char message[Status::kMaxMessage];
    va_list args;
    va_start(args, format);
    std::vsnprintf(message, sizeof(message), format, args);
    va_end(args);
    return Status::Error(StatusCode::kInvalidModel, "op %d '%s' (%s): %s", index, name, opname, message);
  }
  // Input k, or null when absent (-1) or beyond the op's inputs.
  const TensorDesc* In(int32_t k) const {
    if (k >= num_in) return nullptr;
    const int32_t t = op->inputs()->Get(k);
    return t < 0 ? nullptr : &m.tensor(t);
  }
  const TensorDesc& Out(int32_t k) const { return m.tensor(op->outputs()->Get(k)); }
};

#define OP_CHECK(cond, ...)                     \
  do {                                          \
    if (!(cond)) return ctx.Fail(__VA_ARGS__);  \
  } while (0)

inline bool Is8or16(ElementType t) { return t == ElementType::INT8 || t == ElementType::INT16; }
inline bool IsSmall(ElementType t) { return t == ElementType::INT8 || t == ElementType::UINT8 || t == ElementType::INT16; }
inline int32_t TypeMin(ElementType t) {
  switch (t) {
    case ElementType::INT8: return -128;
    case ElementType::UINT8: return 0;
    case ElementType::INT16: return -32768;
    default: return std::numeric_limits<int32_t>::min();
  }
}
inline int32_t TypeMax(ElementType t) {
  switch (t) {
    case ElementType::INT8: return 127;
    case ElementType::UINT8: return 255;
    case ElementType::INT16: return 32767;
    default: return std::numeric_limits<int32_t>::max();
  }
}
inline bool SameDims(const TensorDesc& a, const TensorDesc& b) {
  if (a.rank != b.rank) return false;
  for (int i = 0; i < a.rank; ++i)
    if (a.dims[i] != b.dims[i]) return false;
  return true;
}
inline bool SameQuant(const TensorDesc& a, const TensorDesc& b) {
  return a.scale == b.scale && a.zero_point == b.zero_point && a.type == b.type;
}

inline Status Arity(const Ctx& ctx, int32_t min_in, int32_t max_in, int32_t min_out, int32_t max_out) {
  OP_CHECK(ctx.num_in >= min_in && ctx.num_in <= max_in, "has %d inputs, expected %d to %d", ctx.num_in, min_in,
           max_in);
  OP_CHECK(ctx.num_out >= min_out && ctx.num_out <= max_out, "has %d outputs, expected %d to %d", ctx.num_out,
           min_out, max_out);
  for (int32_t k = 0; k < min_in; ++k) OP_CHECK(ctx.In(k) != nullptr, "required input %d is absent", k);
  return Status::Ok();
}

// An activation read with a zero point must be quantized per tensor.
inline Status PerTensor(const Ctx& ctx, const TensorDesc& t, const char* role) {
  OP_CHECK(!t.per_channel, "%s '%s' is quantized per channel; activations must be per tensor", role, t.name);
  return Status::Ok();
}

inline Status Options(const Ctx& ctx, fb::OpOptions expected, bool required = true) {
  const fb::OpOptions got = ctx.op->options_type();
  if (got == fb::OpOptions::NONE && !required) return Status::Ok();
  OP_CHECK(got == expected && ctx.op->options() != nullptr, "options are %s, expected %s",
           got <= fb::OpOptions::MAX ? fb::EnumNameOpOptions(got) : "UNKNOWN", fb::EnumNameOpOptions(expected));
  return Status::Ok();
}

// The (multiplier, shift) arrays of requantization r: in place in the file, or (schema 1.1) with
// 8-bit shifts widened, or derived from the scales when the file leaves both out (requant_derive.h).
Status RequantArrays(const Ctx& ctx, const fb::Requantization* r, const char* what, const int32_t** multiplier,
                     const int32_t** shift, uint32_t* n);

// A LUT's table as int16: `table` in place, or `table8` (schema 1.1) widened. Null (n = 0) when
// neither is stored; the caller checks that both are not (op_prepare_compact.cc).
const int16_t* LutTable(const Ctx& ctx, const fb::LutOptions& o, uint32_t* n);

// A softmax exp table padded with zeros to `size` entries, owned by the pools.
const int32_t* PadExpTable(const Ctx& ctx, const flatbuffers::Vector<int32_t>& table, uint32_t size);

// A BIT constant (schema ElementType BIT) as one 0/1 byte per element, owned by the pools.
const uint8_t* UnpackBits(const Ctx& ctx, const TensorDesc& bits);

inline Status Requant(const Ctx& ctx, const fb::Requantization* r, int32_t channels, const TensorDesc& out,
               const char* what, ref::RequantParams* p) {
  OP_CHECK(r != nullptr, "%s requantization is missing", what);
  const int32_t *multiplier = nullptr, *shifts = nullptr;
  uint32_t n = 0;
  SQUINT_RT_RETURN_IF_ERROR(RequantArrays(ctx, r, what, &multiplier, &shifts, &n));
  OP_CHECK(n == 1 || static_cast<int64_t>(n) == channels, "%s requantization has %u multipliers, expected 1 or %d",
           what, n, channels);
  for (uint32_t i = 0; i < n; ++i) {
    const int32_t mult = multiplier[i], shift = shifts[i];
    OP_CHECK(mult == 0 || mult >= (1 << 30), "%s multiplier[%u] = %d, expected 0 or in [2^30, 2^31)", what, i, mult);
    OP_CHECK(shift >= -31 && shift <= 30, "%s shift[%u] = %d, expected in [-31, 30]", what, i, shift);
  }
  OP_CHECK(r->activation_min() <= r->activation_max() && r->activation_min() >= TypeMin(out.type) &&
               r->activation_max() <= TypeMax(out.type),
           "%s activation range [%d, %d] is not within the %s range", what, r->activation_min(), r->activation_max(),
           ElementTypeName(out.type));
  OP_CHECK(out.zero_point >= TypeMin(out.type) && out.zero_point <= TypeMax(out.type),
           "output zero point %d outside its type", out.zero_point);
  p->multiplier = multiplier;
  p->shift = shifts;
  p->count = static_cast<int32_t>(n);
  p->zero_point = out.zero_point;
  p->act_min = r->activation_min();
  p->act_max = r->activation_max();
  return Status::Ok();
}

inline Status Rescale(const Ctx& ctx, const fb::Requantization* r, const TensorDesc& in, const TensorDesc& out,
               const char* what, ref::RescaleParams* p) {
  ref::RequantParams q;
  SQUINT_RT_RETURN_IF_ERROR(Requant(ctx, r, 1, out, what, &q));
  p->input_zero_point = in.zero_point;
  p->multiplier = q.multiplier[0];
  p->shift = q.shift[0];
  p->output_zero_point = out.zero_point;
  p->act_min = q.act_min;
  p->act_max = q.act_max;
  return Status::Ok();
}

// Reads an optional int vector option of exactly `n` values (absent: `fallback` for each).
inline Status IntVector(const Ctx& ctx, const flatbuffers::Vector<int32_t>* v, uint32_t n, int32_t fallback,
                 int32_t min_value, const char* what, int32_t* out) {
  if (v == nullptr) {
    for (uint32_t i = 0; i < n; ++i) out[i] = fallback;
    return Status::Ok();
  }
  OP_CHECK(v->size() == n, "%s has %u values, expected %u", what, v->size(), n);
  for (uint32_t i = 0; i < n; ++i) {
    out[i] = v->Get(i);
    OP_CHECK(out[i] >= min_value, "%s[%u] = %d, expected >= %d", what, i, out[i], min_value);
  }
  return Status::Ok();
}

inline int32_t NormalizeAxis(int32_t axis, int32_t rank) { return axis < 0 ? axis + rank : axis; }

// out = floor((in + pad_begin + pad_end − dilation·(kernel − 1) − 1) / stride) + 1 (ONNX); may be <= 0.
inline int64_t WindowOutput(int64_t in, int64_t pad_begin, int64_t pad_end, int64_t kernel, int64_t stride, int64_t dilation) {
  const int64_t span = in + pad_begin + pad_end - dilation * (kernel - 1) - 1;
  if (span < 0) return 0;
  return span / stride + 1;
}

template <typename P>
const P& Get(const PreparedOp& op) {
  return *std::get_if<P>(&op.params);
}

// Compute ops (op_prepare.cc).
Status PrepareConv(const Ctx& ctx, PreparePools* pools, PreparedOp* out);
Status PrepareFc(const Ctx& ctx, PreparePools* pools, PreparedOp* out);
Status PrepareBatchMatMul(const Ctx& ctx, PreparePools* pools, PreparedOp* out);
Status PrepareElementwise(const Ctx& ctx, fb::OpCode code, PreparePools* pools, PreparedOp* out);
Status PrepareSoftmax(const Ctx& ctx, PreparePools* pools, PreparedOp* out);
Status PrepareLayerNorm(const Ctx& ctx, PreparePools* pools, PreparedOp* out);
Status PrepareLut(const Ctx& ctx, PreparePools* pools, PreparedOp* out);
Status PreparePool(const Ctx& ctx, bool is_max, PreparePools* pools, PreparedOp* out);
Status PrepareHadamard(const Ctx& ctx, PreparePools* pools, PreparedOp* out);
// Shared by CONV_2D and CONV_TRANSPOSE_2D (op_prepare.cc; see there).
Status PrepareConvCommon(const Ctx& ctx, int32_t min_pad, ref::Conv2DParams* p, int32_t pads[4],
                         int64_t* max_abs_bias);
Status CheckConvAccumulator(const Ctx& ctx, ElementType x_type, int32_t input_zero_point, int64_t depth,
                            int64_t max_abs_bias);
// op_prepare_conv_transpose.cc
Status PrepareConvTranspose(const Ctx& ctx, PreparePools* pools, PreparedOp* out);
Status PrepareMean(const Ctx& ctx, PreparedOp* out);  // op_prepare_reduce.cc

// Optimized kernels (op_prepare_fast.cc), called by the ops' prepare once everything is checked:
// each replaces out->run with pools->isa's kernel where one exists, else leaves `out` as it is.
// (int8, groups = 1, or groups > 1: one GEMM per group on gathered columns)
void PrepareFastFc(const ref::FullyConnectedParams& p, const TensorDesc& w, const TensorDesc* bias,
                   PreparePools* pools, PreparedOp* out);
void PrepareFastConv(const ref::Conv2DParams& p, const TensorDesc& w, const TensorDesc* bias, PreparePools* pools,
                     PreparedOp* out);
void PrepareFastBatchMatMul(const ref::BatchMatMulParams& p, PreparePools* pools, PreparedOp* out);
void PrepareFastLogGridMatMul(const ref::BatchMatMulParams& p, PreparePools* pools, PreparedOp* out);
// FULLY_CONNECTED with int16 activations, groups = 1 and int8 weights (or int4 ones, unpacked)
// with one scale per unit, already checked against the reference's preconditions.
void PrepareFastInt16Fc(const ref::FullyConnectedParams& p, const TensorDesc& w, const TensorDesc* bias,
                        PreparePools* pools, PreparedOp* out);
// Group-scaled weights on int8 activations: FULLY_CONNECTED (p), or CONV_2D with groups = 1 (conv).
void PrepareFastGroupScaledFc(const ref::FullyConnectedLowBitParams& p, const TensorDesc& w, PreparePools* pools,
                              PreparedOp* out);
void PrepareFastGroupScaledConv(const ref::Conv2DGroupScaledParams& p, const TensorDesc& w, PreparePools* pools,
                                PreparedOp* out);
// int8 only (portable/misc.h): ADD / SUB / MUL (code: the op), LUT int8 → int8, TRANSPOSE (element
// sizes 1, 2, 4), SOFTMAX (uniform grid; dynamic_mask: an int32 keep-mask input).
void PrepareFastElementwise(fb::OpCode code, const ElementwiseState& s, int64_t count, PreparePools* pools,
                            PreparedOp* out);
// int16 ADD (sign 1) / SUB (sign −1) on avx512vnni: portable::Qs16AddSub on out's ElementwiseState.
void PrepareFastAddSub16(int32_t sign, PreparePools* pools, PreparedOp* out);
// LUT: int8 → int8 by the reference's 256 results; int16 → int8 / int16 (out_type) by
// portable::Qs16Lut on out's LutState (its table covers every int16 code).
void PrepareFastLut(const LutState& s, ElementType in, ElementType out_type, PreparePools* pools, PreparedOp* out);
void PrepareFastTranspose(const TransposeState& s, int32_t element_size, PreparePools* pools, PreparedOp* out);
// Any element type (portable/misc.h): GATHER (element sizes 1, 2, 4), PAD in constant mode.
void PrepareFastGather(int32_t element_size, PreparePools* pools, PreparedOp* out);
void PrepareFastPad(const PadState& s, ElementType type, PreparePools* pools, PreparedOp* out);
void PrepareFastSoftmax(const ref::SoftmaxParams& p, bool dynamic_mask, PreparePools* pools, PreparedOp* out);
// REQUANTIZE: the reference's output per input code tabulated (an int16 input only for at
// least 4096 elements: its table has 65536 entries; on avx512vnni an int16 input takes
// x86::Qs16RequantizeAvx512 instead).
void PrepareFastRequantize(const RequantizeState& s, ElementType in, ElementType out_type, PreparePools* pools,
                           PreparedOp* out);
// CONV_TRANSPOSE_2D (int8) with stride = kernel, dilation 1, groups = 1, end pads >= 0
// (end_pads_ok): one GEMM over the input positions, scattered into the output.
void PrepareFastConvTranspose(const ref::Conv2DParams& p, const TensorDesc& w, const TensorDesc* bias, bool end_pads_ok,
                              PreparePools* pools, PreparedOp* out);
// RESIZE in nearest mode (8-bit codes, or int16 without a requantization).
void PrepareFastResize(const ref::ResizeParams& p, ElementType type, PreparePools* pools, PreparedOp* out);
// CONCAT of 8-bit codes with requantized inputs (s gains its tables; out->params is set to it).
void PrepareFastConcat(ConcatState* s, ElementType type, PreparePools* pools, PreparedOp* out);
// LAYER_NORM with int8 codes, or (int16 set, avx512vnni only) int16 codes.
void PrepareFastLayerNorm(const ref::LayerNormParams& p, bool int16, PreparePools* pools, PreparedOp* out);
// MAX_POOL_2D / AVERAGE_POOL_2D (int8 or int16, dilation 1; a global int8 average by its own kernel).
void PrepareFastPool(const ref::Pool2DParams& p, bool is_max, bool int16, PreparePools* pools, PreparedOp* out);
// HADAMARD (out's HadamardState) on avx512vnni when its Sylvester segments (block / k) have at
// least 16 channels: x86::HadamardAvx512; the other sets and blocks keep the reference.
void PrepareFastHadamard(const ref::HadamardParams& p, bool int16, PreparePools* pools, PreparedOp* out);

}  // namespace squint::rt::prep
