// Loader and verifier: a valid model loads; every class of bad file is an error, never a crash.
#include "runtime/model.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "tests/runtime/sqnt_builder.h"

namespace squint::rt {
namespace {

using testing::AlignedBytes;
using testing::BuildFcModel;
using testing::FcModelOptions;
using testing::SqntBuilder;

Status Load(const AlignedBytes& bytes) {
  Model model;
  return model.Load(bytes.data(), bytes.size());
}

void ExpectError(const AlignedBytes& bytes, StatusCode code, const std::string& needle) {
  Model model;
  Status s = model.Load(bytes.data(), bytes.size());
  ASSERT_FALSE(s.ok()) << "expected an error containing '" << needle << "'";
  EXPECT_EQ(s.code(), code) << s.message();
  EXPECT_NE(std::string(s.message()).find(needle), std::string::npos) << s.message();
  EXPECT_FALSE(model.loaded());
}

TEST(ModelLoad, ValidFcModelLoads) {
  AlignedBytes bytes = BuildFcModel();
  Model model;
  Status s = model.Load(bytes.data(), bytes.size());
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(model.num_tensors(), 4);
  EXPECT_EQ(model.num_operators(), 1);
  EXPECT_EQ(model.arena_size(), 128u);
  EXPECT_TRUE(model.has_stored_plan());
  const TensorDesc& w = model.tensor(1);
  EXPECT_TRUE(w.is_constant);
  EXPECT_EQ(w.bytes, 12);
  // Zero copy: constant data points into the caller's buffer.
  EXPECT_GE(w.data, bytes.data());
  EXPECT_LT(w.data, bytes.data() + bytes.size());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w.data) % 64, 0u);
  EXPECT_EQ(model.tensor(3).arena_offset, 64);
  EXPECT_FLOAT_EQ(model.tensor(0).scale, 0.5f);
  EXPECT_EQ(model.tensor(0).zero_point, 1);
  EXPECT_STREQ(model.op_name(0), "fc");
}

TEST(ModelLoad, ModelWithoutPlanIsPlannedByTheRuntime) {
  FcModelOptions o;
  o.with_plan = false;
  AlignedBytes bytes = BuildFcModel(o);
  Model model;
  Status s = model.Load(bytes.data(), bytes.size());
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_FALSE(model.has_stored_plan());
  EXPECT_EQ(model.arena_size(), 128u);
  EXPECT_NE(model.tensor(0).arena_offset, model.tensor(3).arena_offset);
}

TEST(ModelLoad, NullTinyAndMisalignedBuffers) {
  Model model;
  EXPECT_EQ(model.Load(nullptr, 100).code(), StatusCode::kInvalidArgument);
  AlignedBytes bytes = BuildFcModel();
  EXPECT_EQ(Model().Load(bytes.data(), 4).code(), StatusCode::kInvalidModel);
  std::vector<uint8_t> shifted = bytes.ToVector();
  shifted.insert(shifted.begin(), uint8_t{0});
  const uint8_t* p = shifted.data() + 1;
  if (reinterpret_cast<uintptr_t>(p) % 8 != 0) {
    EXPECT_EQ(Model().Load(p, bytes.size()).code(), StatusCode::kInvalidArgument);
  }
}

TEST(ModelLoad, WrongIdentifier) {
  AlignedBytes bytes = BuildFcModel();
  std::memcpy(bytes.data() + 4, "TFL3", 4);
  ExpectError(bytes, StatusCode::kInvalidModel, "file identifier is 'TFL3', expected 'SQNT'");
}

TEST(ModelLoad, LoadingTwiceIsAnError) {
  AlignedBytes bytes = BuildFcModel();
  Model model;
  ASSERT_TRUE(model.Load(bytes.data(), bytes.size()).ok());
  EXPECT_EQ(model.Load(bytes.data(), bytes.size()).code(), StatusCode::kFailedPrecondition);
}

TEST(ModelLoad, TruncatedAtEveryOffsetIsAnError) {
  AlignedBytes bytes = BuildFcModel();
  for (size_t n = 0; n < bytes.size(); ++n) {
    AlignedBytes cut(bytes.data(), n);
    EXPECT_FALSE(Load(cut).ok()) << "truncated to " << n << " of " << bytes.size();
  }
}

