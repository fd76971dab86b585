#include "runtime/requant_derive.h"

#include <cmath>
#include <limits>

namespace squint::rt {

QuantizedMultiplier RequantFromReal(double m) {
  QuantizedMultiplier q = QuantizeMultiplier(m);
  if (q.shift > 30) {  // M >= 2^30: no kernel can use it; saturate to the largest
    q.multiplier = std::numeric_limits<int32_t>::max();
    q.shift = 30;
  }
  return q;
}

QuantizedMultiplier ProductRequant(double s_x, double s_w, double s_y) { return RequantFromReal(s_x * s_w / s_y); }

float GroupCommonScale(const float* group_scales, int64_t groups) {
  float common = 0.0f;
  for (int64_t g = 0; g < groups; ++g) common = common < group_scales[g] ? group_scales[g] : common;
  return common > 0.0f ? common : 1.0f;  // no group scale: any positive common scale
}

AddRequantParams AddRequant(double s_a, double s_b, double s_out, int32_t left_shift) {
  AddRequantParams p;
  p.left_shift = left_shift;
  const double twice_max = 2.0 * (s_a < s_b ? s_b : s_a);
  p.a = RequantFromReal(s_a / twice_max);
  p.b = RequantFromReal(s_b / twice_max);
  p.out = RequantFromReal(twice_max / (std::ldexp(1.0, left_shift) * s_out));
  return p;
}

QuantizedMultiplier RatioRequant(double s_in, double s_out, int32_t fraction_bits) {
  return RequantFromReal(s_in / (s_out * std::ldexp(1.0, fraction_bits)));
}

QuantizedMultiplier HadamardRequant(double s_in, double s_out, int32_t block) {
  return RequantFromReal(s_in / (std::sqrt(static_cast<double>(block)) * s_out));
}

namespace {

// The single `requant` of an op's options, or null (ADD/SUB/MUL, CONCAT, ops without one).
const fb::Requantization* SingleRequant(const fb::Operator& op) {
  switch (op.options_type()) {
    case fb::OpOptions::Conv2DOptions: return op.options_as_Conv2DOptions()->requant();
    case fb::OpOptions::FullyConnectedOptions: return op.options_as_FullyConnectedOptions()->requant();
    case fb::OpOptions::BatchMatMulOptions: return op.options_as_BatchMatMulOptions()->requant();
    case fb::OpOptions::LayerNormOptions: return op.options_as_LayerNormOptions()->requant();
    case fb::OpOptions::Pool2DOptions: return op.options_as_Pool2DOptions()->requant();
    case fb::OpOptions::ResizeOptions: return op.options_as_ResizeOptions()->requant();
    case fb::OpOptions::RequantizeOptions: return op.options_as_RequantizeOptions()->requant();
    case fb::OpOptions::HadamardOptions: return op.options_as_HadamardOptions()->requant();
    case fb::OpOptions::MeanOptions: return op.options_as_MeanOptions()->requant();
    default: return nullptr;
  }
}

// Tensor k of `list` (inputs or outputs) with affine quantization, or null.
const TensorDesc* Affine(const Model& m, const flatbuffers::Vector<int32_t>* list, uint32_t k) {
  if (list == nullptr || k >= list->size()) return nullptr;
  const int32_t t = list->Get(k);
  if (t < 0 || t >= m.num_tensors()) return nullptr;
  const TensorDesc& d = m.tensor(t);
  return d.quant != nullptr ? &d : nullptr;
}

}  // namespace

const fb::Requantization* RequantAt(const fb::Operator& op, int32_t slot) {
  if (op.options() == nullptr || slot < 0) return nullptr;
  if (slot == 0 && SingleRequant(op) != nullptr) return SingleRequant(op);
  if (const fb::ElementwiseOptions* e = op.options_as_ElementwiseOptions())
    return slot == 0 ? e->input1() : slot == 1 ? e->input2() : slot == 2 ? e->output() : nullptr;
  if (const fb::ConcatOptions* c = op.options_as_ConcatOptions(); c != nullptr && c->requant() != nullptr)
    return static_cast<uint32_t>(slot) < c->requant()->size() ? c->requant()->Get(static_cast<uint32_t>(slot)) : nullptr;
  return nullptr;
}

int32_t NumRequantSlots(const fb::Operator& op) {
  if (op.options() == nullptr) return 0;
  if (SingleRequant(op) != nullptr) return 1;
  if (op.options_as_ElementwiseOptions() != nullptr) return 3;
  if (const fb::ConcatOptions* c = op.options_as_ConcatOptions(); c != nullptr && c->requant() != nullptr)
    return static_cast<int32_t>(c->requant()->size());
  return 0;
}

int32_t RequantSlot(const fb::Operator& op, const fb::Requantization* r) {
  if (r == nullptr) return -1;
  for (int32_t slot = 0, n = NumRequantSlots(op); slot < n; ++slot)
    if (RequantAt(op, slot) == r) return slot;
  return -1;
}

bool DeriveRequant(const Model& m, int32_t index, int32_t slot, TempVec<QuantizedMultiplier>* out) {
  out->clear();
  if (index < 0 || index >= m.num_operators() || slot < 0) return false;
  const fb::Operator& op = *m.op(index);
  const auto* in = op.inputs();
  const TensorDesc* x = Affine(m, in, 0);
  const TensorDesc* y = Affine(m, op.outputs(), 0);
  if (y == nullptr) return false;
  const double s_y = y->scale;
  switch (op.opcode()) {
    case fb::OpCode::CONV_2D:
    case fb::OpCode::FULLY_CONNECTED:
    case fb::OpCode::CONV_TRANSPOSE_2D: {
      const TensorDesc* w = Affine(m, in, 1);
      if (slot != 0 || x == nullptr || w == nullptr || !w->is_constant) return false;
      const auto* s_w = w->quant->scale();
      if (w->group_size > 0) {  // the loader checked: dims[0] units x (scale count / units) groups
        const int64_t units = w->dims[0], groups = static_cast<int64_t>(s_w->size()) / units;
        for (int64_t u = 0; u < units; ++u)
          out->push_back(ProductRequant(x->scale, GroupCommonScale(s_w->data() + u * groups, groups), s_y));
      } else {
        for (uint32_t c = 0; c < s_w->size(); ++c) out->push_back(ProductRequant(x->scale, s_w->Get(c), s_y));
      }
      return true;
    }
    case fb::OpCode::BATCH_MATMUL:
    case fb::OpCode::MUL: {
      const TensorDesc* b = Affine(m, in, 1);
      if (slot != (op.opcode() == fb::OpCode::MUL ? 2 : 0) || x == nullptr || b == nullptr) return false;
      out->push_back(ProductRequant(x->scale, b->scale, s_y));
      return true;
    }
    case fb::OpCode::ADD:
    case fb::OpCode::SUB: {
      const TensorDesc* b = Affine(m, in, 1);
      const fb::ElementwiseOptions* e = op.options_as_ElementwiseOptions();
      if (x == nullptr || b == nullptr || e == nullptr || slot > 2) return false;
      const AddRequantParams p = AddRequant(x->scale, b->scale, s_y, e->left_shift());
      out->push_back(slot == 0 ? p.a : slot == 1 ? p.b : p.out);
      return true;
    }
    case fb::OpCode::MAX_POOL_2D:  // only the clamp range is read; the quantizer writes M = 1
      if (slot != 0) return false;
      out->push_back(RequantFromReal(1.0));
      return true;
    case fb::OpCode::AVERAGE_POOL_2D:
    case fb::OpCode::MEAN:
      if (slot != 0 || x == nullptr) return false;
      out->push_back(RatioRequant(x->scale, s_y, ref::kAvgPoolFractionBits));
      return true;
    case fb::OpCode::RESIZE: {
      const fb::ResizeOptions* o = op.options_as_ResizeOptions();
      if (slot != 0 || x == nullptr || o == nullptr) return false;
      out->push_back(RatioRequant(x->scale, s_y, o->mode() == 1 ? ref::kResizeFractionBits : 0));
      return true;
    }
    case fb::OpCode::REQUANTIZE:
      if (slot != 0 || x == nullptr) return false;
      out->push_back(RatioRequant(x->scale, s_y, 0));
      return true;
    case fb::OpCode::CONCAT: {
      const TensorDesc* xk = Affine(m, in, static_cast<uint32_t>(slot));
      if (xk == nullptr) return false;
      out->push_back(RatioRequant(xk->scale, s_y, 0));
      return true;
    }
    case fb::OpCode::HADAMARD: {
      const fb::HadamardOptions* o = op.options_as_HadamardOptions();
      if (slot != 0 || x == nullptr || o == nullptr || o->block() < 1) return false;
      out->push_back(HadamardRequant(x->scale, s_y, o->block()));
      return true;
    }
    default: return false;  // LAYER_NORM (its multiplier depends on γ, not stored as floats) and ops without one
  }
}

bool DeriveRequant(const Model& m, int32_t index, int32_t slot, std::vector<QuantizedMultiplier>* out) {
  TempVec<QuantizedMultiplier> pairs;
  const bool ok = DeriveRequant(m, index, slot, &pairs);
  out->assign(pairs.begin(), pairs.end());
  return ok;
}

}  // namespace squint::rt
