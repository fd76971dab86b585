// Interpreter end to end on small models built in the test, and prepare-time rejection of ops
// that break their kernel's preconditions.
#include "runtime/interpreter.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/kernels/reference/fixed_point.h"
#include "runtime/kernels/reference/kernels.h"
#include "tests/runtime/prepare_test_util.h"
#include "tests/runtime/sqnt_builder.h"

namespace squint::rt {
namespace {

using testing::AlignedBytes;
using testing::BuildFcModel;
using testing::SqntBuilder;

struct Runner {
  AlignedBytes bytes;
  Model model;
  Interpreter interp;
  AlignedBytes arena;
  Status Init(const AlignedBytes& b) {
    bytes = b;
    SQUINT_RT_RETURN_IF_ERROR(model.Load(bytes.data(), bytes.size()));
    SQUINT_RT_RETURN_IF_ERROR(interp.Prepare(&model));
    if (interp.arena_size() > (1u << 20)) return Status::Error(StatusCode::kOutOfMemory, "test arena limit");
    std::vector<uint8_t> zeros(interp.arena_size());
    arena.Assign(zeros.data(), zeros.size());
    return interp.SetArena(arena.data(), arena.size());
  }
};

int8_t ExpectedFc(const int8_t* x, int n) {
  static const int8_t w[12] = {1, 2, 3, 4, -1, -2, -3, -4, 0, 1, 0, -1};
  static const int32_t bias[3] = {8, -8, 0};
  int32_t acc = bias[n];
  for (int k = 0; k < 4; ++k) acc += (x[k] - 1) * w[n * 4 + k];
  int32_t y = MultiplyByQuantizedMultiplier(acc, QuantizedMultiplier{1 << 30, -2}) - 2;
  return static_cast<int8_t>(std::min(127, std::max(-128, y)));
}

TEST(Interpreter, FullyConnectedEndToEnd) {
  Runner r;
  Status s = r.Init(BuildFcModel());
  ASSERT_TRUE(s.ok()) << s.message();
  const int8_t x[4] = {10, -20, 30, 127};
  std::memcpy(r.interp.mutable_tensor_data(r.model.inputs()[0]), x, 4);
  ASSERT_TRUE(r.interp.Invoke().ok());
  const int8_t* y = static_cast<const int8_t*>(r.interp.tensor_data(r.model.outputs()[0]));
  for (int n = 0; n < 3; ++n) EXPECT_EQ(y[n], ExpectedFc(x, n)) << n;
}

// FC → LUT (y = −x) → RESHAPE, planned by the runtime, observed op by op.
AlignedBytes BuildChain() {
  SqntBuilder b;
  const int x = b.Activation("x", fb::ElementType::INT8, {1, 4}, 0.5f, 1);
  const std::vector<int8_t> w = {1, 2, 3, 4, -1, -2, -3, -4, 0, 1, 0, -1};
  const int wt = b.Constant<int8_t>("w", fb::ElementType::INT8, {3, 4}, w, {0.25f}, {0});
  const int bt = b.Constant<int32_t>("b", fb::ElementType::INT32, {3}, std::vector<int32_t>{8, -8, 0}, {0.125f}, {0});
  const int h = b.Activation("h", fb::ElementType::INT8, {1, 3}, 1.0f, -2);
  const int g = b.Activation("g", fb::ElementType::INT8, {1, 3}, 1.0f, 0);
  const int y = b.Activation("y", fb::ElementType::INT8, {3}, 1.0f, 0);
  auto requant = b.Requant({1 << 30}, {-2});
  b.Op(fb::OpCode::FULLY_CONNECTED, "fc", {x, wt, bt}, {h}, fb::OpOptions::FullyConnectedOptions,
       fb::CreateFullyConnectedOptions(b.fbb(), requant).Union());
  std::vector<int16_t> table(256);
  for (int i = 0; i < 256; ++i) table[i] = static_cast<int16_t>(std::min(127, -(i - 128)));
  b.Op(fb::OpCode::LUT, "neg", {h}, {g}, fb::OpOptions::LutOptions,
       fb::CreateLutOptionsDirect(b.fbb(), -128, &table).Union());
  b.Op(fb::OpCode::RESHAPE, "flat", {g}, {y});
  b.Inputs({x});
  b.Outputs({y});
  return b.Finish();
}

TEST(Interpreter, ThreeOpChainWithObserver) {
  Runner r;
  Status s = r.Init(BuildChain());
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_LE(r.model.arena_size(), 128u);  // x, h | g, y alias g
  struct Seen {
    int calls = 0;
    int last_op = -1;
    std::string names;
  } seen;
  r.interp.SetObserver(
      [](void* user, int32_t op, const TensorView* outs, int32_t n) {
        auto* s = static_cast<Seen*>(user);
        ++s->calls;
        s->last_op = op;
        for (int i = 0; i < n; ++i) s->names += std::string(outs[i].desc->name) + ";";
      },
      &seen);
  const int8_t x[4] = {5, 6, -7, 8};
  std::memcpy(r.interp.mutable_tensor_data(0), x, 4);
  ASSERT_TRUE(r.interp.Invoke().ok());
  EXPECT_EQ(seen.calls, 3);
  EXPECT_EQ(seen.last_op, 2);
  EXPECT_EQ(seen.names, "h;g;y;");
  const int8_t* y = static_cast<const int8_t*>(r.interp.tensor_data(r.model.outputs()[0]));
  for (int n = 0; n < 3; ++n) EXPECT_EQ(y[n], std::min(127, -ExpectedFc(x, n))) << n;
  // Invoke again, without observer: same result. The plan may reuse the input's memory once it
  // is dead, so inputs are written before every invoke.
  r.interp.SetObserver(nullptr, nullptr);
  std::memcpy(r.interp.mutable_tensor_data(0), x, 4);
  ASSERT_TRUE(r.interp.Invoke().ok());
  for (int n = 0; n < 3; ++n) EXPECT_EQ(y[n], std::min(127, -ExpectedFc(x, n))) << n;
}

// InvokeOp runs one op on whatever its inputs hold: here the LUT (y = −x) on codes written by
// the test, not by the FC before it.
TEST(Interpreter, InvokeOpRunsOneOpOnGivenInputs) {
  Runner r;
  Status s = r.Init(BuildChain());
  ASSERT_TRUE(s.ok()) << s.message();
  const int32_t h = r.model.op(1)->inputs()->Get(0), g = r.model.op(1)->outputs()->Get(0);
  const int8_t codes[3] = {-128, 3, 100};
  std::memcpy(r.interp.mutable_tensor_data(h), codes, 3);
  ASSERT_TRUE(r.interp.InvokeOp(1).ok());
  const int8_t* out = static_cast<const int8_t*>(r.interp.tensor_data(g));
  EXPECT_EQ(out[0], 127);  // −(−128) saturates
  EXPECT_EQ(out[1], -3);
  EXPECT_EQ(out[2], -100);
  EXPECT_EQ(r.interp.InvokeOp(3).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.interp.InvokeOp(-1).code(), StatusCode::kInvalidArgument);
}

TEST(Interpreter, ArenaRules) {
  AlignedBytes bytes = BuildFcModel();
  Model model;
  ASSERT_TRUE(model.Load(bytes.data(), bytes.size()).ok());
  Interpreter interp;
  EXPECT_EQ(interp.Invoke().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(interp.Prepare(&model).ok());
  EXPECT_EQ(interp.Invoke().code(), StatusCode::kFailedPrecondition);
  AlignedBytes arena;
  std::vector<uint8_t> zeros(256);
  arena.Assign(zeros.data(), zeros.size());
  EXPECT_EQ(interp.SetArena(arena.data(), 64).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(interp.SetArena(arena.data() + 1, 200).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(interp.SetArena(arena.data(), 128).ok());
  EXPECT_TRUE(interp.Invoke().ok());
}

using testing::ExpectPrepareError;
using testing::PrepareOf;

// One-op model x → op → y with the given shapes/types and options.
template <typename MakeOptions>
AlignedBytes OneOp(fb::OpCode code, fb::ElementType tx, std::vector<int32_t> sx, fb::ElementType ty,
                   std::vector<int32_t> sy, fb::OpOptions type, MakeOptions make, float y_scale = 1.0f,
                   int32_t y_zp = 0) {
  SqntBuilder b;
  const int x = b.Activation("x", tx, sx);
  const int y = b.Activation("y", ty, sy, y_scale, y_zp);
  auto options = make(b);
  b.Op(code, "op", {x}, {y}, type, options);
  b.Inputs({x});
  b.Outputs({y});
  return b.Finish();
}

TEST(InterpreterPrepare, FcRules) {
  testing::FcModelOptions o;
  o.x_shape = {1, 5};
  ExpectPrepareError(BuildFcModel(o), "op 0 'fc' (FULLY_CONNECTED): input K = 5 but weight K = 4");
  o = {};
  o.w_shape = {2, 6};
  ExpectPrepareError(BuildFcModel(o), "input K = 4 but weight K = 6");
  o = {};
  o.w_shape = {1, 3, 4};  // 12 elements, rank 3
  ExpectPrepareError(BuildFcModel(o), "weight must be a constant int8 or int4 [N, K] tensor");
}

TEST(InterpreterPrepare, GroupedFcRules) {
  testing::FcModelOptions o;
  o.groups = 0;
  ExpectPrepareError(BuildFcModel(o), "op 0 'fc' (FULLY_CONNECTED): groups = 0, expected >= 1");
  o.groups = 2;  // N = 3
  ExpectPrepareError(BuildFcModel(o), "groups = 2 must divide input K = 4 and weight N = 3");
  o.groups = 3;  // K = 4
  ExpectPrepareError(BuildFcModel(o), "groups = 3 must divide input K = 4 and weight N = 3");
  o.x_shape = {1, 6};  // K/groups = 2, weight has 4
  ExpectPrepareError(BuildFcModel(o), "input K = 6 but weight K = 4 (weight [N, K/groups], groups = 3)");
}

// groups = 3 on x [1, 12], w [3, 4]: unit n is the dense layer of BuildFcModel on x[4n .. 4n+3].
TEST(Interpreter, GroupedFullyConnectedReadsItsGroupsChannels) {
  testing::FcModelOptions o;
  o.groups = 3;
  o.x_shape = {1, 12};
  o.y_offset = 64;
  Runner r;
  Status s = r.Init(BuildFcModel(o));
  ASSERT_TRUE(s.ok()) << s.message();
  int8_t x[12];
  for (int i = 0; i < 12; ++i) x[i] = static_cast<int8_t>((i * 41) % 97 - 48);
  std::memcpy(r.interp.mutable_tensor_data(r.model.inputs()[0]), x, 12);
  ASSERT_TRUE(r.interp.Invoke().ok());
  const int8_t* y = static_cast<const int8_t*>(r.interp.tensor_data(r.model.outputs()[0]));
  for (int n = 0; n < 3; ++n) EXPECT_EQ(y[n], ExpectedFc(x + 4 * n, n)) << n;
}

// HADAMARD fields as the quantizer writes them (schema HadamardOptions); defaults form a valid op
// on x [3, 8]: block 8 = 2·2^2, h_k = H_2, signs alternating.
struct HadamardFields {
  fb::ElementType tx = fb::ElementType::INT16, ty = fb::ElementType::INT8;
  std::vector<int32_t> sx = {3, 8}, sy = {3, 8};
  int32_t block = 8, k = 2;
  std::vector<int8_t> h_k = {1, 1, 1, -1};
  std::vector<int8_t> signs = {1, -1, 1, -1, 1, -1, 1, -1};
  bool with_signs = true;
  std::vector<int32_t> multiplier = {1 << 30}, shift = {-6};
};

AlignedBytes HadamardModel(const HadamardFields& f) {
  return OneOp(fb::OpCode::HADAMARD, f.tx, f.sx, f.ty, f.sy, fb::OpOptions::HadamardOptions, [&](SqntBuilder& b) {
    return fb::CreateHadamardOptionsDirect(b.fbb(), f.block, f.k, f.h_k.empty() ? nullptr : &f.h_k,
                                           f.with_signs ? &f.signs : nullptr, b.Requant(f.multiplier, f.shift))
        .Union();
  });
}

// The op through the interpreter equals the reference kernel called directly.
template <typename TIn>
void ExpectHadamardMatchesKernel(const HadamardFields& f) {
  Runner r;
  Status s = r.Init(HadamardModel(f));
  ASSERT_TRUE(s.ok()) << s.message();
  std::vector<TIn> x(24);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<TIn>((static_cast<int32_t>(i) * 37 % 53 - 26) * (sizeof(TIn) == 2 ? 300 : 4));
  std::memcpy(r.interp.mutable_tensor_data(r.model.inputs()[0]), x.data(), x.size() * sizeof(TIn));
  ASSERT_TRUE(r.interp.Invoke().ok());
  const int8_t* y = static_cast<const int8_t*>(r.interp.tensor_data(r.model.outputs()[0]));
  ref::HadamardParams p;
  p.rows = 3;
  p.channels = 8;
  p.block = f.block;
  p.k = f.k;
  p.h_k = f.k > 1 ? f.h_k.data() : nullptr;
  p.signs = f.with_signs ? f.signs.data() : nullptr;
  const int32_t mult = f.multiplier[0], shift = f.shift[0];
  p.requant.multiplier = &mult;
  p.requant.shift = &shift;
  p.requant.count = 1;
  p.requant.act_min = -128;
  p.requant.act_max = 127;
  std::vector<int32_t> scratch(2 * static_cast<size_t>(f.block));
  p.scratch = scratch.data();
  std::vector<int8_t> expected(x.size());
  ref::Hadamard<TIn>(p, x.data(), expected.data());
  int distinct = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(y[i], expected[i]) << i;
    distinct += i > 0 && expected[i] != expected[i - 1];
  }
  EXPECT_GT(distinct, 8);  // not a saturated or constant output
}

TEST(Interpreter, HadamardMatchesTheReferenceKernel) {
  HadamardFields f;
  ExpectHadamardMatchesKernel<int16_t>(f);
  f.tx = fb::ElementType::INT8;
  f.shift = {-2};
  ExpectHadamardMatchesKernel<int8_t>(f);
  f.k = 1;  // Sylvester only, blocks of 4, no signs
  f.block = 4;
  f.h_k.clear();
  f.with_signs = false;
  ExpectHadamardMatchesKernel<int8_t>(f);
}

TEST(InterpreterPrepare, HadamardRules) {
  auto bad = [](void (*edit)(HadamardFields&), const std::string& needle) {
    HadamardFields f;
    edit(f);
    ExpectPrepareError(HadamardModel(f), needle);
  };
  EXPECT_TRUE(PrepareOf(HadamardModel(HadamardFields())).ok());
  bad([](HadamardFields& f) { f.ty = fb::ElementType::INT16; },
      "op 0 'op' (HADAMARD): input int16 / output int16, expected int8 or int16 to int8");
  bad([](HadamardFields& f) { f.tx = fb::ElementType::UINT8; }, "input uint8 / output int8");
  bad([](HadamardFields& f) { f.sy = {3, 4}; }, "output 'y' and input 'x' shapes differ");
  bad([](HadamardFields& f) { f.block = 0; }, "block 0, expected >= 1 and dividing the 8 channels");
  bad([](HadamardFields& f) { f.block = 3; }, "block 3, expected >= 1 and dividing the 8 channels");
  bad([](HadamardFields& f) { f.k = 3; }, "block 8 is not k·2^m with k = 3");
  bad([](HadamardFields& f) { f.sx = f.sy = {3, 12}; f.block = 12; f.signs.resize(12, 1); },
      "block 12 is not k·2^m with k = 2");
  bad([](HadamardFields& f) { f.k = 1; }, "h_k has 4 entries, expected none when k = 1");
  bad([](HadamardFields& f) { f.h_k.pop_back(); }, "h_k has 3 entries, expected k·k = 4");
  bad([](HadamardFields& f) { f.h_k[1] = 2; }, "h_k[1] = 2, expected +1 or -1");
  bad([](HadamardFields& f) { f.h_k = {1, 1, 1, 1}; }, "h_k rows 0 and 1 have dot product 2, expected 0");
  bad([](HadamardFields& f) { f.signs.pop_back(); }, "signs has 7 entries, expected 8 (channels)");
  bad([](HadamardFields& f) { f.signs[5] = 0; }, "signs[5] = 0, expected +1 or -1");
  bad([](HadamardFields& f) { f.multiplier = {1 << 30, 1 << 30}; f.shift = {0, 0}; },
      "output requantization has 2 multipliers, expected 1 (per tensor)");
  bad([](HadamardFields& f) { f.multiplier = {5}; }, "output multiplier[0] = 5");
  // int16, zero point 0: max|x| = 32768, so block 2^16 overflows int32 and 2^15 does not.
  bad([](HadamardFields& f) { f.sx = f.sy = {1, 1 << 16}; f.block = 1 << 16; f.k = 1; f.h_k.clear(); f.with_signs = false; },
      "block 65536 · max|x - zero point| 32768 overflows the int32 accumulator");
  HadamardFields big;
  big.sx = big.sy = {1, 1 << 15};
  big.block = 1 << 15;
  big.k = 1;
  big.h_k.clear();
  big.with_signs = false;
  EXPECT_TRUE(PrepareOf(HadamardModel(big)).ok());
  big.tx = fb::ElementType::INT8;
  big.sx = big.sy = {1, 1 << 16};
  big.block = 1 << 16;
  EXPECT_TRUE(PrepareOf(HadamardModel(big)).ok());  // int8: 2^16·255 < 2^31
}

TEST(InterpreterPrepare, RequantRules) {
  auto lut_table = [](int n) { return std::vector<int16_t>(n, 0); };
  (void)lut_table;
  auto make = [](int32_t mult, int32_t shift, int32_t lo, int32_t hi) {
    return OneOp(fb::OpCode::REQUANTIZE, fb::ElementType::INT8, {4}, fb::ElementType::INT8, {4},
                 fb::OpOptions::RequantizeOptions, [&](SqntBuilder& b) {
                   return fb::CreateRequantizeOptions(b.fbb(), b.Requant({mult}, {shift}, lo, hi)).Union();
                 });
  };
  EXPECT_TRUE(PrepareOf(make(1 << 30, 1, -128, 127)).ok());
  ExpectPrepareError(make(12345, 0, -128, 127), "multiplier[0] = 12345, expected 0 or in [2^30, 2^31)");
  ExpectPrepareError(make(1 << 30, 31, -128, 127), "shift[0] = 31");
  ExpectPrepareError(make(1 << 30, 0, -200, 127), "activation range [-200, 127] is not within the int8 range");
  ExpectPrepareError(make(1 << 30, 0, 10, 5), "activation range [10, 5]");
}

TEST(InterpreterPrepare, LutTableMustCoverInputRange) {
  auto make = [](int32_t min_code, int n, fb::ElementType tx) {
    return OneOp(fb::OpCode::LUT, tx, {4}, fb::ElementType::INT8, {4}, fb::OpOptions::LutOptions,
                 [&](SqntBuilder& b) {
                   std::vector<int16_t> table(n, 1);
                   return fb::CreateLutOptionsDirect(b.fbb(), min_code, &table).Union();
                 });
  };
  EXPECT_TRUE(PrepareOf(make(-128, 256, fb::ElementType::INT8)).ok());
  ExpectPrepareError(make(-128, 255, fb::ElementType::INT8), "table covers codes [-128, 126]");
  ExpectPrepareError(make(-127, 256, fb::ElementType::INT8), "must cover the int8 input range");
  ExpectPrepareError(make(-128, 256, fb::ElementType::INT16), "must cover the int16 input range");
}

TEST(InterpreterPrepare, SoftmaxRules) {
  auto make = [](int n, int32_t first, int32_t y_zp, float y_scale = 1.0f / 256) {
    return OneOp(fb::OpCode::SOFTMAX, fb::ElementType::INT8, {2, 8}, fb::ElementType::INT8, {2, 8},
                 fb::OpOptions::SoftmaxOptions,
                 [&](SqntBuilder& b) {
                   std::vector<int32_t> table(n, 0);
                   if (n > 0) table[0] = first;
                   return fb::CreateSoftmaxOptionsDirect(b.fbb(), &table, 16).Union();
                 },
                 y_scale, y_zp);
  };
  EXPECT_TRUE(PrepareOf(make(256, 1 << 16, -128)).ok());
  EXPECT_TRUE(PrepareOf(make(256, 1 << 16, -128, 1.0f / 4)).ok());  // 2-bit output grid
  ExpectPrepareError(make(256, 1 << 16, -128, 1.0f / 512), "output scale 0.00195312, expected 1/2^b with b in [2, 8]");
  ExpectPrepareError(make(256, 1 << 16, -128, 1.0f / 2), "output scale 0.5, expected 1/2^b");
  ExpectPrepareError(make(256, 1 << 16, -128, 0.01f), "output scale 0.01, expected 1/2^b");
  EXPECT_TRUE(PrepareOf(make(255, 1 << 16, -128)).ok());  // schema 1.1: trailing zeros left out, padded at prepare
  ExpectPrepareError(make(257, 1 << 16, -128), "exp_table has 257 entries, expected at most 256");
  ExpectPrepareError(make(256, 7, -128), "exp_table[0] = 7, expected 2^exp_bits");
  ExpectPrepareError(make(256, 1 << 16, 0), "output zero point 0, expected -128");
}

TEST(InterpreterPrepare, TransposePermMustBeAPermutation) {
  auto make = [](std::vector<int32_t> perm, std::vector<int32_t> sy) {
    return OneOp(fb::OpCode::TRANSPOSE, fb::ElementType::INT8, {2, 3, 4}, fb::ElementType::INT8, sy,
                 fb::OpOptions::TransposeOptions,
                 [&](SqntBuilder& b) { return fb::CreateTransposeOptionsDirect(b.fbb(), &perm).Union(); });
  };
  EXPECT_TRUE(PrepareOf(make({2, 0, 1}, {4, 2, 3})).ok());
  ExpectPrepareError(make({0, 0, 1}, {2, 2, 3}), "perm is not a permutation");
  ExpectPrepareError(make({0, 1, 3}, {2, 3, 4}), "perm is not a permutation");
  ExpectPrepareError(make({0, 1}, {2, 3, 4}), "perm has 2 values");
  ExpectPrepareError(make({2, 0, 1}, {4, 3, 2}), "output dim 1 is 3, expected input dim 0 = 2");
}

TEST(InterpreterPrepare, SliceAndPadRanges) {
  auto slice = [](std::vector<int32_t> starts, std::vector<int32_t> ends, std::vector<int32_t> sy) {
    return OneOp(fb::OpCode::SLICE, fb::ElementType::INT8, {4, 6}, fb::ElementType::INT8, sy,
                 fb::OpOptions::SliceOptions, [&](SqntBuilder& b) {
                   return fb::CreateSliceOptionsDirect(b.fbb(), &starts, &ends, nullptr).Union();
                 });
  };
  EXPECT_TRUE(PrepareOf(slice({1, 0}, {3, 6}, {2, 6})).ok());
  ExpectPrepareError(slice({1, 0}, {3, 6}, {2, 5}), "output dim 1 is 5, expected 6");
  ExpectPrepareError(slice({-1, 0}, {3, 6}, {4, 6}), "starts must be normalized");
  auto pad = [](std::vector<int32_t> pads, int8_t mode, std::vector<int32_t> sy) {
    return OneOp(fb::OpCode::PAD, fb::ElementType::INT8, {2, 3}, fb::ElementType::INT8, sy,
                 fb::OpOptions::PadOptions,
                 [&](SqntBuilder& b) { return fb::CreatePadOptionsDirect(b.fbb(), &pads, mode).Union(); });
  };
  EXPECT_TRUE(PrepareOf(pad({0, 1, 0, 1}, 0, {2, 5})).ok());
  ExpectPrepareError(pad({0, 3, 0, 0}, 1, {2, 6}), "reflect pad on axis 1 exceeds");
  ExpectPrepareError(pad({0, -1, 0, 1}, 0, {2, 3}), "pads[1] = -1");
  ExpectPrepareError(pad({0, 1, 0, 1}, 5, {2, 5}), "mode 5");
}

TEST(InterpreterPrepare, GatherIndicesInRange) {
  auto make = [](std::vector<int32_t> indices) {
    SqntBuilder b;
    const int x = b.Activation("x", fb::ElementType::INT8, {5, 3});
    const int idx = b.Constant<int32_t>("i", fb::ElementType::INT32, {static_cast<int32_t>(indices.size())}, indices);
    const int y = b.Activation("y", fb::ElementType::INT8, {static_cast<int32_t>(indices.size()), 3});
    b.Op(fb::OpCode::GATHER, "g", {x, idx}, {y}, fb::OpOptions::GatherOptions,
         fb::CreateGatherOptions(b.fbb(), 0).Union());
    b.Inputs({x});
    b.Outputs({y});
    return b.Finish();
  };
  EXPECT_TRUE(PrepareOf(make({0, 4, -5})).ok());
  ExpectPrepareError(make({0, 5}), "index[1] = 5 outside [-5, 5)");
  ExpectPrepareError(make({-6}), "index[0] = -6");
}

TEST(InterpreterPrepare, ConvShapeRules) {
  auto make = [](std::vector<int32_t> wshape, std::vector<int32_t> yshape, std::vector<int32_t> stride) {
    SqntBuilder b;
    const int x = b.Activation("x", fb::ElementType::INT8, {1, 2, 5, 5});
    int64_t n = 1;
    for (int32_t d : wshape) n *= d;
    const int w = b.Constant<int8_t>("w", fb::ElementType::INT8, wshape, std::vector<int8_t>(n, 1));
    const int y = b.Activation("y", fb::ElementType::INT8, yshape);
    auto requant = b.Requant({1 << 30}, {0});
    b.Op(fb::OpCode::CONV_2D, "conv", {x, w}, {y}, fb::OpOptions::Conv2DOptions,
         fb::CreateConv2DOptionsDirect(b.fbb(), &stride, nullptr, nullptr, 1, requant).Union());
    b.Inputs({x});
    b.Outputs({y});
    return b.Finish();
  };
  EXPECT_TRUE(PrepareOf(make({4, 2, 3, 3}, {1, 4, 3, 3}, {1, 1})).ok());
  EXPECT_TRUE(PrepareOf(make({4, 2, 3, 3}, {1, 4, 2, 2}, {2, 2})).ok());
  ExpectPrepareError(make({4, 2, 3}, {1, 4, 3, 3}, {1, 1}), "weight has 3 dims, expected 4");
  ExpectPrepareError(make({4, 3, 3, 3}, {1, 4, 3, 3}, {1, 1}), "weight has 3 input channels per group");
  ExpectPrepareError(make({4, 2, 3, 3}, {1, 4, 3, 3}, {2, 2}), "expected [1, 4, 2, 2]");
  ExpectPrepareError(make({4, 2, 3, 3}, {1, 4, 3, 3}, {0, 1}), "stride[0] = 0");
}

TEST(InterpreterPrepare, MissingOrWrongOptions) {
  SqntBuilder b;
  const int x = b.Activation("x", fb::ElementType::INT8, {4});
  const int y = b.Activation("y", fb::ElementType::INT8, {4});
  b.Op(fb::OpCode::LUT, "lut", {x}, {y});
  b.Inputs({x});
  b.Outputs({y});
  ExpectPrepareError(b.Finish(), "op 0 'lut' (LUT): options are NONE, expected LutOptions");
}

// Bytes flipped anywhere: load + prepare + invoke must never crash (run under ASan/UBSan).
TEST(Interpreter, FlippedBytesLoadPrepareInvokeNeverCrash) {
  for (const AlignedBytes& base : {BuildFcModel(), BuildChain()}) {
    for (size_t i = 0; i < base.size(); ++i) {
      for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x10}, uint8_t{0xff}}) {
        AlignedBytes copy = base;
        copy.data()[i] ^= mask;
        Runner r;
        if (r.Init(copy).ok()) {
          EXPECT_TRUE(r.interp.Invoke().ok());
        }
      }
    }
  }
}

}  // namespace
}  // namespace squint::rt