TEST(ModelLoad, FlippedBytesNeverCrash) {
  AlignedBytes bytes = BuildFcModel();
  int errors = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      AlignedBytes copy = bytes;
      copy.data()[i] ^= mask;
      Model model;
      Status s = model.Load(copy.data(), copy.size());  // ok or error; must not crash
      if (!s.ok()) {
        ++errors;
        EXPECT_GT(std::strlen(s.message()), 0u);
      }
    }
  }
  EXPECT_GT(errors, 0);
}

TEST(ModelLoad, NewerSchemaVersion) {
  FcModelOptions o;
  o.minor = 3;
  ExpectError(BuildFcModel(o), StatusCode::kUnsupportedVersion,
              "model schema version 1.3 is newer than this runtime's 1.1");
  o.major = 2;
  o.minor = 0;
  ExpectError(BuildFcModel(o), StatusCode::kUnsupportedVersion, "model schema version 2.0 is newer");
  o.major = 0;
  ExpectError(BuildFcModel(o), StatusCode::kUnsupportedVersion, "incompatible");
}

TEST(ModelLoad, OutOfRangeTensorIndexInOp) {
  FcModelOptions o;
  o.extra_input_index = 7;
  ExpectError(BuildFcModel(o), StatusCode::kInvalidModel, "op 0 'fc' (FULLY_CONNECTED): input 3 is tensor index 7");
  o.extra_input_index = -5;
  ExpectError(BuildFcModel(o), StatusCode::kInvalidModel, "tensor index -5");
}

TEST(ModelLoad, OutOfRangeModelInputOutput) {
  SqntBuilder b;
  b.Activation("x", fb::ElementType::INT8, {4});
  b.Inputs({3});
  b.Outputs({0});
  ExpectError(b.Finish(), StatusCode::kInvalidModel, "model input tensor index 3 out of range");
  SqntBuilder c;
  c.Activation("x", fb::ElementType::INT8, {4});
  c.Inputs({0});
  c.Outputs({-1});
  ExpectError(c.Finish(), StatusCode::kInvalidModel, "model output tensor index -1 out of range");
}

TEST(ModelLoad, BatchMustLeadEveryInputAndOutput) {
  FcModelOptions o;
  o.batch = 1;
  Model ok;
  AlignedBytes good = BuildFcModel(o);
  ASSERT_TRUE(ok.Load(good.data(), good.size()).ok());
  EXPECT_EQ(ok.batch(), 1);
  o.batch = 2;  // x and y lead with 1
  ExpectError(BuildFcModel(o), StatusCode::kInvalidModel,
              "model batch 2: input tensor 0 'x' does not lead with that dim (rank 2, first dim 1)");
  o.batch = -1;
  ExpectError(BuildFcModel(o), StatusCode::kInvalidModel, "model batch -1 is negative");
}

TEST(ModelLoad, ShapeBufferMismatch) {
  FcModelOptions o;
  o.w_shape = {3, 5};  // 15 elements, buffer holds 12 bytes
  ExpectError(BuildFcModel(o), StatusCode::kInvalidModel, "tensor 1 'w': buffer 1 holds 12 bytes, expected 15");
}

TEST(ModelLoad, OverflowedNegativeAndTooManyDims) {
  {
    SqntBuilder b;
    b.Activation("x", fb::ElementType::INT8, {65536, 65536});
    b.Inputs({0});
    b.Outputs({0});
    ExpectError(b.Finish(), StatusCode::kInvalidModel, "element count overflows");
  }
  {
    SqntBuilder b;
    b.Activation("x", fb::ElementType::INT32, {std::numeric_limits<int32_t>::max(), 2});
    b.Inputs({0});
    b.Outputs({0});
    ExpectError(b.Finish(), StatusCode::kInvalidModel, "element count overflows");
  }
  {
    SqntBuilder b;
    b.Activation("x", fb::ElementType::INT8, {1, -3});
    b.Inputs({0});
    b.Outputs({0});
    ExpectError(b.Finish(), StatusCode::kInvalidModel, "dim 1 is -3");
  }
  {
    SqntBuilder b;
    b.Activation("x", fb::ElementType::INT8, {1, 1, 1, 1, 1, 1, 1});
    b.Inputs({0});
    b.Outputs({0});
    ExpectError(b.Finish(), StatusCode::kInvalidModel, "rank 7 exceeds");
  }
}

TEST(ModelLoad, BadElementType) {
  SqntBuilder b;
  b.Activation("x", static_cast<fb::ElementType>(9), {4});
  b.Inputs({0});
  b.Outputs({0});
  ExpectError(b.Finish(), StatusCode::kInvalidModel, "element type 9");
}

