// The one-FULLY_CONNECTED low-bit model the low-bit runtime tests build (lowbit_test.cc,
// lowbit_int16_test.cc), with knobs that corrupt one thing each, and the helpers that load,
// prepare and invoke it.
#pragma once

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/interpreter.h"
#include "runtime/model.h"
#include "runtime/quant_math/quant_math.h"
#include "tests/runtime/sqnt_builder.h"

namespace squint::rt::lowbit_testing {

namespace qm = squint::quant_math;
using testing::AlignedBytes;
using testing::SqntBuilder;

// x int8 [2, 64] (scale 0.05, zp 3) · w [3, 64] (int4 packed or int8; group scales of 32 or
// per channel) + bias → y int8 [2, 3] (scale 0.5, zp −1); with int16, x and y int16 (x scale
// 0.001, zp 0; y scale 0.005, zp 0, clamped to int16's range). The other knobs corrupt one thing each.
struct LowBitModel {
  bool int4 = true;
  int32_t group_size = 32;
  int32_t buffer_bytes = -1;          // -1: the right size
  int32_t num_scales = -1;            // -1: the right count
  int32_t num_multipliers = -1;       // -1: the right count
  int32_t multiplier_value = -1;      // -1: from the scales
  bool odd_padding_garbage = false;   // w [3, 63] with a nonzero padding nibble
  bool also_read_by_add = false;      // the weight also feeds an ADD
  int32_t fc_groups = 1;              // FullyConnectedOptions.groups
  bool int16 = false;                 // int16 activations
};

struct Built {
  AlignedBytes bytes;
  std::vector<int8_t> w;
  std::vector<int32_t> bias;
  std::vector<uint16_t> multipliers;
  QuantizedMultiplier requant[3];
};

inline Built BuildLowBitModel(const LowBitModel& o) {
  Built out;
  SqntBuilder b;
  const double s_x = o.int16 ? 0.001 : 0.05, s_y = o.int16 ? 0.005 : 0.5;
  const int32_t depth = o.odd_padding_garbage ? 63 : 64, units = 3;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> code(o.int4 ? -8 : -127, o.int4 ? 7 : 127);
  out.w.resize(static_cast<size_t>(units * depth));
  for (auto& v : out.w) v = static_cast<int8_t>(code(rng));
  std::vector<uint8_t> bytes = o.int4 ? qm::PackInt4(out.w) : std::vector<uint8_t>(out.w.begin(), out.w.end());
  if (o.odd_padding_garbage) bytes.back() |= 0x50;
  if (o.buffer_bytes >= 0) bytes.resize(static_cast<size_t>(o.buffer_bytes));
  const int groups = o.group_size > 0 ? depth / o.group_size : 1;
  std::vector<float> s_w;
  for (int i = 0; i < units * groups; ++i) s_w.push_back(0.01f * static_cast<float>(1 + i % 4));
  if (o.num_scales >= 0) s_w.resize(static_cast<size_t>(o.num_scales), 0.01f);
  std::vector<QuantizedMultiplier> ms;
  std::vector<float> common = s_w;
  if (o.group_size > 0) {
    qm::GroupScaleParams gp = qm::BuildGroupScaleParams(s_x, s_w, units, s_y);
    out.multipliers = gp.group_multiplier;
    ms = gp.requant;
    common = gp.common_scale;
  } else {
    ms = qm::BuildChannelRequant(s_x, s_w, s_y);
  }
  if (o.num_multipliers >= 0) out.multipliers.resize(static_cast<size_t>(o.num_multipliers), 1000);
  if (o.multiplier_value >= 0) out.multipliers[0] = static_cast<uint16_t>(o.multiplier_value);
  ms.resize(units, ms.empty() ? QuantizedMultiplier{1 << 30, -5} : ms.back());
  for (int u = 0; u < units; ++u) out.requant[u] = ms[static_cast<size_t>(u)];
  common.resize(units, 0.01f);
  out.bias = qm::QuantizeBias({0.3f, -0.7f, 0.05f}, s_x, common);

  const fb::ElementType act = o.int16 ? fb::ElementType::INT16 : fb::ElementType::INT8;
  const int x = b.Activation("x", act, {2, depth}, static_cast<float>(s_x), o.int16 ? 0 : 3);
  const int wt = b.AddTensor("w", o.int4 ? fb::ElementType::INT4 : fb::ElementType::INT8, {units, depth}, s_w,
                             std::vector<int32_t>(s_w.size(), 0), 0, b.AddBuffer(bytes), -1, true, o.group_size);
  std::vector<uint8_t> bias_bytes(out.bias.size() * 4);
  std::memcpy(bias_bytes.data(), out.bias.data(), bias_bytes.size());
  const int bt = b.AddTensor("b", fb::ElementType::INT32, {units}, {}, {}, -1, b.AddBuffer(bias_bytes), -1, false);
  const int y = b.Activation("y", act, {2, units}, static_cast<float>(s_y), o.int16 ? 0 : -1);
  std::vector<int32_t> mult, shift;
  for (const auto& m : ms) mult.push_back(m.multiplier), shift.push_back(m.shift);
  auto requant = o.int16 ? b.Requant(mult, shift, -32768, 32767) : b.Requant(mult, shift);
  auto gm = out.multipliers.empty() ? 0 : b.fbb().CreateVector(out.multipliers);
  b.Op(fb::OpCode::FULLY_CONNECTED, "fc", {x, wt, bt}, {y}, fb::OpOptions::FullyConnectedOptions,
       fb::CreateFullyConnectedOptions(b.fbb(), requant, gm, o.fc_groups).Union());
  int out_t = y;
  if (o.also_read_by_add) {
    out_t = b.Activation("z", fb::ElementType::INT8, {units, depth}, 1.0f, 0);
    b.Op(fb::OpCode::ADD, "add", {wt, wt}, {out_t});
  }
  b.Inputs({x});
  b.Outputs({out_t});
  out.bytes = b.Finish();
  return out;
}

inline Status Prepare(const AlignedBytes& bytes) {
  Model model;
  SQUINT_RT_RETURN_IF_ERROR(model.Load(bytes.data(), bytes.size()));
  Interpreter interp;
  return interp.Prepare(&model);
}

inline void ExpectInvalidModel(const AlignedBytes& bytes, const std::string& needle) {
  const Status s = Prepare(bytes);
  ASSERT_FALSE(s.ok()) << "expected an error containing '" << needle << "'";
  EXPECT_EQ(s.code(), StatusCode::kInvalidModel) << s.message();
  EXPECT_NE(std::string(s.message()).find(needle), std::string::npos) << s.message();
}
inline void ExpectInvalid(const LowBitModel& o, const std::string& needle) {
  ExpectInvalidModel(BuildLowBitModel(o).bytes, needle);
}

// Loads, prepares and invokes a one-input, one-output model of T activations on x; `count`
// output codes to y.
template <typename T>
Status Invoke(const AlignedBytes& bytes, const std::vector<T>& x, size_t count, std::vector<T>* y) {
  Model model;
  SQUINT_RT_RETURN_IF_ERROR(model.Load(bytes.data(), bytes.size()));
  Interpreter interp;
  SQUINT_RT_RETURN_IF_ERROR(interp.Prepare(&model));
  AlignedBytes arena;
  std::vector<uint8_t> zeros(interp.arena_size());
  arena.Assign(zeros.data(), zeros.size());
  SQUINT_RT_RETURN_IF_ERROR(interp.SetArena(arena.data(), arena.size()));
  std::memcpy(interp.mutable_tensor_data(model.inputs()[0]), x.data(), x.size() * sizeof(T));
  SQUINT_RT_RETURN_IF_ERROR(interp.Invoke());
  const T* out = static_cast<const T*>(interp.tensor_data(model.outputs()[0]));
  y->assign(out, out + count);
  return Status::Ok();
}

}  // namespace squint::rt::lowbit_testing
