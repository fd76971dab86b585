#include "export/sqnt_compact.h"

#include <cstring>
#include <map>
#include <vector>

#include "runtime/requant_derive.h"

namespace squint::exporter {
namespace {

// The requantizations of an op's options, indexed by slot (rt::RequantSlot); null where absent.
std::vector<fb::RequantizationT*> Requants(fb::OperatorT& op) {
  fb::OpOptionsUnion& o = op.options;
  switch (o.type) {
    case fb::OpOptions::Conv2DOptions: return {o.AsConv2DOptions()->requant.get()};
    case fb::OpOptions::FullyConnectedOptions: return {o.AsFullyConnectedOptions()->requant.get()};
    case fb::OpOptions::BatchMatMulOptions: return {o.AsBatchMatMulOptions()->requant.get()};
    case fb::OpOptions::LayerNormOptions: return {o.AsLayerNormOptions()->requant.get()};
    case fb::OpOptions::Pool2DOptions: return {o.AsPool2DOptions()->requant.get()};
    case fb::OpOptions::ResizeOptions: return {o.AsResizeOptions()->requant.get()};
    case fb::OpOptions::RequantizeOptions: return {o.AsRequantizeOptions()->requant.get()};
    case fb::OpOptions::HadamardOptions: return {o.AsHadamardOptions()->requant.get()};
    case fb::OpOptions::MeanOptions: return {o.AsMeanOptions()->requant.get()};
    case fb::OpOptions::ElementwiseOptions: {
      fb::ElementwiseOptionsT* e = o.AsElementwiseOptions();
      return {e->input1.get(), e->input2.get(), e->output.get()};
    }
    case fb::OpOptions::ConcatOptions: {
      std::vector<fb::RequantizationT*> out;
      for (auto& r : o.AsConcatOptions()->requant) out.push_back(r.get());
      return out;
    }
    default: return {};
  }
}

bool SameAsDerived(const fb::RequantizationT& r, const std::vector<rt::QuantizedMultiplier>& d) {
  if (r.multiplier.size() != d.size()) return false;
  for (size_t i = 0; i < d.size(); ++i) {
    const int32_t shift = r.shift.empty() ? r.shift8[i] : r.shift[i];
    if (r.multiplier[i] != d[i].multiplier || shift != d[i].shift) return false;
  }
  return true;
}

template <typename T>
bool FitsInt8(const std::vector<T>& v) {
  for (T x : v)
    if (x < -128 || x > 127) return false;
  return true;
}
bool FitsInt16(const std::vector<int32_t>& v) {
  for (int32_t x : v)
    if (x < -32768 || x > 32767) return false;
  return true;
}

}  // namespace

namespace {

// Calls requant(r, derived) for every requantization r of every op (derived: the pairs
// rt::DeriveRequant gives for it, empty when it has no rule) and lut(options, output type) for
// every LUT.
template <typename RequantFn, typename LutFn>
void ForEachParam(const rt::Model& loaded, fb::ModelT* model, RequantFn requant, LutFn lut) {
  std::vector<rt::QuantizedMultiplier> derived;
  for (size_t i = 0; i < model->operators.size(); ++i) {
    fb::OperatorT& op = *model->operators[i];
    const std::vector<fb::RequantizationT*> slots = Requants(op);
    for (size_t slot = 0; slot < slots.size(); ++slot) {
      if (slots[slot] == nullptr) continue;
      if (!rt::DeriveRequant(loaded, static_cast<int32_t>(i), static_cast<int32_t>(slot), &derived)) derived.clear();
      requant(slots[slot], derived);
    }
    if (fb::LutOptionsT* o = op.options.AsLutOptions()) {
      const int32_t y = op.outputs.empty() ? -1 : op.outputs[0];
      lut(o, y >= 0 && static_cast<size_t>(y) < model->tensors.size() ? model->tensors[static_cast<size_t>(y)]->type
                                                                       : fb::ElementType::INT16);
    }
  }
}

// Constant uint8 softmax masks of 0/1 values that no op reads as an input become BIT tensors.
void PackMasks(fb::ModelT* model) {
  std::vector<bool> op_input(model->tensors.size(), false);
  for (const auto& op : model->operators)
    for (int32_t t : op->inputs)
      if (t >= 0 && static_cast<size_t>(t) < op_input.size()) op_input[static_cast<size_t>(t)] = true;
  for (const auto& op : model->operators) {
    const fb::SoftmaxOptionsT* o = op->options.AsSoftmaxOptions();
    if (o == nullptr || o->mask < 0 || static_cast<size_t>(o->mask) >= model->tensors.size()) continue;
    fb::TensorT& t = *model->tensors[static_cast<size_t>(o->mask)];
    if (t.type != fb::ElementType::UINT8 || op_input[static_cast<size_t>(o->mask)] || t.buffer == 0 ||
        t.buffer >= model->buffers.size() || t.quantization.type != fb::Quantization::NONE)
      continue;
    const std::vector<uint8_t>& bytes = model->buffers[t.buffer]->data;
    bool zero_one = true;
    for (uint8_t v : bytes) zero_one = zero_one && v <= 1;
    if (!zero_one) continue;
    auto packed = std::make_unique<fb::BufferT>();  // a buffer of its own: others may share the bytes
    packed->data.assign((bytes.size() + 7) / 8, 0);
    for (size_t i = 0; i < bytes.size(); ++i) packed->data[i / 8] |= static_cast<uint8_t>(bytes[i] << (i % 8));
    model->buffers.push_back(std::move(packed));
    t.buffer = static_cast<uint32_t>(model->buffers.size() - 1);
    t.type = fb::ElementType::BIT;
  }
}

// INT32 constants whose values all fit int16 are stored as int16 (Tensor.int16_storage).
void NarrowInt32Constants(fb::ModelT* model) {
  for (auto& t : model->tensors) {
    if (t->type != fb::ElementType::INT32 || t->int16_storage || t->buffer == 0 || t->buffer >= model->buffers.size())
      continue;
    const std::vector<uint8_t>& bytes = model->buffers[t->buffer]->data;
    std::vector<int32_t> values(bytes.size() / 4);
    std::memcpy(values.data(), bytes.data(), values.size() * 4);
    if (values.empty() || !FitsInt16(values)) continue;
    auto narrow = std::make_unique<fb::BufferT>();  // a buffer of its own: others may share the bytes
    narrow->data.resize(values.size() * 2);
    for (size_t i = 0; i < values.size(); ++i) {
      const auto v = static_cast<int16_t>(values[i]);
      std::memcpy(narrow->data.data() + 2 * i, &v, sizeof v);
    }
    model->buffers.push_back(std::move(narrow));
    t->buffer = static_cast<uint32_t>(model->buffers.size() - 1);
    t->int16_storage = true;
  }
}

// Calls fn(table, int8_input) for every SOFTMAX's exp table.
template <typename Fn>
void ForEachExpTable(fb::ModelT* model, Fn fn) {
  for (auto& op : model->operators) {
    fb::SoftmaxOptionsT* o = op->options.AsSoftmaxOptions();
    if (o == nullptr || op->inputs.empty() || op->inputs[0] < 0 ||
        static_cast<size_t>(op->inputs[0]) >= model->tensors.size())
      continue;
    fn(&o->exp_table, model->tensors[static_cast<size_t>(op->inputs[0])]->type == fb::ElementType::INT8);
  }
}

}  // namespace

void CompactModel(const rt::Model& loaded, fb::ModelT* model) {
  auto requant = [](fb::RequantizationT* r, const std::vector<rt::QuantizedMultiplier>& derived) {
    if (r->multiplier.empty()) return;
    if (!derived.empty() && SameAsDerived(*r, derived)) {
      r->multiplier.clear();
      r->shift.clear();
      r->shift8.clear();
    } else if (!r->shift.empty() && FitsInt8(r->shift)) {
      r->shift8.assign(r->shift.begin(), r->shift.end());
      r->shift.clear();
    }
  };
  auto lut = [](fb::LutOptionsT* o, fb::ElementType out) {
    if (out == fb::ElementType::INT8 && !o->table.empty() && FitsInt8(o->table)) {
      o->table8.assign(o->table.begin(), o->table.end());
      o->table.clear();
    }
  };
  ForEachParam(loaded, model, requant, lut);
  ForEachExpTable(model, [](std::vector<int32_t>* table, bool int8_input) {  // trailing zeros left out
    if (int8_input)
      while (table->size() > 1 && table->back() == 0) table->pop_back();
  });
  PackMasks(model);
  NarrowInt32Constants(model);
  // One buffer per distinct content, in the order of first use by the tensors.
  std::vector<std::unique_ptr<fb::BufferT>> buffers;
  buffers.push_back(std::make_unique<fb::BufferT>());
  std::map<std::vector<uint8_t>, uint32_t> index;
  for (auto& t : model->tensors) {
    if (t->buffer == 0 || t->buffer >= model->buffers.size()) continue;
    std::vector<uint8_t>& data = model->buffers[t->buffer]->data;
    auto [it, added] = index.emplace(data, static_cast<uint32_t>(buffers.size()));
    if (added) {
      buffers.push_back(std::make_unique<fb::BufferT>());
      buffers.back()->data = data;
    }
    t->buffer = it->second;
  }
  model->buffers = std::move(buffers);
  model->schema_version_minor = 1;
}

void ExpandModel(const rt::Model& loaded, fb::ModelT* model) {
  auto requant = [](fb::RequantizationT* r, const std::vector<rt::QuantizedMultiplier>& derived) {
    if (!r->shift8.empty()) {
      r->shift.assign(r->shift8.begin(), r->shift8.end());
      r->shift8.clear();
    } else if (r->multiplier.empty() && r->shift.empty()) {
      for (const rt::QuantizedMultiplier& q : derived) {
        r->multiplier.push_back(q.multiplier);
        r->shift.push_back(q.shift);
      }
    }
  };
  auto lut = [](fb::LutOptionsT* o, fb::ElementType) {
    if (o->table8.empty()) return;
    o->table.assign(o->table8.begin(), o->table8.end());
    o->table8.clear();
  };
  ForEachParam(loaded, model, requant, lut);
  ForEachExpTable(model, [](std::vector<int32_t>* table, bool int8_input) {
    if (int8_input && !table->empty() && table->size() < 256) table->resize(256, 0);
  });
  // One buffer per constant tensor, in tensor order (as 1.0 writers made them).
  std::vector<std::unique_ptr<fb::BufferT>> buffers;
  buffers.push_back(std::make_unique<fb::BufferT>());
  for (auto& t : model->tensors) {
    if (t->buffer == 0 || t->buffer >= model->buffers.size()) continue;
    buffers.push_back(std::make_unique<fb::BufferT>(*model->buffers[t->buffer]));
    t->buffer = static_cast<uint32_t>(buffers.size() - 1);
  }
  model->buffers = std::move(buffers);
  for (auto& t : model->tensors) {  // BIT masks back to one uint8 per element (each its own buffer now)
    if (t->type != fb::ElementType::BIT || t->buffer == 0 || t->buffer >= model->buffers.size()) continue;
    int64_t count = 1;
    for (int32_t d : t->shape) count *= d;
    const std::vector<uint8_t>& bits = model->buffers[t->buffer]->data;
    std::vector<uint8_t> bytes(static_cast<size_t>(count));
    for (size_t i = 0; i < bytes.size() && i / 8 < bits.size(); ++i) bytes[i] = (bits[i / 8] >> (i % 8)) & 1;
    model->buffers[t->buffer]->data = std::move(bytes);
    t->type = fb::ElementType::UINT8;
  }
  for (auto& t : model->tensors) {  // int16-stored int32 constants back to int32
    if (!t->int16_storage || t->buffer == 0 || t->buffer >= model->buffers.size()) continue;
    const std::vector<uint8_t>& narrow = model->buffers[t->buffer]->data;
    std::vector<uint8_t> wide(narrow.size() * 2);
    for (size_t i = 0; i + 1 < narrow.size(); i += 2) {
      int16_t v = 0;
      std::memcpy(&v, narrow.data() + i, sizeof v);
      const int32_t w = v;
      std::memcpy(wide.data() + 2 * i, &w, sizeof w);
    }
    model->buffers[t->buffer]->data = std::move(wide);
    t->int16_storage = false;
  }
  model->schema_version_minor = 0;
}

namespace {

// A tensor as fb::CreateTensor packs it, but names, shapes and affine quantizations equal to an
// earlier tensor's are stored once (FlatBuffers offsets may share a string, vector or table).
// Every field of table Tensor is passed below: a field added to the schema must be added here.
class SharingTensorPacker {
 public:
  explicit SharingTensorPacker(flatbuffers::FlatBufferBuilder* fbb) : fbb_(*fbb) {}

