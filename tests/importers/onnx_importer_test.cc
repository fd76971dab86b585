// Structure of imported graphs: values, constants, typed attributes, symbolic dims, opset
// normalization, unsupported-op reporting.
#include <cmath>

#include <gtest/gtest.h>

#include "importers/onnx/onnx_importer.h"
#include "ir/eval/evaluator.h"
#include "tests/importers/onnx_test_util.h"

namespace squint::importers {
namespace {

using testing::ModelBuilder;
using testing::TempDir;

using testing::kNoInfer;

const ir::Node* FindNode(const ir::Graph& g, const std::string& name) {
  for (const auto& n : g.nodes)
    if (n.name == name) return &n;
  return nullptr;
}

std::vector<int64_t> ConstInts(const ir::Graph& g, ir::ValueId id) {
  const ir::Tensor* t = g.constant(id);
  return t ? t->ToInt64Vector() : std::vector<int64_t>{};
}

TEST(OnnxImporter, ImportsSmallMlp) {
  TempDir dir;
  ModelBuilder b(17);
  b.Input("x", {-1, 4}, {"batch", ""});
  b.Initializer("w", {4, 3}, std::vector<float>(12, 0.5f));
  b.Initializer("bias", {3}, {1, 2, 3});
  auto* gemm = b.Node("Gemm", {"x", "w", "bias"}, {"h"}, "gemm");
  ModelBuilder::AttrFloat(gemm, "alpha", 2.0f);
  ModelBuilder::AttrInt(gemm, "transB", 0);
  b.Node("Relu", {"h"}, {"y"}, "");  // unnamed node
  b.Output("y", onnx::TensorProto::FLOAT, {-1, 3});
  auto* vi = b.graph().add_value_info();
  vi->set_name("h");
  ModelBuilder::SetType(vi, onnx::TensorProto::FLOAT, {-1, 3}, {"batch", ""});

  auto r = ImportOnnxFile(b.Save(dir), kNoInfer);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ir::Graph& g = *r;
  EXPECT_EQ(g.opset, 17);
  EXPECT_EQ(g.producer, "squint-test");
  ASSERT_EQ(g.inputs.size(), 1u);
  const ir::Value& x = g.value(g.inputs[0]);
  EXPECT_EQ(x.name, "x");
  EXPECT_EQ(x.dtype, ir::DType::kFloat32);
  ASSERT_TRUE(x.shape);
  EXPECT_EQ((*x.shape)[0], ir::Dim::Symbol("batch"));
  EXPECT_EQ((*x.shape)[1], ir::Dim::Known(4));
  ASSERT_EQ(g.nodes.size(), 2u);
  const ir::Node& n0 = g.nodes[0];
  EXPECT_EQ(n0.op, ir::OpType::kGemm);
  EXPECT_FLOAT_EQ(n0.attrs.GetFloat("alpha", 0), 2.0f);
  EXPECT_EQ(n0.attrs.GetInt("transB", -1), 0);
  ASSERT_NE(g.constant(n0.inputs[1]), nullptr);
  EXPECT_EQ(g.constant(n0.inputs[1])->dims(), (ir::Dims{4, 3}));
  EXPECT_FLOAT_EQ(g.constant(n0.inputs[2])->data<float>()[2], 3.0f);
  // value_info shape with its symbol is kept.
  const ir::Value& h = g.value(n0.outputs[0]);
  ASSERT_TRUE(h.shape);
  EXPECT_EQ(ir::ShapeToString(*h.shape), "batchx3");
  EXPECT_EQ(g.nodes[1].name, "Relu_1");
  EXPECT_EQ(g.value(g.outputs[0]).name, "y");
  EXPECT_TRUE(ir::Verify(g).ok());
}

TEST(OnnxImporter, TypedAttributesAndConstantNode) {
  ModelBuilder b(17);
  b.Input("x", {2, 3});
  auto* c = b.Node("Constant", {}, {"k"}, "const");
  auto* a = c->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  a->mutable_t()->add_dims(3);
  for (float v : {1.f, 2.f, 3.f}) a->mutable_t()->add_float_data(v);
  b.Node("Add", {"x", "k"}, {"s"}, "add");
  auto* t = b.Node("Transpose", {"s"}, {"y"}, "tr");
  ModelBuilder::AttrInts(t, "perm", {1, 0});
  auto* lrelu = b.Node("LeakyRelu", {"y"}, {"z"}, "lrelu");
  ModelBuilder::AttrFloat(lrelu, "alpha", 0.25f);
  b.Output("z");
  auto r = ImportOnnxBytes(b.Bytes(), kNoInfer);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ir::Node* cn = FindNode(*r, "const");
  ASSERT_NE(cn, nullptr);
  EXPECT_EQ(cn->op, ir::OpType::kConstant);  // kept as a node; a pass folds it
  ASSERT_NE(cn->attrs.GetTensor("value"), nullptr);
  EXPECT_EQ(cn->attrs.GetTensor("value")->ToFloatVector(), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(FindNode(*r, "tr")->attrs.GetInts("perm"), (std::vector<int64_t>{1, 0}));
  EXPECT_FLOAT_EQ(FindNode(*r, "lrelu")->attrs.GetFloat("alpha", 0), 0.25f);
}

TEST(OnnxImporter, GraphInputThatIsAnInitializerIsAConstant) {
  ModelBuilder b(13);
  b.Input("x", {1, 2});
  b.Input("w", {1, 2});  // old exporters list weights as graph inputs too
  b.Initializer("w", {1, 2}, {5, 6});
  b.Node("Mul", {"x", "w"}, {"y"}, "mul");
  b.Output("y");
  auto r = ImportOnnxBytes(b.Bytes(), kNoInfer);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->inputs.size(), 1u);
  EXPECT_EQ(r->value(r->inputs[0]).name, "x");
  EXPECT_NE(r->constant(r->nodes[0].inputs[1]), nullptr);
}

TEST(OnnxImporter, NodesOutOfOrderAreSorted) {
  ModelBuilder b(17);
  b.Input("x", {2});
  b.Node("Relu", {"a"}, {"y"}, "second");
  b.Node("Neg", {"x"}, {"a"}, "first");
  b.Output("y");
  auto r = ImportOnnxBytes(b.Bytes(), ImportOptions{.infer_shapes = false, .run_onnx_checker = false});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->nodes[0].name, "first");
  EXPECT_EQ(r->nodes[1].name, "second");
}

TEST(OnnxImporter, ReduceAxesAttributeBecomesInput) {
  ModelBuilder b(17);  // opset 17: ReduceMean takes axes as an attribute
  b.Input("x", {2, 3, 4});
  auto* n = b.Node("ReduceMean", {"x"}, {"y"}, "mean");
  ModelBuilder::AttrInts(n, "axes", {1, -1});
  ModelBuilder::AttrInt(n, "keepdims", 0);
  b.Output("y");
  auto r = ImportOnnxBytes(b.Bytes(), kNoInfer);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ir::Node& m = r->nodes[0];
  EXPECT_FALSE(m.attrs.has("axes"));
  EXPECT_EQ(m.attrs.GetInt("keepdims", 1), 0);
  ASSERT_EQ(m.inputs.size(), 2u);
  EXPECT_EQ(r->value(m.inputs[1]).name, "mean_axes");
  EXPECT_EQ(r->value(m.inputs[1]).dtype, ir::DType::kInt64);
  EXPECT_EQ(ConstInts(*r, m.inputs[1]), (std::vector<int64_t>{1, -1}));
}

TEST(OnnxImporter, ReduceAxesInputFormIsKept) {
  ModelBuilder b(18);  // opset 18: axes is input 1
  b.Input("x", {2, 3});
  b.InitializerInt64("ax", {1}, {0});
  b.Node("ReduceMax", {"x", "ax"}, {"y"}, "max");
  b.Output("y");
  auto r = ImportOnnxBytes(b.Bytes(), kNoInfer);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->value(r->nodes[0].inputs[1]).name, "ax");
}