TEST(ModelLoad, BufferIndexOutOfRange) {
  SqntBuilder b;
  b.Activation("x", fb::ElementType::INT8, {4});
  b.AddTensor("c", fb::ElementType::INT8, {4}, {1.0f}, {0}, -1, /*buffer=*/9, -1);
  b.Inputs({0});
  b.Outputs({0});
  ExpectError(b.Finish(), StatusCode::kInvalidModel, "tensor 1 'c': buffer index 9 out of range");
}

TEST(ModelLoad, QuantizationParameters) {
  auto one = [](std::vector<float> scales, std::vector<int32_t> zps, int32_t axis, fb::ElementType type) {
    SqntBuilder b;
    b.Activation("x", fb::ElementType::INT8, {2, 3});
    b.AddTensor("q", type, {2, 3}, scales, zps, axis, b.AddBuffer(std::vector<uint8_t>(6 * (type == fb::ElementType::INT32 ? 4 : 1))), -1);
    b.Inputs({0});
    b.Outputs({0});
    return b.Finish();
  };
  EXPECT_TRUE(Load(one({0.5f, 0.25f, 1.0f}, {0, 0, 0}, 1, fb::ElementType::INT8)).ok());
  ExpectError(one({0.5f, 0.25f}, {0, 0}, 1, fb::ElementType::INT8), StatusCode::kInvalidModel,
              "2 per-channel scales, expected dim 1 along axis 1 = 3");
  ExpectError(one({0.5f}, {0}, 2, fb::ElementType::INT8), StatusCode::kInvalidModel, "axis 2 out of range");
  ExpectError(one({0.5f, 1.0f}, {0, 0}, -1, fb::ElementType::INT8), StatusCode::kInvalidModel,
              "per-tensor quantization with 2 scales");
  ExpectError(one({0.0f}, {0}, -1, fb::ElementType::INT8), StatusCode::kInvalidModel, "positive and finite");
  ExpectError(one({-1.0f}, {0}, -1, fb::ElementType::INT8), StatusCode::kInvalidModel, "positive and finite");
  ExpectError(one({std::numeric_limits<float>::quiet_NaN()}, {0}, -1, fb::ElementType::INT8),
              StatusCode::kInvalidModel, "positive and finite");
  ExpectError(one({std::numeric_limits<float>::infinity()}, {0}, -1, fb::ElementType::INT8),
              StatusCode::kInvalidModel, "positive and finite");
  ExpectError(one({1.0f}, {200}, -1, fb::ElementType::INT8), StatusCode::kInvalidModel, "zero_point[0] = 200");
  ExpectError(one({1.0f}, {-1}, -1, fb::ElementType::UINT8), StatusCode::kInvalidModel, "outside the uint8 range");
  ExpectError(one({}, {}, -1, fb::ElementType::INT8), StatusCode::kInvalidModel, "no scale");
  ExpectError(one({1.0f}, {0, 0}, -1, fb::ElementType::INT8), StatusCode::kInvalidModel, "2 zero points for 1");
  EXPECT_TRUE(Load(one({1.0f}, {123456}, -1, fb::ElementType::INT32)).ok());
}

// x → SOFTMAX → p (log grid) → BATCH_MATMUL(p, v) → y, with the grid's tables as given.
struct LogGridCase {
  int32_t bits = 4;
  std::vector<uint32_t> thresholds = {1u << 29, 1u << 28, 1u << 27, 0};
  std::vector<uint8_t> shifts = {0, 1, 2, 3};
  std::vector<uint8_t> sqrt2;
  float delta = 1.0f, eta = 0.0f;
  fb::ElementType type = fb::ElementType::INT8;
  bool p_is_output = false, p_read_by_add = false;
};
AlignedBytes BuildLogGridModel(const LogGridCase& c) {
  SqntBuilder b;
  const int x = b.Activation("x", fb::ElementType::INT8, {1, 4});
  const int v = b.Activation("v", fb::ElementType::INT8, {4, 2});
  const int p = b.LogGridActivation("p", c.type, {1, 4}, c.bits, c.thresholds, c.shifts, c.sqrt2, c.delta, c.eta);
  const int y = b.Activation("y", fb::ElementType::INT8, {1, 2});
  std::vector<int32_t> table(256, 0);
  table[0] = 1 << 16;
  b.Op(fb::OpCode::SOFTMAX, "softmax", {x}, {p}, fb::OpOptions::SoftmaxOptions,
       fb::CreateSoftmaxOptionsDirect(b.fbb(), &table, 16).Union());
  if (c.p_read_by_add)
    b.Op(fb::OpCode::ADD, "add", {p, p}, {y});
  else
    b.Op(fb::OpCode::BATCH_MATMUL, "pv", {p, v}, {y}, fb::OpOptions::BatchMatMulOptions,
         fb::CreateBatchMatMulOptions(b.fbb(), b.Requant({1 << 30}, {0})).Union());
  b.Inputs({x, v});
  b.Outputs(c.p_is_output ? std::vector<int32_t>{y, p} : std::vector<int32_t>{y});
  return b.Finish();
}