namespace squint::rt {
namespace {

using testing::SqntBuilder;

// MEAN over axis 1 of x [2, 4, 3] (int8), with or without a keep mask [2, 4, 1] (int32 input).
struct MeanFields {
  std::vector<int32_t> sx = {2, 4, 3}, sy = {2, 3}, skeep = {2, 4, 1};
  int32_t axis = 1, count = 1;
  bool keep = true;
  fb::ElementType keep_type = fb::ElementType::INT32;
};

AlignedBytes MeanModel(const MeanFields& f) {
  SqntBuilder b;
  const int x = b.Activation("x", fb::ElementType::INT8, f.sx, 0.1f, -2);
  const int y = b.Activation("y", fb::ElementType::INT8, f.sy, 0.1f, -2);
  std::vector<int32_t> ins = {x};
  if (f.keep) ins.push_back(b.AddTensor("keep", f.keep_type, f.skeep, {}, {}, -1, 0, -1, /*with_quant=*/false));
  const int32_t m = 1 << 30, s = 1 - 8;  // M = 2^-8: s_in / (s_out·2^8) with equal scales
  b.Op(fb::OpCode::MEAN, "mean", ins, {y}, fb::OpOptions::MeanOptions,
       fb::CreateMeanOptions(b.fbb(), f.axis, f.count, b.Requant({m}, {s})).Union());
  b.Inputs(f.keep ? std::vector<int32_t>{x, ins[1]} : std::vector<int32_t>{x});
  b.Outputs({y});
  return b.Finish();
}

TEST(InterpreterPrepare, MeanRules) {
  MeanFields f;
  f.axis = 3;
  ExpectPrepareError(MeanModel(f), "op 0 'mean' (MEAN): axes [3, 4) outside the input's 3 dims");
  f = {};
  f.sy = {2, 4};
  ExpectPrepareError(MeanModel(f), "output has 8 elements, expected 6");
  f = {};
  f.skeep = {2, 3, 1};
  ExpectPrepareError(MeanModel(f), "keep mask dim 3 does not broadcast to input dim 4");
  f = {};
  f.keep_type = fb::ElementType::INT8;
  ExpectPrepareError(MeanModel(f), "keep mask must be an int32 activation");
  f = {};
  f.skeep = {2, 4, 3};  // dense over every axis: one stride per group still addresses it
  Runner r;
  EXPECT_TRUE(r.Init(MeanModel(f)).ok());
}

// Through the interpreter: the mean of the kept codes, the zero point where nothing is kept.
TEST(Interpreter, MeanOfKeptPositions) {
  Runner r;
  Status s = r.Init(MeanModel({}));
  ASSERT_TRUE(s.ok()) << s.message();
  int8_t x[24];
  for (int i = 0; i < 24; ++i) x[i] = static_cast<int8_t>(i * 5 - 60);
  const int32_t keep[8] = {1, 0, 1, 1, 0, 0, 0, 0};  // sample 1 keeps nothing
  std::memcpy(r.interp.mutable_tensor_data(r.model.inputs()[0]), x, sizeof(x));
  std::memcpy(r.interp.mutable_tensor_data(r.model.inputs()[1]), keep, sizeof(keep));
  ASSERT_TRUE(r.interp.Invoke().ok());
  const int8_t* y = static_cast<const int8_t*>(r.interp.tensor_data(r.model.outputs()[0]));
  for (int c = 0; c < 3; ++c) {
    const double mean = ((x[c] + 2) + (x[6 + c] + 2) + (x[9 + c] + 2)) / 3.0;  // tokens 0, 2, 3
    EXPECT_EQ(y[c], static_cast<int8_t>(std::lround(mean) - 2)) << c;
    EXPECT_EQ(y[3 + c], -2) << "nothing kept: 0";
  }
}

// Inputs the fuzzer once crashed on (fuzz/regressions/sqnt_loader) load and prepare to a value
// or a clean error. mean_absent_keep_input: a MEAN whose input 1 is −1 (absent) was read as a
// tensor.
TEST(SqntRegressions, LoadAndPrepareCleanly) {
  const std::filesystem::path dir = std::filesystem::path(SQUINT_SOURCE_DIR) / "fuzz" / "regressions" / "sqnt_loader";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::vector<uint8_t> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    AlignedBytes bytes;
    bytes.Assign(raw.data(), raw.size());
    Model model;
    if (model.Load(bytes.data(), bytes.size()).ok()) {
      Interpreter interp;
      (void)interp.Prepare(&model);  // ok or an error status: never a crash or undefined behaviour
    }
    ++files;
  }
  EXPECT_GE(files, 1);
}

// Writes MEAN seeds (with and without the keep input) for fuzz/sqnt_loader_fuzz when
// SQUINT_WRITE_FUZZ_SEEDS names a directory.
TEST(MeanSeeds, WriteFuzzSeeds) {
  const char* dir = std::getenv("SQUINT_WRITE_FUZZ_SEEDS");
  if (dir == nullptr) GTEST_SKIP() << "set SQUINT_WRITE_FUZZ_SEEDS=<dir> to write seeds";
  MeanFields plain;
  plain.keep = false;
  for (const auto& [name, f] : {std::pair<const char*, MeanFields>{"mean.sqnt", plain}, {"mean_keep.sqnt", MeanFields{}}}) {
    const AlignedBytes bytes = MeanModel(f);
    std::FILE* out = std::fopen((std::string(dir) + "/" + name).c_str(), "wb");
    ASSERT_NE(out, nullptr);
    std::fwrite(bytes.data(), 1, bytes.size(), out);
    std::fclose(out);
  }
}

}  // namespace
}  // namespace squint::rt
