// Test helper: builds small .sqnt models with the FlatBuffers builder, in memory.
//
//   SqntBuilder b;
//   int x = b.Activation("x", fb::ElementType::INT8, {1, 4}, 0.5f, 0);
//   int w = b.Constant<int8_t>("w", {3, 4}, weights, 0.25f, 0);
//   ...
//   b.Op(fb::OpCode::FULLY_CONNECTED, "fc", {x, w, bias}, {y}, fb::OpOptions::FullyConnectedOptions,
//        fb::CreateFullyConnectedOptions(b.fbb(), b.Requant({m}, {s}, -128, 127)).Union());
//   b.Inputs({x}); b.Outputs({y});
//   AlignedBytes file = b.Finish();   // 64-byte aligned copy of the finished buffer
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "flatbuffers/flatbuffers.h"
#include "runtime/schema/squint_generated.h"

namespace squint::rt::testing {

// A byte buffer whose data() is 64-byte aligned (as an mmapped file would be).
class AlignedBytes {
 public:
  AlignedBytes() = default;
  explicit AlignedBytes(const uint8_t* data, size_t size) { Assign(data, size); }
  AlignedBytes(const AlignedBytes& o) { Assign(o.data(), o.size()); }
  AlignedBytes& operator=(const AlignedBytes& o) {
    if (this != &o) Assign(o.data(), o.size());
    return *this;
  }
  void Assign(const uint8_t* data, size_t size) {
    storage_.assign(size + 64, 0);
    offset_ = (64 - reinterpret_cast<uintptr_t>(storage_.data()) % 64) % 64;
    size_ = size;
    if (size) std::memcpy(storage_.data() + offset_, data, size);
  }
  uint8_t* data() { return storage_.data() + offset_; }
  const uint8_t* data() const { return storage_.data() + offset_; }
  size_t size() const { return size_; }
  void Resize(size_t size) {  // truncate (or zero-extend) keeping alignment
    std::vector<uint8_t> copy(data(), data() + std::min(size, size_));
    copy.resize(size, 0);
    Assign(copy.data(), copy.size());
  }
  std::vector<uint8_t> ToVector() const { return std::vector<uint8_t>(data(), data() + size_); }

 private:
  std::vector<uint8_t> storage_;
  size_t offset_ = 0;
  size_t size_ = 0;
};

class SqntBuilder {
 public:
  SqntBuilder() {
    buffers_.push_back(fb::CreateBuffer(fbb_));  // buffer 0: empty
  }
  flatbuffers::FlatBufferBuilder& fbb() { return fbb_; }

  int Activation(const std::string& name, fb::ElementType type, const std::vector<int32_t>& shape,
                 float scale = 1.0f, int32_t zero_point = 0, int64_t arena_offset = -1) {
    return AddTensor(name, type, shape, {scale}, {zero_point}, -1, 0, arena_offset);
  }