TEST(ModelLoad, LogGridQuantizationRules) {
  auto load = [](auto edit) {
    LogGridCase c;
    edit(c);
    return BuildLogGridModel(c);
  };
  {
    Model model;
    AlignedBytes ok = load([](LogGridCase&) {});
    ASSERT_TRUE(model.Load(ok.data(), ok.size()).ok());
    const TensorDesc& p = model.tensor(2);
    ASSERT_NE(p.log_grid, nullptr);
    EXPECT_EQ(p.grid.n, 4);
    EXPECT_EQ(p.grid.max_shift, 3);
    EXPECT_EQ(p.grid.sqrt2, nullptr);
  }
  EXPECT_TRUE(Load(load([](LogGridCase& c) { c.sqrt2 = {0, 1, 0, 1}; c.eta = 0.01f; })).ok());
  ExpectError(load([](LogGridCase& c) { c.bits = 9; }), StatusCode::kInvalidModel, "bits 9 outside [2, 8]");
  ExpectError(load([](LogGridCase& c) { c.bits = 1; }), StatusCode::kInvalidModel, "bits 1 outside [2, 8]");
  ExpectError(load([](LogGridCase& c) { c.bits = 2; c.shifts.push_back(4); c.thresholds.push_back(0); }),
              StatusCode::kInvalidModel, "5 codes, expected 2 to 4 for 2 bits");
  ExpectError(load([](LogGridCase& c) { c.bits = 8; c.shifts.assign(256, 1); c.thresholds.assign(256, 0); }),
              StatusCode::kInvalidModel, "256 codes, expected 2 to 255");
  ExpectError(load([](LogGridCase& c) { c.thresholds.pop_back(); }), StatusCode::kInvalidModel,
              "needs 4 thresholds (has 3)");
  ExpectError(load([](LogGridCase& c) { c.sqrt2 = {0, 1}; }), StatusCode::kInvalidModel, "sqrt2 flags (has 2)");
  ExpectError(load([](LogGridCase& c) { c.sqrt2 = {0, 2, 0, 0}; }), StatusCode::kInvalidModel, "sqrt2[1] = 2");
  ExpectError(load([](LogGridCase& c) { c.thresholds = {1u << 28, 1u << 29, 0, 0}; }), StatusCode::kInvalidModel,
              "threshold[1] = 536870912: thresholds must be non-increasing");
  ExpectError(load([](LogGridCase& c) { c.thresholds[0] = (1u << 30) + 2; }), StatusCode::kInvalidModel,
              "threshold[0] = 1073741826");
  ExpectError(load([](LogGridCase& c) { c.shifts[3] = 21; }), StatusCode::kInvalidModel, "shift[3] = 21 exceeds 20");
  ExpectError(load([](LogGridCase& c) { c.delta = 0.0f; }), StatusCode::kInvalidModel, "delta 0");
  ExpectError(load([](LogGridCase& c) { c.delta = std::numeric_limits<float>::quiet_NaN(); }),
              StatusCode::kInvalidModel, "log-grid delta nan");
  ExpectError(load([](LogGridCase& c) { c.eta = -0.5f; }), StatusCode::kInvalidModel, "eta -0.5");
  ExpectError(load([](LogGridCase& c) { c.type = fb::ElementType::INT16; }), StatusCode::kInvalidModel,
              "log-grid quantization on a int16 tensor");
  ExpectError(load([](LogGridCase& c) { c.p_is_output = true; }), StatusCode::kInvalidModel,
              "log-grid tensor is a model output");
  ExpectError(load([](LogGridCase& c) { c.p_read_by_add = true; }), StatusCode::kInvalidModel,
              "log-grid tensor is input 0 of ADD");
}

