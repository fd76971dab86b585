#include "runtime/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/planner.h"

namespace squint::rt {
namespace {

Status Invalid(const char* format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

Status Invalid(const char* format, ...) {
  char message[Status::kMaxMessage];
  va_list args;
  va_start(args, format);
  std::vsnprintf(message, sizeof(message), format, args);
  va_end(args);
  return Status::Error(StatusCode::kInvalidModel, "%s", message);
}

bool ZeroPointInRange(fb::ElementType type, int32_t z) {
  switch (type) {
    case fb::ElementType::INT8: return z >= -128 && z <= 127;
    case fb::ElementType::UINT8: return z >= 0 && z <= 255;
    case fb::ElementType::INT16: return z >= -32768 && z <= 32767;
    case fb::ElementType::INT32: return true;
    case fb::ElementType::INT4: return z >= -8 && z <= 7;
    case fb::ElementType::BIT: return false;  // masks carry no quantization
  }
  return false;
}

// The rules of schema LogGridQuantization; fills the kernels' view of the tables.
Status CheckLogGrid(int32_t index, const TensorDesc& d, const fb::LogGridQuantization& q, ref::LogGrid* grid) {
  if (q.bits() < 2 || q.bits() > 8)
    return Invalid("tensor %d '%s': log-grid quantization bits %d outside [2, 8]", index, d.name, q.bits());
  if (d.type != fb::ElementType::INT8 && d.type != fb::ElementType::UINT8)
    return Invalid("tensor %d '%s': log-grid quantization on a %s tensor, expected int8 or uint8", index, d.name,
                   ElementTypeName(d.type));
  if (d.is_constant)
    return Invalid("tensor %d '%s': log-grid quantization on a constant (only SOFTMAX outputs)", index, d.name);
  const float delta = q.delta(), eta = q.eta();
  if (!(delta >= 0x1p-20f && delta <= 2.0f) || !(eta >= 0.0f && eta <= 1.0f))
    return Invalid("tensor %d '%s': log-grid delta %g / eta %g, expected 2^-20 <= delta <= 2 and 0 <= eta <= 1", index,
                   d.name, static_cast<double>(delta), static_cast<double>(eta));
  const auto* th = q.thresholds();
  const auto *sh = q.shifts(), *r2 = q.sqrt2();
  const uint32_t n = sh == nullptr ? 0 : sh->size();
  const uint32_t max_n = std::min<uint32_t>(uint32_t{1} << q.bits(), ref::kLogGridMaxCodes);
  if (n < 2 || n > max_n)
    return Invalid("tensor %d '%s': log grid of %u codes, expected 2 to %u for %d bits", index, d.name, n, max_n,
                   q.bits());
  if (th == nullptr || th->size() != n || (r2 != nullptr && r2->size() != n))
    return Invalid("tensor %d '%s': log grid needs %u thresholds (has %u) and 0 or %u sqrt2 flags (has %u)", index,
                   d.name, n, th ? th->size() : 0, n, r2 ? r2->size() : 0);
  int32_t max_shift = 0;
  for (uint32_t j = 0; j < n; ++j) {
    if (th->Get(j) > ref::kLogGridOne + 1 || (j > 0 && th->Get(j) > th->Get(j - 1)))
      return Invalid("tensor %d '%s': log-grid threshold[%u] = %u: thresholds must be non-increasing and <= 2^30 + 1",
                     index, d.name, j, th->Get(j));
    if (sh->Get(j) > ref::kLogGridMaxShift)
      return Invalid("tensor %d '%s': log-grid shift[%u] = %u exceeds %d", index, d.name, j, sh->Get(j),
                     ref::kLogGridMaxShift);
    if (r2 != nullptr && r2->Get(j) > 1)
      return Invalid("tensor %d '%s': log-grid sqrt2[%u] = %u, expected 0 or 1", index, d.name, j, r2->Get(j));
    max_shift = std::max<int32_t>(max_shift, sh->Get(j));
  }
  grid->n = static_cast<int32_t>(n);
  grid->thresholds = th->data();
  grid->shifts = sh->data();
  grid->sqrt2 = r2 == nullptr ? nullptr : r2->data();
  grid->max_shift = max_shift;
  grid->eta_q = ref::LogGridEtaQ(delta, eta, max_shift);
  return Status::Ok();
}

}  // namespace

int32_t ElementSize(fb::ElementType type) {
  switch (type) {
    case fb::ElementType::INT8: return 1;
    case fb::ElementType::UINT8: return 1;
    case fb::ElementType::INT16: return 2;
    case fb::ElementType::INT32: return 4;
    case fb::ElementType::INT4: return 1;  // the byte holding two elements (TensorBytes)
    case fb::ElementType::BIT: return 1;   // the byte holding eight
  }
  return 0;
}

const char* ElementTypeName(fb::ElementType type) {
  switch (type) {
    case fb::ElementType::INT8: return "int8";
    case fb::ElementType::UINT8: return "uint8";
    case fb::ElementType::INT16: return "int16";
    case fb::ElementType::INT32: return "int32";
    case fb::ElementType::INT4: return "int4";
    case fb::ElementType::BIT: return "bit";
  }
  return "unknown";
}

const char* SoftmaxGridName(fb::SoftmaxGrid kind) {
  switch (kind) {
    case fb::SoftmaxGrid::LOG2: return "log2";
    case fb::SoftmaxGrid::LOG_SQRT2: return "logsqrt2";
    case fb::SoftmaxGrid::SULQ: return "sulq";
  }
  return "unknown";
}

int64_t TensorBytes(fb::ElementType type, int64_t count) {
  if (type == fb::ElementType::INT4) return (count + 1) / 2;
  if (type == fb::ElementType::BIT) return (count + 7) / 8;
  return count * ElementSize(type);
}

const char* OpCodeName(fb::OpCode code) {
  if (code > fb::OpCode::MAX) return "UNKNOWN";
  return fb::EnumNameOpCode(code);
}

const char* Model::op_name(int32_t i) const {
  const flatbuffers::String* name = op(i)->name();
  return name ? name->c_str() : "";
}

Status Model::Load(const uint8_t* data, size_t size) {
  if (fb_ != nullptr) return Status::Error(StatusCode::kFailedPrecondition, "model already loaded");
  if (data == nullptr) return Status::Error(StatusCode::kInvalidArgument, "model buffer is null");
  if (reinterpret_cast<uintptr_t>(data) % kModelAlignment != 0)
    return Status::Error(StatusCode::kInvalidArgument,
                         "model buffer address is not %zu-byte aligned (64 recommended)", kModelAlignment);
  if (size < 8) return Invalid("file is %zu bytes, too short for a .sqnt header (8 bytes)", size);
  if (size >= FLATBUFFERS_MAX_BUFFER_SIZE)
    return Invalid("file is %zu bytes, larger than the FlatBuffers limit of 2 GiB", size);
  if (!fb::ModelBufferHasIdentifier(data)) {
    char id[5];
    for (int i = 0; i < 4; ++i) {
      const char c = static_cast<char>(data[4 + i]);
      id[i] = (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    id[4] = '\0';
    return Invalid("file identifier is '%s', expected '%s' (not a .sqnt file)", id, fb::ModelIdentifier());
  }
  flatbuffers::Verifier verifier(data, size, /*max_depth=*/64, /*max_tables=*/1u << 22);
  if (!fb::VerifyModelBuffer(verifier))
    return Invalid("FlatBuffers verification failed (truncated or corrupted file)");
  const fb::Model* m = fb::GetModel(data);

  const uint16_t major = m->schema_version_major(), minor = m->schema_version_minor();
  if (major != kSchemaVersionMajor || minor > kSchemaVersionMinor)
    return Status::Error(StatusCode::kUnsupportedVersion,
                         "model schema version %u.%u is %s this runtime's %u.%u", major, minor,
                         (major > kSchemaVersionMajor || (major == kSchemaVersionMajor && minor > kSchemaVersionMinor))
                             ? "newer than"
                             : "incompatible with",
                         kSchemaVersionMajor, kSchemaVersionMinor);

  if (m->tensors() == nullptr) return Invalid("model has no tensors vector");
  if (m->inputs() == nullptr || m->inputs()->size() == 0) return Invalid("model has no inputs");
  if (m->outputs() == nullptr || m->outputs()->size() == 0) return Invalid("model has no outputs");
  if (m->tensors()->size() > kMaxTensors)
    return Invalid("model has %u tensors, more than the limit %u", m->tensors()->size(), kMaxTensors);
  const uint32_t num_ops = m->operators() ? m->operators()->size() : 0;
  if (num_ops > kMaxOperators) return Invalid("model has %u operators, more than the limit %u", num_ops, kMaxOperators);
  if (m->buffers() != nullptr && m->buffers()->size() > 0) {
    const fb::Buffer* b0 = m->buffers()->Get(0);
    if (b0 != nullptr && b0->data() != nullptr && b0->data()->size() != 0)
      return Invalid("buffer 0 holds %u bytes; buffer 0 must be the empty buffer", b0->data()->size());
  }

  data_ = data;
  fb_ = m;  // needed by the helpers below; reset on failure
  num_operators_ = num_ops;
  tensors_.assign(m->tensors()->size(), TensorDesc());
  Status status;
  for (uint32_t i = 0; i < m->tensors()->size() && status.ok(); ++i)
    status = CheckTensor(static_cast<int32_t>(i), &tensors_[i]);
  if (status.ok()) status = CheckGraphAndPlan();
  if (!status.ok()) {
    fb_ = nullptr;
    data_ = nullptr;
    tensors_.clear();
    widened_.clear();
    inputs_.clear();
    outputs_.clear();
    num_operators_ = 0;
  }
  return status;
}

Status Model::CheckTensor(int32_t index, TensorDesc* d) {
  const fb::Tensor* t = fb_->tensors()->Get(index);
  if (t == nullptr) return Invalid("tensor %d is null", index);
  d->name = t->name() ? t->name()->c_str() : "";
  d->type = t->type();
  const int32_t element_size = ElementSize(d->type);
  if (element_size == 0)
    return Invalid("tensor %d '%s': element type %d is not one of int8, uint8, int16, int32, int4, bit", index, d->name,
                   static_cast<int>(d->type));
  // An absent shape is a scalar (writers omit empty vectors).
  const uint32_t rank = t->shape() ? t->shape()->size() : 0;
  if (rank > static_cast<uint32_t>(kMaxRank))
    return Invalid("tensor %d '%s': rank %u exceeds the runtime's limit of %d", index, d->name, rank, kMaxRank);
  d->rank = static_cast<int32_t>(rank);
  int64_t count = 1;
  for (uint32_t k = 0; k < rank; ++k) {
    const int32_t dim = t->shape()->Get(k);
    if (dim < 0) return Invalid("tensor %d '%s': dim %u is %d, dims must be >= 0", index, d->name, k, dim);
    d->dims[k] = dim;
    if (dim != 0 && count > kMaxElements / dim)
      return Invalid("tensor %d '%s': element count overflows the limit %lld at dim %u", index, d->name,
                     static_cast<long long>(kMaxElements), k);
    count *= dim;
  }
  d->num_elements = count;
  d->bytes = TensorBytes(d->type, count);

  // Constant data.
  const uint32_t buffer = t->buffer();
  if (buffer != 0) {
    const uint32_t num_buffers = fb_->buffers() ? fb_->buffers()->size() : 0;
    if (buffer >= num_buffers)
      return Invalid("tensor %d '%s': buffer index %u out of range [0, %u)", index, d->name, buffer, num_buffers);
    const fb::Buffer* b = fb_->buffers()->Get(buffer);
    const uint32_t size = (b != nullptr && b->data() != nullptr) ? b->data()->size() : 0;
    const bool int16_storage = t->int16_storage();
    if (int16_storage && d->type != fb::ElementType::INT32)
      return Invalid("tensor %d '%s': int16_storage on a %s tensor; only int32 constants are stored as int16", index,
                     d->name, ElementTypeName(d->type));
    const int64_t stored = int16_storage ? 2 * count : d->bytes;
    if (static_cast<int64_t>(size) != stored)
      return Invalid("tensor %d '%s': buffer %u holds %u bytes, expected %lld (%lld %s elements%s)", index, d->name,
                     buffer, size, static_cast<long long>(stored), static_cast<long long>(count),
                     ElementTypeName(d->type),
                     d->type == fb::ElementType::INT4 ? ", two per byte"
                     : int16_storage                  ? " stored as int16"
                                                      : "");
    if (d->type == fb::ElementType::INT4 && count % 2 == 1 && (b->data()->Get(size - 1) >> 4) != 0)
      return Invalid("tensor %d '%s': int4 tensor of odd count %lld has a nonzero padding nibble in its last byte",
                     index, d->name, static_cast<long long>(count));
    if (d->type == fb::ElementType::BIT && count % 8 != 0 && (b->data()->Get(size - 1) >> (count % 8)) != 0)
      return Invalid("tensor %d '%s': bit tensor of %lld elements has nonzero padding bits in its last byte", index,
                     d->name, static_cast<long long>(count));
    d->is_constant = true;
    d->data = size ? b->data()->data() : nullptr;
    if (int16_storage && size > 0) {  // little-endian int16 → int32 (FLATBUFFERS_LITTLEENDIAN: interpreter.cc)
      widened_.emplace_back(static_cast<size_t>(count));
      Vec<int32_t>& wide = widened_.back();
      for (int64_t i = 0; i < count; ++i) {
        int16_t v = 0;
        std::memcpy(&v, b->data()->data() + 2 * i, sizeof v);
        wide[static_cast<size_t>(i)] = v;
      }
      d->data = reinterpret_cast<const uint8_t*>(wide.data());
    }
    if (d->data != nullptr && reinterpret_cast<uintptr_t>(d->data) % static_cast<uintptr_t>(element_size) != 0)
      return Invalid("tensor %d '%s': buffer %u is not %d-byte aligned", index, d->name, buffer, element_size);
    if (t->arena_offset() != -1)
      return Invalid("tensor %d '%s': constant with arena_offset %lld, expected -1", index, d->name,
                     static_cast<long long>(t->arena_offset()));
  }

  if (t->int16_storage() && !d->is_constant)
    return Invalid("tensor %d '%s': int16_storage on an activation; only int32 constants are stored as int16", index,
                   d->name);
  if (d->type == fb::ElementType::INT4 && !d->is_constant)
    return Invalid("tensor %d '%s': int4 activation; int4 is only for constant weights (packed in a buffer)", index,
                   d->name);
  if (d->type == fb::ElementType::BIT && (!d->is_constant || t->quantization_type() != fb::Quantization::NONE))
    return Invalid("tensor %d '%s': bit tensor %s; bits are only for constant softmax masks (packed in a buffer, no "
                   "quantization)",
                   index, d->name, d->is_constant ? "with quantization" : "is an activation");

  // Quantization.
  switch (t->quantization_type()) {
    case fb::Quantization::NONE: break;
    case fb::Quantization::AffineQuantization: {
      const fb::AffineQuantization* q = t->quantization_as_AffineQuantization();
      if (q == nullptr) return Invalid("tensor %d '%s': quantization table missing", index, d->name);
      const uint32_t n = q->scale() ? q->scale()->size() : 0;
      if (n == 0) return Invalid("tensor %d '%s': quantization has no scale", index, d->name);
      const int32_t axis = q->axis();
      const int32_t group_size = q->group_size();
      if (group_size < 0)
        return Invalid("tensor %d '%s': quantization group_size %d, expected 0 (none) or > 0", index, d->name,
                       group_size);
      if (group_size > 0) {
        if (!d->is_constant || axis != 0 || d->rank < 2 || d->dims[0] == 0)
          return Invalid("tensor %d '%s': group_size %d needs a constant tensor of rank >= 2 with channels along "
                         "axis 0 (has axis %d, rank %d%s)",
                         index, d->name, group_size, axis, d->rank, d->is_constant ? "" : ", not constant");
        const int64_t row = count / d->dims[0];
        if (row % group_size != 0)
          return Invalid("tensor %d '%s': group_size %d does not divide the %lld elements per channel", index,
                         d->name, group_size, static_cast<long long>(row));
        const int64_t expected = int64_t{d->dims[0]} * (row / group_size);
        if (static_cast<int64_t>(n) != expected)
          return Invalid("tensor %d '%s': %u group scales, expected %lld (%d channels x %lld groups of %d)", index,
                         d->name, n, static_cast<long long>(expected), d->dims[0],
                         static_cast<long long>(row / group_size), group_size);
        d->per_channel = true;
        d->quant_axis = 0;
        d->group_size = group_size;
      } else if (axis == -1) {
        if (n != 1) return Invalid("tensor %d '%s': per-tensor quantization with %u scales, expected 1", index, d->name, n);
      } else {
        if (axis < 0 || axis >= d->rank)
          return Invalid("tensor %d '%s': quantization axis %d out of range for rank %d", index, d->name, axis, d->rank);
        if (static_cast<int64_t>(n) != d->dims[axis])
          return Invalid("tensor %d '%s': %u per-channel scales, expected dim %d along axis %d = %d", index, d->name,
                         n, axis, axis, d->dims[axis]);
        d->per_channel = true;
        d->quant_axis = axis;
      }
      if (q->zero_point() != nullptr && q->zero_point()->size() != n)
        return Invalid("tensor %d '%s': %u zero points for %u scales", index, d->name, q->zero_point()->size(), n);
      for (uint32_t k = 0; k < n; ++k) {
        const float s = q->scale()->Get(k);
        if (!(std::isfinite(s) && s > 0.0f))
          return Invalid("tensor %d '%s': scale[%u] = %g, scales must be positive and finite", index, d->name, k,
                         static_cast<double>(s));
        const int32_t z = q->zero_point() ? q->zero_point()->Get(k) : 0;
        if (!ZeroPointInRange(d->type, z))
          return Invalid("tensor %d '%s': zero_point[%u] = %d outside the %s range", index, d->name, k, z,
                         ElementTypeName(d->type));
      }
      d->quant = q;
      d->scale = q->scale()->Get(0);
      d->zero_point = q->zero_point() ? q->zero_point()->Get(0) : 0;
      break;
    }
    case fb::Quantization::LogGridQuantization: {
      const fb::LogGridQuantization* q = t->quantization_as_LogGridQuantization();
      if (q == nullptr) return Invalid("tensor %d '%s': quantization table missing", index, d->name);
      SQUINT_RT_RETURN_IF_ERROR(CheckLogGrid(index, *d, *q, &d->grid));
      d->log_grid = q;
      break;
    }
    default:
      return Invalid("tensor %d '%s': unsupported quantization kind %d", index, d->name,
                     static_cast<int>(t->quantization_type()));
  }
  return Status::Ok();
}

// Model.batch > 0 promises that every input and output leads with a batch of that many samples.
Status Model::CheckBatch() const {
  const int32_t batch = fb_->batch();
  if (batch == 0) return Status::Ok();
  if (batch < 0) return Invalid("model batch %d is negative (0: fixed shapes, > 0: samples per run)", batch);
  for (const Vec<int32_t>* list : {&inputs_, &outputs_}) {
    for (int32_t t : *list) {
      if (t < 0 || static_cast<size_t>(t) >= tensors_.size()) return Invalid("model I/O tensor index %d out of range", t);
      const TensorDesc& d = tensors_[static_cast<size_t>(t)];
      if (d.rank < 1 || d.dims[0] != batch)
        return Invalid("model batch %d: %s tensor %d '%s' does not lead with that dim (rank %d, first dim %d)", batch,
                       list == &inputs_ ? "input" : "output", t, d.name, d.rank, d.rank > 0 ? d.dims[0] : 0);
    }
  }
  return Status::Ok();
}

// A log-grid tensor is the output of a SOFTMAX and read only as the left operand (P) of BATCH_MATMUL:
// no other kernel knows its codes. Checked after the op lists are read, before planning.
Status Model::CheckLogGridUses(const PlanProblem& problem) const {
  // One pass over the ops (not one per log-grid tensor: a model has one per attention softmax).
  TempVec<uint8_t> produced(tensors_.size(), 0);
  auto log_grid = [&](int32_t t) {
    return t >= 0 && static_cast<size_t>(t) < tensors_.size() && tensors_[static_cast<size_t>(t)].log_grid != nullptr;
  };
  for (uint32_t i = 0; i < num_operators_; ++i) {
    const fb::OpCode code = fb_->operators()->Get(i)->opcode();
    for (int32_t out : problem.op_outputs[i]) {
      if (!log_grid(out)) continue;
      if (code != fb::OpCode::SOFTMAX)
        return Invalid("tensor %d '%s': log-grid quantization on an output of %s, only SOFTMAX may produce it", out,
                       tensors_[static_cast<size_t>(out)].name, OpCodeName(code));
      produced[static_cast<size_t>(out)] = 1;
    }
    for (size_t k = 0; k < problem.op_inputs[i].size(); ++k) {
      const int32_t t = problem.op_inputs[i][k];
      if (log_grid(t) && (code != fb::OpCode::BATCH_MATMUL || k != 0))
        return Invalid("tensor %d '%s': log-grid tensor is input %zu of %s; it may only be the left "
                       "operand (input 0) of BATCH_MATMUL",
                       t, tensors_[static_cast<size_t>(t)].name, k, OpCodeName(code));
    }
  }
  for (size_t t = 0; t < tensors_.size(); ++t)
    if (tensors_[t].log_grid != nullptr && !produced[t])
      return Invalid("tensor %d '%s': log-grid quantization on a tensor no SOFTMAX produces", static_cast<int32_t>(t),
                     tensors_[t].name);
  for (int32_t o : outputs_)
    if (log_grid(o))
      return Invalid("tensor %d '%s': log-grid tensor is a model output; it may only feed BATCH_MATMUL", o,
                     tensors_[static_cast<size_t>(o)].name);
  return Status::Ok();
}

// Packed int4 and group-scaled tensors are weights only FULLY_CONNECTED and CONV_2D read (input 1;
// kernels.h FullyConnectedLowBit, Conv2DInt4, Conv2DGroupScaled). Every other kernel would misread them.
Status Model::CheckLowBitUses(const PlanProblem& problem) const {
  for (uint32_t i = 0; i < num_operators_; ++i) {
    const fb::OpCode code = fb_->operators()->Get(i)->opcode();
    for (size_t k = 0; k < problem.op_inputs[i].size(); ++k) {
      const int32_t t = problem.op_inputs[i][k];
      if (t < 0) continue;
      const TensorDesc& d = tensors_[static_cast<size_t>(t)];
      if (d.type == fb::ElementType::BIT)
        return Invalid("tensor %d '%s': bit tensor is input %zu of %s; bit tensors are only softmax masks "
                       "(SoftmaxOptions.mask)",
                       t, d.name, k, OpCodeName(code));
      if (d.type != fb::ElementType::INT4 && d.group_size == 0) continue;
      if ((code != fb::OpCode::FULLY_CONNECTED && code != fb::OpCode::CONV_2D) || k != 1)
        return Invalid("tensor %d '%s': %s weight is input %zu of %s; it may only be the weight (input 1) of "
                       "FULLY_CONNECTED or CONV_2D",
                       t, d.name, d.group_size != 0 ? "group-scaled" : "int4", k, OpCodeName(code));
    }
  }
  for (int32_t o : outputs_)
    if (o >= 0 && o < static_cast<int32_t>(tensors_.size()) &&
        (tensors_[static_cast<size_t>(o)].type == fb::ElementType::INT4 ||
         tensors_[static_cast<size_t>(o)].type == fb::ElementType::BIT ||
         tensors_[static_cast<size_t>(o)].group_size != 0))
      return Invalid("tensor %d '%s': an int4, bit or group-scaled constant is a model output", o,
                     tensors_[static_cast<size_t>(o)].name);
  return Status::Ok();
}

Status Model::CheckGraphAndPlan() {
  const int32_t num_tensors = static_cast<int32_t>(tensors_.size());
  inputs_.reserve(fb_->inputs()->size());  // persistent: before the temporaries
  outputs_.reserve(fb_->outputs()->size());
  TempScope temp;  // the planner's work: gone when the check ends
  PlanProblem problem;
  problem.tensor_bytes.resize(tensors_.size());
  for (size_t i = 0; i < tensors_.size(); ++i)
    problem.tensor_bytes[i] = tensors_[i].is_constant ? -1 : tensors_[i].bytes;
  problem.op_inputs.resize(num_operators_);
  problem.op_outputs.resize(num_operators_);
  problem.op_may_alias.resize(num_operators_, false);
  for (uint32_t i = 0; i < num_operators_; ++i) {
    const fb::Operator* op = fb_->operators()->Get(i);
    if (op == nullptr) return Invalid("op %u is null", i);
    const char* name = op->name() ? op->name()->c_str() : "";
    if (op->opcode() > fb::OpCode::MAX)
      return Status::Error(StatusCode::kUnsupported, "op %u '%s': unknown opcode %d", i, name,
                           static_cast<int>(op->opcode()));
    const char* opname = OpCodeName(op->opcode());
    if (op->inputs() == nullptr || op->outputs() == nullptr || op->outputs()->size() == 0)
      return Invalid("op %u '%s' (%s): missing inputs or outputs", i, name, opname);
    if (op->inputs()->size() > kMaxOpArity || op->outputs()->size() > kMaxOpArity)
      return Invalid("op %u '%s' (%s): more than %u inputs or outputs", i, name, opname, kMaxOpArity);
    for (uint32_t k = 0; k < op->inputs()->size(); ++k) {
      const int32_t t = op->inputs()->Get(k);
      if (t != -1 && (t < 0 || t >= num_tensors))
        return Invalid("op %u '%s' (%s): input %u is tensor index %d, out of range [0, %d)", i, name, opname, k, t,
                       num_tensors);
      problem.op_inputs[i].push_back(t);
    }
    for (uint32_t k = 0; k < op->outputs()->size(); ++k) {
      const int32_t t = op->outputs()->Get(k);
      if (t < 0 || t >= num_tensors)
        return Invalid("op %u '%s' (%s): output %u is tensor index %d, out of range [0, %d)", i, name, opname, k, t,
                       num_tensors);
      problem.op_outputs[i].push_back(t);
    }
    problem.op_may_alias[i] = op->opcode() == fb::OpCode::RESHAPE;
  }
  for (uint32_t k = 0; k < fb_->inputs()->size(); ++k) inputs_.push_back(fb_->inputs()->Get(k));
  for (uint32_t k = 0; k < fb_->outputs()->size(); ++k) outputs_.push_back(fb_->outputs()->Get(k));
  SQUINT_RT_RETURN_IF_ERROR(CheckLogGridUses(problem));
  SQUINT_RT_RETURN_IF_ERROR(CheckLowBitUses(problem));
  problem.model_inputs.assign(inputs_.begin(), inputs_.end());
  problem.model_outputs.assign(outputs_.begin(), outputs_.end());

  TempVec<Lifetime> lifetimes;
  SQUINT_RT_RETURN_IF_ERROR(ComputeLifetimes(problem, &lifetimes));
  SQUINT_RT_RETURN_IF_ERROR(CheckBatch());

  const fb::MemoryPlan* plan = fb_->plan();
  if (plan != nullptr) {
    has_stored_plan_ = true;
    arena_size_ = plan->arena_size();
    lower_bound_ = plan->lower_bound();
    if (arena_size_ > (uint64_t{1} << 40))
      return Invalid("memory plan: arena_size %llu is implausibly large (limit 2^40)",
                     static_cast<unsigned long long>(arena_size_));
    TempVec<int64_t> offsets(tensors_.size(), -1);
    TempVec<int32_t> alignments(tensors_.size(), 1);
    for (size_t t = 0; t < tensors_.size(); ++t) {
      offsets[t] = fb_->tensors()->Get(static_cast<uint32_t>(t))->arena_offset();
      alignments[t] = ElementSize(tensors_[t].type);
    }
    Status s = CheckMemoryPlan(problem, offsets, alignments, arena_size_);
    if (!s.ok()) return s;
    for (size_t t = 0; t < tensors_.size(); ++t)
      if (!tensors_[t].is_constant && lifetimes[t].live()) tensors_[t].arena_offset = offsets[t];
  } else {
    MemoryPlanResult result;
    SQUINT_RT_RETURN_IF_ERROR(PlanMemory(problem, /*allow_alias=*/true, &result));
    arena_size_ = result.arena_size;
    lower_bound_ = result.lower_bound;
    for (size_t t = 0; t < tensors_.size(); ++t)
      if (!tensors_[t].is_constant && lifetimes[t].live()) tensors_[t].arena_offset = result.offsets[t];
  }
  // Zero-sized live tensors get offset 0 so views are never out of the arena.
  for (TensorDesc& d : tensors_)
    if (!d.is_constant && d.bytes == 0 && d.arena_offset < 0) d.arena_offset = 0;
  return Status::Ok();
}

}  // namespace squint::rt