  flatbuffers::Offset<fb::Tensor> Pack(const fb::TensorT& t) {
    const auto name = t.name.empty() ? 0 : fbb_.CreateSharedString(t.name);
    flatbuffers::Offset<flatbuffers::Vector<int32_t>> shape = 0;
    if (!t.shape.empty()) {
      auto [it, added] = shapes_.emplace(t.shape, 0);
      if (added) it->second = fbb_.CreateVector(t.shape);
      shape = it->second;
    }
    flatbuffers::Offset<void> quant = 0;
    if (const fb::AffineQuantizationT* q = t.quantization.AsAffineQuantization()) {
      std::vector<int64_t> key(q->scale.size() + q->zero_point.size() + 4);
      size_t k = 0;
      key[k++] = static_cast<int64_t>(q->scale.size());
      for (float v : q->scale) {
        uint32_t bits = 0;
        std::memcpy(&bits, &v, sizeof bits);
        key[k++] = bits;
      }
      for (int32_t z : q->zero_point) key[k++] = z;
      key[k++] = q->axis;
      key[k++] = q->group_size;
      auto [it, added] = affine_.emplace(std::move(key), 0);
      if (added) it->second = t.quantization.Pack(fbb_);
      quant = it->second;
    } else {
      quant = t.quantization.Pack(fbb_);
    }
    return fb::CreateTensor(fbb_, name, t.type, shape, t.quantization.type, quant, t.buffer, t.arena_offset,
                            t.int16_storage);
  }