TEST(ModelLoad, ArenaOffsetBeyondArena) {
  FcModelOptions o;
  o.y_offset = 128;  // y is 3 bytes: [128, 131) > arena 128
  ExpectError(BuildFcModel(o), StatusCode::kInvalidModel, "tensor 3: arena range [128, 131) exceeds arena_size 128");
  o.y_offset = 126;
  ExpectError(BuildFcModel(o), StatusCode::kInvalidModel, "exceeds arena_size");
  o.y_offset = std::numeric_limits<int64_t>::max() - 1;
  o.arena_size = std::numeric_limits<uint64_t>::max();
  ExpectError(BuildFcModel(o), StatusCode::kInvalidModel, "implausibly large");
}

TEST(ModelLoad, OverlappingLiveTensorsInStoredPlan) {
  FcModelOptions o;
  o.y_offset = 2;  // x occupies [0, 4): overlaps y while the op runs
  ExpectError(BuildFcModel(o), StatusCode::kInvalidModel, "are live at the same step and overlap");
}

TEST(ModelLoad, NegativeOffsetForLiveTensor) {
  FcModelOptions o;
  o.y_offset = -1;
  ExpectError(BuildFcModel(o), StatusCode::kInvalidModel, "arena_offset -1 is negative");
}

TEST(ModelLoad, DataflowRules) {
  {  // reads a tensor no one produces
    SqntBuilder b;
    const int x = b.Activation("x", fb::ElementType::INT8, {4});
    const int t = b.Activation("t", fb::ElementType::INT8, {4});
    const int y = b.Activation("y", fb::ElementType::INT8, {4});
    b.Op(fb::OpCode::ADD, "add", {x, t}, {y});
    b.Inputs({x});
    b.Outputs({y});
    ExpectError(b.Finish(), StatusCode::kInvalidModel, "reads tensor 1 before any op produces it");
  }
  {  // writes a constant
    SqntBuilder b;
    const int x = b.Activation("x", fb::ElementType::INT8, {4});
    const int c = b.Constant<int8_t>("c", fb::ElementType::INT8, {4}, {1, 2, 3, 4});
    b.Op(fb::OpCode::RESHAPE, "r", {x}, {c});
    b.Inputs({x});
    b.Outputs({x});
    ExpectError(b.Finish(), StatusCode::kInvalidModel, "output tensor 1 is a constant");
  }
  {  // produced twice
    SqntBuilder b;
    const int x = b.Activation("x", fb::ElementType::INT8, {4});
    const int y = b.Activation("y", fb::ElementType::INT8, {4});
    b.Op(fb::OpCode::RESHAPE, "r1", {x}, {y});
    b.Op(fb::OpCode::RESHAPE, "r2", {x}, {y});
    b.Inputs({x});
    b.Outputs({y});
    ExpectError(b.Finish(), StatusCode::kInvalidModel, "op 1: output tensor 1 is already");
  }
  {  // output never produced
    SqntBuilder b;
    b.Activation("x", fb::ElementType::INT8, {4});
    b.Activation("y", fb::ElementType::INT8, {4});
    b.Inputs({0});
    b.Outputs({1});
    ExpectError(b.Finish(), StatusCode::kInvalidModel, "model output tensor 1 is neither");
  }
  {  // a constant as model input
    SqntBuilder b;
    b.Constant<int8_t>("c", fb::ElementType::INT8, {4}, {1, 2, 3, 4});
    b.Inputs({0});
    b.Outputs({0});
    ExpectError(b.Finish(), StatusCode::kInvalidModel, "model input tensor 0 is a constant");
  }
  {  // unknown opcode
    SqntBuilder b;
    const int x = b.Activation("x", fb::ElementType::INT8, {4});
    const int y = b.Activation("y", fb::ElementType::INT8, {4});
    b.Op(static_cast<fb::OpCode>(200), "future", {x}, {y});
    b.Inputs({x});
    b.Outputs({y});
    ExpectError(b.Finish(), StatusCode::kUnsupported, "op 0 'future': unknown opcode 200");
  }
}

TEST(ModelLoad, ReshapeMayAliasItsInputInAStoredPlan) {
  SqntBuilder b;
  const int x = b.Activation("x", fb::ElementType::INT8, {2, 2}, 1.0f, 0, 0);
  const int y = b.Activation("y", fb::ElementType::INT8, {4}, 1.0f, 0, 0);
  b.Op(fb::OpCode::RESHAPE, "r", {x}, {y});
  b.Inputs({x});
  b.Outputs({y});
  b.Plan(64, 64);
  EXPECT_TRUE(Load(b.Finish()).ok());
}

}  // namespace
}  // namespace squint::rt
