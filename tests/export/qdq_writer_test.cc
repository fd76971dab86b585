// The QDQ ONNX writer on small hand-built .sqnt models: structure (QDQ pairs, names, shapes,
// initializers), the ops whose export is exact or reconstructed (LUT table, LayerNorm γ/β,
// transposed FC weights), determinism, errors, and the verified .sqnt reader.
// Numerics under ONNX Runtime on the bundled models: tests/python/test_qdq_export.py.
#include <onnx/checker.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "export/qdq_writer.h"
#include "export/sqnt_reader.h"
#include "runtime/kernels/reference/kernels.h"
#include "runtime/quant_math/quant_math.h"
#include "tests/runtime/sqnt_builder.h"

namespace squint::exporter {
namespace {

using rt::testing::SqntBuilder;

std::unique_ptr<fb::ModelT> Parse(SqntBuilder& b) {
  const rt::testing::AlignedBytes bytes = b.Finish();
  auto m = ParseSqnt(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()), "test.sqnt");
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? std::move(*m) : nullptr;
}

onnx::ModelProto Export(const fb::ModelT& m) {
  Result<std::string> bytes = SerializeQdq(m);
  EXPECT_TRUE(bytes.ok()) << bytes.status().message();
  onnx::ModelProto proto;
  EXPECT_TRUE(bytes.ok() && proto.ParseFromString(*bytes));
  EXPECT_NO_THROW(onnx::checker::check_model(proto));
  return proto;
}

const onnx::TensorProto* Initializer(const onnx::ModelProto& m, const std::string& name) {
  for (const onnx::TensorProto& t : m.graph().initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

const onnx::NodeProto* Producer(const onnx::ModelProto& m, const std::string& value) {
  for (const onnx::NodeProto& n : m.graph().node())
    for (const std::string& o : n.output())
      if (o == value) return &n;
  return nullptr;
}

std::map<std::string, int> OpCounts(const onnx::ModelProto& m) {
  std::map<std::string, int> c;
  for (const onnx::NodeProto& n : m.graph().node()) ++c[n.op_type()];
  return c;
}

template <typename T>
std::vector<T> Raw(const onnx::TensorProto& t) {
  std::vector<T> v(t.raw_data().size() / sizeof(T));
  std::memcpy(v.data(), t.raw_data().data(), v.size() * sizeof(T));
  return v;
}

// x [2, 4] int8 → FULLY_CONNECTED (w [3, 4] per channel, bias) → y [2, 3], ReLU-clamped.
std::unique_ptr<fb::ModelT> FullyConnectedModel() {
  SqntBuilder b;
  const int x = b.Activation("x", fb::ElementType::INT8, {2, 4}, 0.5f, 3);
  std::vector<int8_t> w = {1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12};
  const int wt = b.Constant<int8_t>("w", fb::ElementType::INT8, {3, 4}, w, {0.25f, 0.125f, 0.5f}, {0, 0, 0}, 0);
  const int bt = b.AddTensor("b", fb::ElementType::INT32, {3}, {}, {}, -1,
                             b.AddBuffer({1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0}), -1, /*with_quant=*/false);
  const int y = b.Activation("y", fb::ElementType::INT8, {2, 3}, 0.75f, -5);
  b.Op(fb::OpCode::FULLY_CONNECTED, "fc", {x, wt, bt}, {y}, fb::OpOptions::FullyConnectedOptions,
       fb::CreateFullyConnectedOptions(b.fbb(), b.Requant({1 << 30}, {0}, -5, 127)).Union());
  b.Inputs({x});
  b.Outputs({y});
  return Parse(b);
}

TEST(QdqWriter, FullyConnectedIsMatMulOfDequantizedTransposedCodesPlusBias) {
  const auto model = FullyConnectedModel();
  ASSERT_TRUE(model);
  const onnx::ModelProto m = Export(*model);
  ASSERT_EQ(m.graph().input_size(), 1);
  EXPECT_EQ(m.graph().input(0).name(), "x");
  EXPECT_EQ(m.graph().input(0).type().tensor_type().elem_type(), onnx::TensorProto::FLOAT);
  ASSERT_EQ(m.graph().output_size(), 1);
  EXPECT_EQ(m.graph().output(0).name(), "y");
  EXPECT_EQ(m.graph().output(0).type().tensor_type().shape().dim(1).dim_value(), 3);
  const std::map<std::string, int> ops = OpCounts(m);
  EXPECT_EQ(ops.at("MatMul"), 1);
  EXPECT_EQ(ops.at("Add"), 1);
  EXPECT_EQ(ops.at("Relu"), 1);  // activation_min = the output zero point: a fused ReLU
  EXPECT_EQ(ops.at("QuantizeLinear"), 2);  // x and y

  // The weight: int8 codes [K, N] = the transpose of the .sqnt's [N, K], scales on axis 1.
  const onnx::NodeProto* matmul = nullptr;
  for (const onnx::NodeProto& n : m.graph().node())
    if (n.op_type() == "MatMul") matmul = &n;
  const onnx::NodeProto* dq = Producer(m, matmul->input(1));
  ASSERT_TRUE(dq && dq->op_type() == "DequantizeLinear");
  const onnx::TensorProto* codes = Initializer(m, dq->input(0));
  ASSERT_TRUE(codes);
  EXPECT_EQ(codes->data_type(), onnx::TensorProto::INT8);
  ASSERT_EQ(codes->dims_size(), 2);
  EXPECT_EQ(codes->dims(0), 4);
  EXPECT_EQ(codes->dims(1), 3);
  const std::vector<int8_t> t = Raw<int8_t>(*codes);
  const std::vector<int8_t> w = {1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12};
  for (int n = 0; n < 3; ++n)
    for (int k = 0; k < 4; ++k) EXPECT_EQ(t[static_cast<size_t>(k * 3 + n)], w[static_cast<size_t>(n * 4 + k)]);
  EXPECT_EQ(dq->attribute(0).name(), "axis");
  EXPECT_EQ(dq->attribute(0).i(), 1);

  // The bias: int32 codes with scale s_x·s_w[c].
  const onnx::NodeProto* add = nullptr;
  for (const onnx::NodeProto& n : m.graph().node())
    if (n.op_type() == "Add") add = &n;
  const onnx::NodeProto* bias_dq = Producer(m, add->input(1));
  ASSERT_TRUE(bias_dq && bias_dq->op_type() == "DequantizeLinear");
  EXPECT_EQ(Raw<int32_t>(*Initializer(m, bias_dq->input(0))), (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(Raw<float>(*Initializer(m, bias_dq->input(1))), (std::vector<float>{0.125f, 0.0625f, 0.25f}));
}

TEST(QdqWriter, SameModelSameBytes) {
  const auto model = FullyConnectedModel();
  ASSERT_TRUE(model);
  Result<std::string> a = SerializeQdq(*model), b = SerializeQdq(*model);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
}

TEST(QdqWriter, LutIsAGatherOfTheDequantizedTableByTheInputCodes) {
  SqntBuilder b;
  const int x = b.Activation("x", fb::ElementType::INT8, {1, 8}, 0.1f, 0);
  const int y = b.Activation("y", fb::ElementType::INT8, {1, 8}, 0.5f, 2);
  std::vector<int16_t> table;
  for (int i = 0; i < 256; ++i) table.push_back(static_cast<int16_t>(i * 3 - 400));  // saturates at both ends
  b.Op(fb::OpCode::LUT, "gelu", {x}, {y}, fb::OpOptions::LutOptions,
       fb::CreateLutOptionsDirect(b.fbb(), -128, &table).Union());
  b.Inputs({x});
  b.Outputs({y});
  const auto model = Parse(b);
  ASSERT_TRUE(model);
  const onnx::ModelProto m = Export(*model);
  const onnx::NodeProto* gather = nullptr;
  for (const onnx::NodeProto& n : m.graph().node())
    if (n.op_type() == "Gather") gather = &n;
  ASSERT_TRUE(gather);
  const std::vector<float> values = Raw<float>(*Initializer(m, gather->input(0)));
  ASSERT_EQ(values.size(), 256u);
  for (int code = -128; code <= 127; ++code) {
    const int index = code + 128;
    const int q = std::clamp(table[static_cast<size_t>(index)], int16_t{-128}, int16_t{127});
    EXPECT_EQ(values[static_cast<size_t>(code + 128)], 0.5f * static_cast<float>(q - 2)) << code;
  }
  // The index is the input's QuantizeLinear output, cast and offset by 128.
  const onnx::NodeProto* add = Producer(m, gather->input(1));
  ASSERT_TRUE(add && add->op_type() == "Add");
  EXPECT_EQ(Raw<int32_t>(*Initializer(m, add->input(1))), std::vector<int32_t>{128});
  const onnx::NodeProto* cast = Producer(m, add->input(0));
  ASSERT_TRUE(cast && cast->op_type() == "Cast");
  EXPECT_EQ(Producer(m, cast->input(0))->op_type(), "QuantizeLinear");
}

TEST(QdqWriter, LayerNormGetsTheFloatGammaAndBetaBack) {
  const std::vector<float> gamma = {0.5f, 1.0f, 1.5f, -2.0f}, beta = {0.1f, -0.2f, 0.3f, 0.0f};
  const float s_in = 0.05f, s_out = 0.02f, eps = 1e-5f;
  const quant_math::LayerNormParamsQ p = quant_math::BuildLayerNormParams(s_in, s_out, gamma, beta, eps);
  SqntBuilder b;
  const int x = b.Activation("x", fb::ElementType::INT8, {1, 3, 4}, s_in, 1);
  const int y = b.Activation("y", fb::ElementType::INT8, {1, 3, 4}, s_out, -1);
  auto requant = b.Requant({p.requant.multiplier}, {p.requant.shift});
  b.Op(fb::OpCode::LAYER_NORM, "ln", {x}, {y}, fb::OpOptions::LayerNormOptions,
       fb::CreateLayerNormOptionsDirect(b.fbb(), p.norm_bits, p.epsilon_q, &p.gamma_q, &p.beta_q, requant).Union());
  b.Inputs({x});
  b.Outputs({y});
  const auto model = Parse(b);
  ASSERT_TRUE(model);
  const onnx::ModelProto m = Export(*model);
  const onnx::NodeProto* ln = nullptr;
  for (const onnx::NodeProto& n : m.graph().node())
    if (n.op_type() == "LayerNormalization") ln = &n;
  ASSERT_TRUE(ln);
  const std::vector<float> g = Raw<float>(*Initializer(m, ln->input(1))), bt = Raw<float>(*Initializer(m, ln->input(2)));
  ASSERT_EQ(g.size(), 4u);
  for (size_t c = 0; c < 4; ++c) {
    EXPECT_NEAR(g[c], gamma[c], 2e-3 * std::fabs(gamma[c])) << c;
    EXPECT_NEAR(bt[c], beta[c], s_out) << c;  // β_q is on the output grid
  }
  float epsilon = 0;
  for (const onnx::AttributeProto& a : ln->attribute())
    if (a.name() == "epsilon") epsilon = a.f();
  EXPECT_NEAR(epsilon, eps, 0.01 * eps);
}

// HADAMARD becomes a MatMul by a constant matrix: checked against the reference kernel on random
// codes, for plain Sylvester blocks and a Paley factor (block 12 = 3·4), with random signs.
TEST(QdqWriter, HadamardMatrixReproducesTheReferenceKernel) {
  for (const int32_t block : {8, 12}) {
    const int32_t channels = 2 * block, rows = 3;
    const float s_x = 0.05f, s_y = 0.08f;
    const int32_t k = quant_math::HadamardK(block);
    std::vector<int8_t> h_k;
    if (k > 1) h_k = quant_math::BuildHadamardMatrix(k);
    std::vector<int8_t> signs(static_cast<size_t>(channels));
    std::vector<int8_t> x(static_cast<size_t>(rows * channels));
    uint32_t seed = 12345;
    auto next = [&] { return (seed = seed * 1103515245u + 12345u) >> 16; };
    for (int8_t& v : signs) v = next() % 2 ? 1 : -1;
    for (int8_t& v : x) v = static_cast<int8_t>(static_cast<int32_t>(next() % 255) - 127);
    const rt::QuantizedMultiplier m =
        quant_math::RequantFromReal(s_x / (std::sqrt(static_cast<double>(block)) * s_y));

    SqntBuilder b;
    const int xt = b.Activation("x", fb::ElementType::INT16, {rows, channels}, s_x, 0);
    const int yt = b.Activation("y", fb::ElementType::INT8, {rows, channels}, s_y, 0);
    b.Op(fb::OpCode::HADAMARD, "rotate", {xt}, {yt}, fb::OpOptions::HadamardOptions,
         fb::CreateHadamardOptionsDirect(b.fbb(), block, k, k > 1 ? &h_k : nullptr, &signs,
                                         b.Requant({m.multiplier}, {m.shift}))
             .Union());
    b.Inputs({xt});
    b.Outputs({yt});
    const auto model = Parse(b);
    ASSERT_TRUE(model);
    const onnx::ModelProto proto = Export(*model);
    // The int16 input's QDQ pair is ORT's com.microsoft one.
    ASSERT_EQ(proto.opset_import_size(), 2);
    EXPECT_EQ(proto.opset_import(1).domain(), "com.microsoft");
    EXPECT_EQ(Producer(proto, "x/q")->domain(), "com.microsoft");
    const onnx::NodeProto* matmul = nullptr;
    for (const onnx::NodeProto& n : proto.graph().node())
      if (n.op_type() == "MatMul") matmul = &n;
    ASSERT_TRUE(matmul);
    const std::vector<float> w = Raw<float>(*Initializer(proto, matmul->input(1)));
    ASSERT_EQ(w.size(), static_cast<size_t>(channels * channels));

    std::vector<int16_t> x16(x.begin(), x.end());
    std::vector<int8_t> y(x.size());
    std::vector<int32_t> scratch(static_cast<size_t>(2 * block));
    rt::ref::HadamardParams p;
    p.rows = rows;
    p.channels = channels;
    p.block = block;
    p.k = k;
    p.h_k = k > 1 ? h_k.data() : nullptr;
    p.signs = signs.data();
    p.requant.multiplier = &m.multiplier;
    p.requant.shift = &m.shift;
    p.scratch = scratch.data();
    rt::ref::Hadamard<int16_t>(p, x16.data(), y.data());
    for (int32_t r = 0; r < rows; ++r)
      for (int32_t i = 0; i < channels; ++i) {
        double f = 0;
        for (int32_t j = 0; j < channels; ++j)
          f += s_x * x[static_cast<size_t>(r * channels + j)] * w[static_cast<size_t>(j * channels + i)];
        const double code = std::clamp(std::nearbyint(f / s_y), -128.0, 127.0);
        EXPECT_NEAR(code, y[static_cast<size_t>(r * channels + i)], 1.0) << "block " << block << " row " << r << " ch " << i;
      }
  }
}

TEST(QdqWriter, SoftmaxKeepMaskInputStaysInt32AndMasksByWhere) {
  SqntBuilder b;
  const int x = b.Activation("scores", fb::ElementType::INT8, {1, 2, 4}, 0.1f, 0);
  const int keep = b.AddTensor("keep", fb::ElementType::INT32, {1, 1, 4}, {}, {}, -1, 0, -1, /*with_quant=*/false);
  const int y = b.Activation("probs", fb::ElementType::INT8, {1, 2, 4}, 1.0f / 256, -128);
  std::vector<int32_t> exp_table(256);
  for (int d = 0; d < 256; ++d) exp_table[static_cast<size_t>(d)] = static_cast<int32_t>(std::lround(std::exp(-0.1 * d) * (1 << 20)));
  b.Op(fb::OpCode::SOFTMAX, "softmax", {x, keep}, {y}, fb::OpOptions::SoftmaxOptions,
       fb::CreateSoftmaxOptionsDirect(b.fbb(), &exp_table, 20).Union());
  b.Inputs({x, keep});
  b.Outputs({y});
  const auto model = Parse(b);
  ASSERT_TRUE(model);
  const onnx::ModelProto m = Export(*model);
  ASSERT_EQ(m.graph().input_size(), 2);
  EXPECT_EQ(m.graph().input(1).name(), "keep");
  EXPECT_EQ(m.graph().input(1).type().tensor_type().elem_type(), onnx::TensorProto::INT32);
  const std::map<std::string, int> ops = OpCounts(m);
  EXPECT_EQ(ops.at("Softmax"), 1);
  EXPECT_EQ(ops.at("Where"), 2);  // scores before, probabilities after
}

TEST(QdqWriter, StrippedNamesGetUniqueOnes) {
  auto model = FullyConnectedModel();
  ASSERT_TRUE(model);
  model->tensors[1]->name.clear();
  model->tensors[2]->name.clear();
  model->operators[0]->name.clear();
  const onnx::ModelProto m = Export(*model);  // the checker rejects a value written twice
  EXPECT_EQ(m.graph().output(0).name(), "y");
}

// A model with a batch (Model.batch = 2: x [2, 4] is two samples) is a Scan over its runs: the
// outer graph keeps the names with a free leading dim, reshapes [N, 4] to [N/2, 2, 4], and the
// body is the one-run graph with inputs and outputs named name/sample.
TEST(QdqWriter, BatchedModelIsAScanOverRuns) {
  auto model = FullyConnectedModel();
  ASSERT_TRUE(model);
  const onnx::ModelProto flat = Export(*model);
  model->batch = 2;
  const onnx::ModelProto m = Export(*model);
  const auto ops = OpCounts(m);
  EXPECT_EQ(ops, (std::map<std::string, int>{{"Reshape", 2}, {"Scan", 1}}));
  ASSERT_EQ(m.graph().input_size(), 1);
  EXPECT_EQ(m.graph().input(0).name(), "x");
  EXPECT_EQ(m.graph().output(0).name(), "y");
  for (const onnx::ValueInfoProto* v : {&m.graph().input(0), &m.graph().output(0)}) {
    const onnx::TensorShapeProto& s = v->type().tensor_type().shape();
    ASSERT_EQ(s.dim_size(), 2);
    EXPECT_EQ(s.dim(0).dim_param(), "N");
    EXPECT_EQ(s.dim(1).dim_value(), v == &m.graph().input(0) ? 4 : 3);
  }
  const onnx::TensorProto* runs = Initializer(m, "x/runs_shape");
  ASSERT_NE(runs, nullptr);
  EXPECT_EQ(Raw<int64_t>(*runs), (std::vector<int64_t>{-1, 2, 4}));
  const onnx::NodeProto* scan = Producer(m, "y/runs");
  ASSERT_NE(scan, nullptr);
  ASSERT_EQ(scan->op_type(), "Scan");
  const onnx::GraphProto& body = scan->attribute(0).g();
  EXPECT_EQ(body.input(0).name(), "x/sample");
  EXPECT_EQ(body.output(0).name(), "y/sample");
  // The body is the flat graph's computation: the same ops.
  EXPECT_EQ(body.node_size(), flat.graph().node_size());
}

// A grouped CONV_TRANSPOSE_2D with per-channel weight scales runs on the runtime but has no QDQ
// form (ONNX's per-axis scales would sit on axis 1, C_out/groups long).
std::unique_ptr<fb::ModelT> GroupedConvTransposeModel() {
  SqntBuilder b;
  const int x = b.Activation("x", fb::ElementType::INT8, {1, 2, 3, 3}, 0.5f, 0);
  const int w = b.Constant<int8_t>("w", fb::ElementType::INT8, {2, 1, 2, 2}, std::vector<int8_t>(8, 1), {0.5f, 0.25f},
                                   {0, 0}, 0);
  const int y = b.Activation("up", fb::ElementType::INT8, {1, 2, 4, 4}, 0.5f, 0);
  const std::vector<int32_t> two = {1, 1}, pads = {0, 0, 0, 0};
  b.Op(fb::OpCode::CONV_TRANSPOSE_2D, "deconv", {x, w}, {y}, fb::OpOptions::Conv2DOptions,
       fb::CreateConv2DOptionsDirect(b.fbb(), &two, &two, &pads, 2, b.Requant({1 << 30}, {0})).Union());
  b.Inputs({x});
  b.Outputs({y});
  return Parse(b);
}

TEST(QdqWriter, AnOpWithoutQdqFormIsAnErrorNamingItAndNoFileIsWritten) {
  const auto model = GroupedConvTransposeModel();
  ASSERT_TRUE(model);
  Result<std::string> bytes = SerializeQdq(*model);
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(bytes.status().message().find("CONV_TRANSPOSE_2D 'deconv' (output 'up')"), std::string::npos)
      << bytes.status().message();
  const std::string path = ::testing::TempDir() + "/qdq_writer_test_unsupported.onnx";
  std::filesystem::remove(path);
  EXPECT_FALSE(WriteQdq(path, *model).ok());
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(SqntReader, RejectsGarbageAndTruncatedFilesNamingThem) {
  SqntBuilder b;
  const int x = b.Activation("x", fb::ElementType::INT8, {4}, 0.5f, 0);
  const int y = b.Activation("y", fb::ElementType::INT8, {4}, 0.5f, 0);
  b.Op(fb::OpCode::RESHAPE, "r", {x}, {y});
  b.Inputs({x});
  b.Outputs({y});
  const rt::testing::AlignedBytes bytes = b.Finish();
  const std::string good(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  EXPECT_TRUE(ParseSqnt(good, "m.sqnt").ok());
  for (const std::string& bad : {good.substr(0, good.size() / 2), std::string("SQNT") + std::string(60, '\x7f'),
                                 std::string()}) {
    auto r = ParseSqnt(bad, "m.sqnt");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput);
    EXPECT_EQ(r.status().message().rfind("m.sqnt: ", 0), 0u) << r.status().message();
  }
}

}  // namespace
}  // namespace squint::exporter