TEST(OnnxImporter, OldAttributeFormsBecomeInputs) {
  // Split/Squeeze/Unsqueeze/Clip/Pad attribute forms come from opsets < 13; the importer turns
  // them into the input form anyway (libonnx's checker would reject them at opset 13).
  ModelBuilder b(13);
  b.Input("x", {1, 4});
  auto* sq = b.Node("Unsqueeze", {"x"}, {"u"}, "unsq");
  ModelBuilder::AttrInts(sq, "axes", {0});
  auto* sp = b.Node("Split", {"x"}, {"s0", "s1"}, "split");
  ModelBuilder::AttrInts(sp, "split", {1, 3});
  ModelBuilder::AttrInt(sp, "axis", 1);
  auto* clip = b.Node("Clip", {"x"}, {"c"}, "clip");
  ModelBuilder::AttrFloat(clip, "max", 6.0f);
  auto* pad = b.Node("Pad", {"x"}, {"p"}, "pad");
  ModelBuilder::AttrInts(pad, "pads", {0, 1, 0, 1});
  ModelBuilder::AttrFloat(pad, "value", 0.5f);
  ModelBuilder::AttrString(pad, "mode", "constant");
  b.Output("u").Output("s0").Output("s1").Output("c").Output("p");
  auto r = ImportOnnxBytes(b.Bytes(), ImportOptions{.infer_shapes = false, .run_onnx_checker = false});
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ir::Graph& g = *r;
  EXPECT_EQ(ConstInts(g, FindNode(g, "unsq")->inputs[1]), (std::vector<int64_t>{0}));
  EXPECT_EQ(ConstInts(g, FindNode(g, "split")->inputs[1]), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(FindNode(g, "split")->attrs.GetInt("axis", 0), 1);
  const ir::Node* c = FindNode(g, "clip");
  ASSERT_EQ(c->inputs.size(), 3u);
  EXPECT_EQ(c->inputs[1], ir::kNoValue);
  EXPECT_EQ(g.constant(c->inputs[2])->ToFloatVector(), (std::vector<float>{6.0f}));
  EXPECT_EQ(g.constant(c->inputs[2])->rank(), 0);
  const ir::Node* p = FindNode(g, "pad");
  EXPECT_EQ(ConstInts(g, p->inputs[1]), (std::vector<int64_t>{0, 1, 0, 1}));
  EXPECT_EQ(g.constant(p->inputs[2])->ToFloatVector(), (std::vector<float>{0.5f}));
  EXPECT_EQ(p->attrs.GetString("mode", ""), "constant");
  EXPECT_FALSE(p->attrs.has("pads"));
}

TEST(OnnxImporter, Opset11And12FormsPassTheCheckerAndInferShapes) {
  // The opset-11/12 signatures (Split, Unsqueeze, ReduceSum axes as attributes; Clip bounds as
  // inputs since opset 11), through libonnx's checker at their own opset and squint's shape inference.
  for (int64_t opset : {11, 12}) {
    ModelBuilder b(opset);
    b.Input("x", {2, 4});
    b.Initializer("lo", {}, {0.0f});
    b.Initializer("hi", {}, {6.0f});
    auto* sp = b.Node("Split", {"x"}, {"s0", "s1"}, "split");
    ModelBuilder::AttrInts(sp, "split", {1, 3});
    ModelBuilder::AttrInt(sp, "axis", 1);
    ModelBuilder::AttrInts(b.Node("Unsqueeze", {"s0"}, {"u"}, "unsq"), "axes", {0});
    auto* rs = b.Node("ReduceSum", {"s1"}, {"r"}, "sum");
    ModelBuilder::AttrInts(rs, "axes", {1});
    ModelBuilder::AttrInt(rs, "keepdims", 0);
    b.Node("Clip", {"x", "lo", "hi"}, {"c"}, "clip");
    const int kF = onnx::TensorProto::FLOAT;
    b.Output("u", kF, {1, 2, 1}).Output("r", kF, {2}).Output("c", kF, {2, 4});
    auto r = ImportOnnxBytes(b.Bytes());
    ASSERT_TRUE(r.ok()) << opset << ": " << r.status().message();
    const ir::Graph& g = *r;
    EXPECT_EQ(g.opset, opset);
    EXPECT_EQ(ir::ShapeToString(*g.value(g.outputs[0]).shape), "1x2x1");
    EXPECT_EQ(ir::ShapeToString(*g.value(g.outputs[1]).shape), "2");
    EXPECT_EQ(ConstInts(g, FindNode(g, "sum")->inputs[1]), (std::vector<int64_t>{1}));
  }
}

TEST(OnnxImporter, Opset12SoftmaxOverTrailingDimsBecomesItsOpset13Form) {
  // Before opset 13 Softmax coerces its input to 2-D at `axis` (default 1): for rank 3 that is one
  // softmax over the last two dims together. The importer rewrites it Flatten -> Softmax -> Reshape.
  for (const bool log : {false, true}) {
    ModelBuilder b(12);
    b.Input("x", {2, 3, 4});
    b.Node(log ? "LogSoftmax" : "Softmax", {"x"}, {"y"}, "sm");
    b.Output("y", onnx::TensorProto::FLOAT, {2, 3, 4});
    auto r = ImportOnnxBytes(b.Bytes());
    ASSERT_TRUE(r.ok()) << r.status().message();
    const ir::Graph& g = *r;
    ASSERT_NE(FindNode(g, "sm_flatten"), nullptr);
    EXPECT_EQ(FindNode(g, "sm_flatten")->attrs.GetInt("axis", 0), 1);
    ASSERT_NE(FindNode(g, "sm_reshape"), nullptr);
    EXPECT_EQ(g.value(g.outputs[0]).name, "y");
    std::vector<float> xv(24);
    for (size_t i = 0; i < xv.size(); ++i) xv[i] = 0.25f * static_cast<float>(i % 7) - 0.5f * static_cast<float>(i / 12);
    ir::eval::Evaluator ev(g);
    auto out = ev.Run(std::vector<ir::Tensor>{ir::Tensor::FromVector<float>({2, 3, 4}, xv)});
    ASSERT_TRUE(out.ok()) << out.status().message();
    ASSERT_EQ((*out)[0].dims(), (ir::Dims{2, 3, 4}));
    const std::vector<float> got = (*out)[0].ToFloatVector();
    for (int row = 0; row < 2; ++row) {  // softmax over each batch row's 12 values
      double m = -1e30, sum = 0;
      for (int k = 0; k < 12; ++k) m = std::max<double>(m, xv[row * 12 + k]);
      for (int k = 0; k < 12; ++k) sum += std::exp(xv[row * 12 + k] - m);
      for (int k = 0; k < 12; ++k) {
        const double p = std::exp(xv[row * 12 + k] - m) / sum;
        EXPECT_NEAR(got[row * 12 + k], log ? std::log(p) : p, 1e-5) << row << " " << k;
      }
    }
  }
  // An explicit last axis is the opset-13 op already: left as it is.
  ModelBuilder ok(12);
  ok.Input("x", {2, 3, 4});
  ModelBuilder::AttrInt(ok.Node("Softmax", {"x"}, {"y"}, "sm"), "axis", 2);
  ok.Output("y", onnx::TensorProto::FLOAT, {2, 3, 4});
  auto r2 = ImportOnnxBytes(ok.Bytes());
  ASSERT_TRUE(r2.ok()) << r2.status().message();
  EXPECT_EQ(r2->nodes.size(), 1u);
}

TEST(OnnxImporter, AttributeAndInputTogetherIsAnError) {
  ModelBuilder b(18);
  b.Input("x", {2, 3});
  b.InitializerInt64("ax", {1}, {0});
  auto* n = b.Node("ReduceSum", {"x", "ax"}, {"y"}, "sum");
  ModelBuilder::AttrInts(n, "axes", {1});
  b.Output("y");
  auto r = ImportOnnxBytes(b.Bytes(), kNoInfer);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(r.status().message().find("ReduceSum 'sum': 'axes' is given both"), std::string::npos)
      << r.status().message();
}

TEST(OnnxImporter, UnsupportedOpsAreListedInOneError) {
  ModelBuilder b(17);
  b.Input("boxes", {1, 4, 4});
  b.Input("scores", {1, 1, 4});
  b.InitializerInt64("k", {1}, {2});
  b.Node("NonMaxSuppression", {"boxes", "scores"}, {"sel1"}, "nms_1");
  b.Node("NonMaxSuppression", {"boxes", "scores"}, {"sel2"}, "nms_2");
  b.Node("TopK", {"scores", "k"}, {"v", "i"}, "topk");
  b.Node("Relu", {"scores"}, {"r"}, "relu");
  b.Output("sel1", onnx::TensorProto::INT64).Output("sel2", onnx::TensorProto::INT64).Output("v").Output("r");
  auto r = ImportOnnxBytes(b.Bytes());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(r.status().message(), "unsupported ops (opset 17): NonMaxSuppression ('nms_1', 'nms_2'), TopK ('topk')");
}

TEST(OnnxImporter, UnsupportedDomainsAndFusedOps) {
  ModelBuilder b(17);
  auto* o = b.model().add_opset_import();
  o->set_domain("com.microsoft");
  o->set_version(1);
  b.Input("x", {4});
  auto* n = b.Node("FusedGemm", {"x"}, {"a"}, "fg");
  n->set_domain("com.microsoft");
  auto* l = b.Node("Linear", {"a"}, {"y"}, "lin");
  l->set_domain("squint");
  b.Output("y");
  auto r = ImportOnnxBytes(b.Bytes());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("com.microsoft.FusedGemm (domain 'com.microsoft') ('fg')"), std::string::npos) << m;
  EXPECT_NE(m.find("squint.Linear"), std::string::npos) << m;
}