  template <typename T>
  int Constant(const std::string& name, fb::ElementType type, const std::vector<int32_t>& shape,
               const std::vector<T>& values, std::vector<float> scales = {1.0f},
               std::vector<int32_t> zero_points = {0}, int32_t axis = -1) {
    std::vector<uint8_t> bytes(values.size() * sizeof(T));
    if (!bytes.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
    const uint32_t buffer = AddBuffer(bytes);
    return AddTensor(name, type, shape, scales, zero_points, axis, buffer, -1);
  }

  uint32_t AddBuffer(const std::vector<uint8_t>& bytes) {
    buffers_.push_back(fb::CreateBufferDirect(fbb_, &bytes));
    return static_cast<uint32_t>(buffers_.size() - 1);
  }

  // Raw tensor (any scales, axis, buffer index, offset): for corruption tests.
  int AddTensor(const std::string& name, fb::ElementType type, const std::vector<int32_t>& shape,
                const std::vector<float>& scales, const std::vector<int32_t>& zero_points, int32_t axis,
                uint32_t buffer, int64_t arena_offset, bool with_quant = true, int32_t group_size = 0) {
    flatbuffers::Offset<void> q;
    if (with_quant) q = fb::CreateAffineQuantizationDirect(fbb_, &scales, &zero_points, axis, group_size).Union();
    tensors_.push_back(fb::CreateTensorDirect(
        fbb_, name.c_str(), type, &shape,
        with_quant ? fb::Quantization::AffineQuantization : fb::Quantization::NONE, q, buffer, arena_offset));
    return static_cast<int>(tensors_.size() - 1);
  }

  // An activation on a softmax log grid (schema LogGridQuantization); empty sqrt2: absent.
  int LogGridActivation(const std::string& name, fb::ElementType type, const std::vector<int32_t>& shape, int32_t bits,
                        const std::vector<uint32_t>& thresholds, const std::vector<uint8_t>& shifts,
                        const std::vector<uint8_t>& sqrt2 = {}, float delta = 1.0f, float eta = 0.0f) {
    auto q = fb::CreateLogGridQuantizationDirect(fbb_, bits, fb::SoftmaxGrid::LOG2, delta, eta, &thresholds, &shifts,
                                                 sqrt2.empty() ? nullptr : &sqrt2);
    tensors_.push_back(fb::CreateTensorDirect(fbb_, name.c_str(), type, &shape, fb::Quantization::LogGridQuantization,
                                              q.Union(), 0, -1));
    return static_cast<int>(tensors_.size() - 1);
  }

  flatbuffers::Offset<fb::Requantization> Requant(const std::vector<int32_t>& multiplier,
                                                  const std::vector<int32_t>& shift, int32_t act_min = -128,
                                                  int32_t act_max = 127) {
    return fb::CreateRequantizationDirect(fbb_, &multiplier, &shift, act_min, act_max);
  }

  void Op(fb::OpCode code, const std::string& name, const std::vector<int32_t>& inputs,
          const std::vector<int32_t>& outputs, fb::OpOptions options_type = fb::OpOptions::NONE,
          flatbuffers::Offset<void> options = 0) {
    ops_.push_back(fb::CreateOperatorDirect(fbb_, code, name.c_str(), &inputs, &outputs, options_type, options));
  }

  void Inputs(const std::vector<int32_t>& v) { inputs_ = v; }
  void Outputs(const std::vector<int32_t>& v) { outputs_ = v; }
  void Plan(uint64_t arena_size, uint64_t lower_bound) {
    has_plan_ = true;
    arena_size_ = arena_size;
    lower_bound_ = lower_bound;
  }
  void Batch(int32_t batch) { batch_ = batch; }
  void Version(uint16_t major, uint16_t minor) {
    major_ = major;
    minor_ = minor;
  }

  AlignedBytes Finish() {
    flatbuffers::Offset<fb::MemoryPlan> plan;
    if (has_plan_) plan = fb::CreateMemoryPlan(fbb_, arena_size_, lower_bound_);
    auto model = fb::CreateModelDirect(fbb_, major_, minor_, &tensors_, &ops_, &inputs_, &outputs_, &buffers_, plan, 0, batch_);
    fb::FinishModelBuffer(fbb_, model);
    return AlignedBytes(fbb_.GetBufferPointer(), fbb_.GetSize());
  }

 private:
  flatbuffers::FlatBufferBuilder fbb_;
  std::vector<flatbuffers::Offset<fb::Tensor>> tensors_;
  std::vector<flatbuffers::Offset<fb::Operator>> ops_;
  std::vector<flatbuffers::Offset<fb::Buffer>> buffers_;
  std::vector<int32_t> inputs_, outputs_;
  bool has_plan_ = false;
  uint64_t arena_size_ = 0, lower_bound_ = 0;
  uint16_t major_ = 1, minor_ = 0;
  int32_t batch_ = 0;
};

// A one-op FullyConnected model: x int8 [1, 4] (scale 0.5, zp 1) · w int8 [3, 4] (scale 0.25,
// per tensor) + bias int32 [3] → y int8 [1, 3] (scale 1, zp -2), requant multiplier 0.125
// (multiplier 2^30, shift −2: 2^30·2^(−2−31) = 0.5·0.25/1), stored plan: x at 0, y at 64, arena 128.
struct FcModelOptions {
  bool with_plan = true;
  int64_t y_offset = 64;
  uint64_t arena_size = 128;
  std::vector<int32_t> x_shape = {1, 4};
  std::vector<int32_t> w_shape = {3, 4};
  int32_t extra_input_index = -2;  // if != -2: appended to the op's inputs
  uint16_t major = 1, minor = 0;
  int32_t groups = 1;  // FullyConnectedOptions.groups
  int32_t batch = 0;   // Model.batch
};

inline AlignedBytes BuildFcModel(const FcModelOptions& o = {}) {
  SqntBuilder b;
  b.Version(o.major, o.minor);
  b.Batch(o.batch);
  const int x = b.Activation("x", fb::ElementType::INT8, o.x_shape, 0.5f, 1, o.with_plan ? 0 : -1);
  const std::vector<int8_t> w = {1, 2, 3, 4, -1, -2, -3, -4, 0, 1, 0, -1};
  const int wt = b.Constant<int8_t>("w", fb::ElementType::INT8, o.w_shape, w, {0.25f}, {0});
  const std::vector<int32_t> bias = {8, -8, 0};
  const int bt = b.Constant<int32_t>("b", fb::ElementType::INT32, {3}, bias, {0.125f}, {0});
  const int y = b.Activation("y", fb::ElementType::INT8, {1, 3}, 1.0f, -2, o.with_plan ? o.y_offset : -1);
  std::vector<int32_t> inputs = {x, wt, bt};
  if (o.extra_input_index != -2) inputs.push_back(o.extra_input_index);
  auto requant = b.Requant({1 << 30}, {-2}, -128, 127);
  b.Op(fb::OpCode::FULLY_CONNECTED, "fc", inputs, {y}, fb::OpOptions::FullyConnectedOptions,
       fb::CreateFullyConnectedOptions(b.fbb(), requant, 0, o.groups).Union());
  b.Inputs({x});
  b.Outputs({y});
  if (o.with_plan) b.Plan(o.arena_size, 128);
  return b.Finish();
}

}  // namespace squint::rt::testing
