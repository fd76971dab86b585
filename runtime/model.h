// Loading a .sqnt model: structural verification (flatbuffers::Verifier, identifier "SQNT",
// schema version) and semantic checks of everything that is not op-specific: every tensor,
// buffer and operator index, every shape, constant buffer sizes and alignment, quantization
// parameters, the dataflow (no tensor read before it is produced), and the memory plan (every
// live activation inside the arena, no two simultaneously-live activations overlapping).
// Op-specific rules (types, shape relations, option values) are checked by the interpreter's
// prepare, before any kernel runs.
//
// Zero copy: the Model keeps pointers into the caller's buffer, which must stay alive and
// unchanged while the Model (and any interpreter built on it) is used. The one exception: int32
// constants a 1.1 file stores as int16 (Tensor.int16_storage: biases, indices) are widened into
// the Model's own memory at load. The buffer must be
// 8-byte aligned (16 is enough for every scalar; 64 makes constant buffers SIMD-aligned).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/kernels/reference/kernels.h"
#include "runtime/memory.h"
#include "runtime/schema/squint_generated.h"
#include "runtime/status.h"

namespace squint::rt {

constexpr uint16_t kSchemaVersionMajor = 1;
constexpr uint16_t kSchemaVersionMinor = 1;
constexpr int kMaxRank = 6;
constexpr size_t kModelAlignment = 8;
// Bounds that keep verification linear-ish and every flat index within int32.
constexpr uint32_t kMaxTensors = 1u << 20;
constexpr uint32_t kMaxOperators = 1u << 20;
constexpr uint32_t kMaxOpArity = 1024;
constexpr int64_t kMaxElements = 0x7fffffff;

// Size in bytes of one element; 0 for a value outside the enum. INT4: 1, the byte that holds
// two elements (its alignment); use TensorBytes for sizes.
int32_t ElementSize(fb::ElementType type);
// Bytes of `count` elements: count·ElementSize, or (count + 1)/2 for packed INT4.
int64_t TensorBytes(fb::ElementType type, int64_t count);
const char* ElementTypeName(fb::ElementType type);
const char* OpCodeName(fb::OpCode code);
// The name squint quantize --softmax-quant takes for a log grid: log2, logsqrt2, sulq.
const char* SoftmaxGridName(fb::SoftmaxGrid kind);

struct PlanProblem;  // planner.h

struct TensorDesc {
  const char* name = "";  // never null
  fb::ElementType type = fb::ElementType::INT8;
  int32_t rank = 0;
  int32_t dims[kMaxRank] = {};
  int64_t num_elements = 1;
  int64_t bytes = 0;
  bool is_constant = false;
  const uint8_t* data = nullptr;  // constants: into the model buffer (int16-stored int32: the Model's widened copy)
  int64_t arena_offset = -1;      // activations that are live: checked offset into the arena
  // Affine quantization (null if the tensor has none). Per-tensor values copied for convenience.
  const fb::AffineQuantization* quant = nullptr;
  bool per_channel = false;
  int32_t quant_axis = -1;
  // Group scales (AffineQuantization.group_size > 0, constants only): per_channel is true,
  // quant_axis 0, and quant->scale() holds dims[0]·(row/group_size) values.
  int32_t group_size = 0;
  float scale = 0.0f;      // per-tensor scale (first scale for per-channel)
  int32_t zero_point = 0;  // per-tensor zero point (first for per-channel)
  // Log-grid quantization (schema LogGridQuantization), null for any other tensor. Such a tensor
  // has no affine quant (quant null, scale 0); codes are read as unsigned bytes; `grid` holds
  // the checked tables the kernels read.
  const fb::LogGridQuantization* log_grid = nullptr;
  ref::LogGrid grid;
};

class Model {
 public:
  Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Verifies `data` and fills this (empty) model. On error the model stays unusable.
  Status Load(const uint8_t* data, size_t size);

  bool loaded() const { return fb_ != nullptr; }
  const fb::Model* fb() const { return fb_; }
  int32_t num_tensors() const { return static_cast<int32_t>(tensors_.size()); }
  const TensorDesc& tensor(int32_t i) const { return tensors_[i]; }
  int32_t num_operators() const { return static_cast<int32_t>(num_operators_); }
  const fb::Operator* op(int32_t i) const { return fb_->operators()->Get(i); }
  const char* op_name(int32_t i) const;
  const Vec<int32_t>& inputs() const { return inputs_; }
  const Vec<int32_t>& outputs() const { return outputs_; }
  // Arena size in bytes: the stored plan's, or the runtime's own plan for a model without one.
  uint64_t arena_size() const { return arena_size_; }
  uint64_t arena_lower_bound() const { return lower_bound_; }
  bool has_stored_plan() const { return has_stored_plan_; }
  // Samples per run when the leading dim of every input and output is a batch (schema
  // Model.batch, checked at load); 0 when the model's shapes are fixed.
  int32_t batch() const { return fb_ != nullptr ? fb_->batch() : 0; }

 private:
  Status CheckTensor(int32_t index, TensorDesc* desc);
  Status CheckGraphAndPlan();
  Status CheckBatch() const;
  Status CheckLogGridUses(const PlanProblem& problem) const;
  Status CheckLowBitUses(const PlanProblem& problem) const;

  const uint8_t* data_ = nullptr;
  const fb::Model* fb_ = nullptr;
  // Containers from the current memory source (memory.h) when the model is loaded.
  Vec<Vec<int32_t>> widened_;  // INT32 constants stored as int16 (Tensor.int16_storage)
  Vec<TensorDesc> tensors_;
  Vec<int32_t> inputs_;
  Vec<int32_t> outputs_;
  uint32_t num_operators_ = 0;
  uint64_t arena_size_ = 0;
  uint64_t lower_bound_ = 0;
  bool has_stored_plan_ = false;
};

}  // namespace squint::rt