TEST(OnnxImporter, SubgraphsAreUnsupported) {
  ModelBuilder b(17);
  b.Input("c", {}, {}, onnx::TensorProto::BOOL);
  auto* n = b.Node("If", {"c"}, {"y"}, "if_1");
  auto* a = n->add_attribute();
  a->set_name("then_branch");
  a->set_type(onnx::AttributeProto::GRAPH);
  a->mutable_g()->set_name("then");
  b.Output("y");
  auto r = ImportOnnxBytes(b.Bytes());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("If ('if_1')"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("subgraphs"), std::string::npos) << r.status().message();
}

TEST(OnnxImporter, UnsupportedDtypesNameTheTensor) {
  {
    ModelBuilder b(17);
    b.Input("x", {2}, {}, onnx::TensorProto::FLOAT16);
    b.Node("Relu", {"x"}, {"y"}, "relu");
    b.Output("y", onnx::TensorProto::FLOAT16);
    auto r = ImportOnnxBytes(b.Bytes());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
    EXPECT_EQ(r.status().message(), "graph input 'x': element type float16 is not supported");
  }
  {
    ModelBuilder b(17);
    b.Input("x", {2});
    auto* t = b.graph().add_initializer();
    t->set_name("names");
    t->set_data_type(onnx::TensorProto::STRING);
    t->add_dims(1);
    t->add_string_data("a");
    b.Node("Identity", {"names"}, {"y"}, "id");
    b.Output("y", onnx::TensorProto::STRING);
    auto r = ImportOnnxBytes(b.Bytes());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
    EXPECT_EQ(r.status().message(), "initializer 'names': element type string is not supported");
  }
}