 private:
  flatbuffers::FlatBufferBuilder& fbb_;
  std::map<std::vector<int32_t>, flatbuffers::Offset<flatbuffers::Vector<int32_t>>> shapes_;
  std::map<std::vector<int64_t>, flatbuffers::Offset<void>> affine_;
};

}  // namespace

std::string PackModel(const fb::ModelT& m, size_t small_alignment) {
  flatbuffers::FlatBufferBuilder fbb(1 << 16);
  fbb.ForceDefaults(false);
  const bool compact = m.schema_version_minor >= 1;
  // The order of fb::CreateModel(fbb, const ModelT*): tensors, operators, inputs, outputs, buffers.
  std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
  SharingTensorPacker sharing(&fbb);
  for (const auto& t : m.tensors) tensors.push_back(compact ? sharing.Pack(*t) : fb::CreateTensor(fbb, t.get()));
  const auto tensors_off = m.tensors.empty() ? 0 : fbb.CreateVector(tensors);
  std::vector<flatbuffers::Offset<fb::Operator>> ops;
  for (const auto& op : m.operators) ops.push_back(fb::CreateOperator(fbb, op.get()));
  const auto ops_off = m.operators.empty() ? 0 : fbb.CreateVector(ops);
  const auto inputs_off = m.inputs.empty() ? 0 : fbb.CreateVector(m.inputs);
  const auto outputs_off = m.outputs.empty() ? 0 : fbb.CreateVector(m.outputs);
  std::vector<flatbuffers::Offset<fb::Buffer>> buffers;
  for (const auto& b : m.buffers) {
    fbb.ForceVectorAlignment(b->data.size(), sizeof(uint8_t), b->data.size() >= 64 ? 64 : small_alignment);
    const auto data = b->data.empty() ? 0 : fbb.CreateVector(b->data);
    buffers.push_back(fb::CreateBuffer(fbb, data));
  }
  const auto buffers_off = m.buffers.empty() ? 0 : fbb.CreateVector(buffers);
  const auto plan = m.plan ? fb::CreateMemoryPlan(fbb, m.plan.get()) : 0;
  const auto provenance = m.provenance ? fb::CreateProvenance(fbb, m.provenance.get()) : 0;
  fb::FinishModelBuffer(fbb, fb::CreateModel(fbb, m.schema_version_major, m.schema_version_minor, tensors_off, ops_off,
                                             inputs_off, outputs_off, buffers_off, plan, provenance, m.batch));
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

}  // namespace squint::exporter