TEST(OnnxImporter, OpsetRange) {
  for (int64_t opset : {1, 9, 10, 22}) {
    ModelBuilder b(opset);
    b.Input("x", {2});
    b.Node("Relu", {"x"}, {"y"}, "relu");
    b.Output("y");
    auto r = ImportOnnxBytes(b.Bytes());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
    EXPECT_EQ(r.status().message(),
              fmt::format("model opset {} is not supported (squint reads opsets 11 to 21)", opset));
  }
  for (int64_t opset : {11, 12, 13, 17, 18, 21}) {
    ModelBuilder b(opset);
    b.Input("x", {2});
    b.Node("Relu", {"x"}, {"y"}, "relu");
    b.Output("y");
    auto r = ImportOnnxBytes(b.Bytes(), kNoInfer);
    EXPECT_TRUE(r.ok()) << opset << ": " << r.status().message();
  }
}

TEST(OnnxImporter, CheckerErrorsAreInvalidInput) {
  ModelBuilder b(17);
  b.Input("x", {2});
  b.Node("Relu", {"x", "x"}, {"y"}, "relu");  // Relu takes one input
  b.Output("y");
  auto r = ImportOnnxBytes(b.Bytes(), kNoInfer);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput);
  EXPECT_EQ(r.status().message().rfind("ONNX checker: ", 0), 0u) << r.status().message();
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
}

TEST(OnnxImporter, ShapeInferenceRunsLastAndItsErrorsPropagate) {
  ModelBuilder b(17);
  b.Input("x", {2, 3});
  b.Node("Relu", {"x"}, {"y"}, "relu");
  b.Output("y", onnx::TensorProto::FLOAT, {2, -1});
  auto r = ImportOnnxBytes(b.Bytes());
  if (r.ok()) {
    // Relu has landed: inference filled the output type.
    const ir::Value& y = r->value(r->outputs[0]);
    ASSERT_TRUE(y.shape);
    EXPECT_EQ(ir::ShapeToString(*y.shape), "2x3");
  } else {
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(r.status().message().find("Relu 'relu'"), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace squint::importers
