// Untrusted input: every bad file gives a one-line kInvalidInput/kUnsupported error naming the
// file, node or tensor, the value and the rule; no crash, no hang, no huge allocation.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "importers/onnx/onnx_importer.h"
#include "tests/importers/onnx_test_util.h"

namespace squint::importers {
namespace {

using testing::ExpectError;
using testing::kNoInfer;
using testing::ModelBuilder;
using testing::TempDir;
using testing::WriteBytes;

ModelBuilder ReluModel() {
  ModelBuilder b(17);
  b.Input("x", {2});
  b.Node("Relu", {"x"}, {"y"}, "relu");
  b.Output("y");
  return b;
}

TEST(OnnxBadInput, MissingFile) {
  TempDir dir;
  ExpectError(ImportOnnxFile(dir.file("nope.onnx")), StatusCode::kInvalidInput,
              {"cannot open model file", "nope.onnx", "No such file"});
}

TEST(OnnxBadInput, Directory) {
  TempDir dir;
  ExpectError(ImportOnnxFile(dir.path().string()), StatusCode::kInvalidInput, {"is a directory"});
}

TEST(OnnxBadInput, EmptyFile) {
  TempDir dir;
  WriteBytes(dir.file("empty.onnx"), "");
  ExpectError(ImportOnnxFile(dir.file("empty.onnx")), StatusCode::kInvalidInput, {"empty.onnx", "is empty"});
  ExpectError(ImportOnnxBytes(""), StatusCode::kInvalidInput, {"empty"});
}

TEST(OnnxBadInput, TruncatedProtobuf) {
  TempDir dir;
  ModelBuilder b = ReluModel();
  b.Initializer("w", {64}, std::vector<float>(64, 1.0f));
  const std::string bytes = b.Bytes();
  // Every prefix must fail cleanly or (rarely, at a field boundary) import a smaller model.
  for (size_t n = 1; n < bytes.size(); n += 7) {
    auto r = ImportOnnxBytes(std::string_view(bytes).substr(0, n), kNoInfer);
    if (!r.ok()) { EXPECT_NE(r.status().code(), StatusCode::kInternal) << n << ": " << r.status().message(); }
  }
  WriteBytes(dir.file("cut.onnx"), bytes.substr(0, bytes.size() - 30));
  ExpectError(ImportOnnxFile(dir.file("cut.onnx")), StatusCode::kInvalidInput,
              {"cut.onnx", "not an ONNX model"});
}

TEST(OnnxBadInput, NotOnnx) {
  TempDir dir;
  WriteBytes(dir.file("text.onnx"), "this is a text file, not a model\n");
  ExpectError(ImportOnnxFile(dir.file("text.onnx")), StatusCode::kInvalidInput, {"text.onnx", "not an ONNX model"});
  // A valid protobuf of another message (a TensorProto) has no graph.
  onnx::TensorProto t;
  t.set_name("t");
  t.add_dims(1);
  t.add_float_data(1.0f);
  ExpectError(ImportOnnxBytes(t.SerializeAsString()), StatusCode::kInvalidInput, {"not an ONNX model"});
}

TEST(OnnxBadInput, ModelOver2GiBIsRefusedBeforeReading) {
  TempDir dir;
  const std::string path = dir.file("huge.onnx");
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, (off_t{1} << 31) + 10), 0);  // sparse: no disk space used
  ::close(fd);
  ExpectError(ImportOnnxFile(path), StatusCode::kUnsupported, {"huge.onnx", "2147483658 bytes", "external data"});
}

TEST(OnnxBadInput, Cycle) {
  ModelBuilder b(17);
  b.Input("x", {2});
  b.Node("Add", {"x", "b"}, {"a"}, "add_a");
  b.Node("Relu", {"a"}, {"b"}, "relu_b");
  b.Output("b");
  auto r = ImportOnnxBytes(b.Bytes(), ImportOptions{.infer_shapes = false, .run_onnx_checker = false});
  ExpectError(r, StatusCode::kInvalidInput, {"cycle", "Add 'add_a'"});
  // With the checker on, libonnx reports it first (nodes not topologically sorted).
  ExpectError(ImportOnnxBytes(b.Bytes(), kNoInfer), StatusCode::kInvalidInput, {});
}

TEST(OnnxBadInput, InputNobodyProduces) {
  ModelBuilder b(17);
  b.Input("x", {2});
  b.Node("Add", {"x", "ghost"}, {"y"}, "add");
  b.Output("y");
  ExpectError(ImportOnnxBytes(b.Bytes(), ImportOptions{.infer_shapes = false, .run_onnx_checker = false}),
              StatusCode::kInvalidInput, {"Add 'add': input 'ghost' is not produced"});
  ExpectError(ImportOnnxBytes(b.Bytes(), kNoInfer), StatusCode::kInvalidInput, {"ghost"});
}

TEST(OnnxBadInput, NodeWithoutOpType) {  // found by the fuzzer
  ModelBuilder b(18);
  b.Input("x", {2});
  b.Node("", {"x"}, {"y"}, "");
  b.Output("y");
  ExpectError(ImportOnnxBytes(b.Bytes()), StatusCode::kInvalidInput, {"node 0 ('') has no op_type"});
}

TEST(OnnxBadInput, GraphOutputNobodyProduces) {
  ModelBuilder b = ReluModel();
  b.Output("nothing");
  ExpectError(ImportOnnxBytes(b.Bytes(), ImportOptions{.infer_shapes = false, .run_onnx_checker = false}),
              StatusCode::kInvalidInput, {"graph output 'nothing' is not produced"});
}

TEST(OnnxBadInput, ValueProducedTwice) {
  ModelBuilder b(18);
  b.Input("x", {2});
  b.Node("Relu", {"x"}, {"y"}, "r1");
  b.Node("Neg", {"x"}, {"y"}, "r2");
  b.Output("y");
  ExpectError(ImportOnnxBytes(b.Bytes(), kNoInfer), StatusCode::kInvalidInput,
              {"Neg 'r2': output 'y' is produced more than once"});
}

TEST(OnnxBadInput, InitializerSizeDisagreesWithShape) {
  {
    ModelBuilder b = ReluModel();
    b.Initializer("w", {2, 3}, {1, 2, 3, 4, 5});  // 20 bytes for 6 floats
    ExpectError(ImportOnnxBytes(b.Bytes(), kNoInfer), StatusCode::kInvalidInput,
                {"initializer 'w': raw_data has 20 bytes but dims 2x3 of float32 need 24"});
  }
  {
    ModelBuilder b = ReluModel();
    b.InitializerInt64("k", {4}, {1, 2});
    auto r = ImportOnnxBytes(b.Bytes(), ImportOptions{.infer_shapes = false, .run_onnx_checker = false});
    ExpectError(r, StatusCode::kInvalidInput, {"initializer 'k': int64_data has 2 values but dims 4 need 4"});
  }
  {
    ModelBuilder b = ReluModel();
    auto* t = b.graph().add_initializer();
    t->set_name("nodata");
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_dims(3);
    ExpectError(ImportOnnxBytes(b.Bytes(), ImportOptions{.infer_shapes = false, .run_onnx_checker = false}),
                StatusCode::kInvalidInput, {"initializer 'nodata': has dims 3 but no data"});
  }
}

TEST(OnnxBadInput, NegativeAndHugeDims) {
  {
    ModelBuilder b = ReluModel();
    auto* t = b.Initializer("neg", {}, {});
    t->add_dims(-3);
    ExpectError(ImportOnnxBytes(b.Bytes(), kNoInfer), StatusCode::kInvalidInput,
                {"initializer 'neg'", "negative dim -3"});
  }
  {
    // 2^40 elements and no data: refused from the dims alone, before any allocation.
    ModelBuilder b = ReluModel();
    auto* t = b.Initializer("big", {}, {});
    t->add_dims(int64_t{1} << 20);
    t->add_dims(int64_t{1} << 20);
    ExpectError(ImportOnnxBytes(b.Bytes(), kNoInfer), StatusCode::kInvalidInput,
                {"initializer 'big'", "1048576x1048576", "more than 2^34 elements"});
  }
  {
    ModelBuilder b(17);
    b.Input("x", {-1, int64_t{1} << 40}, {"n", ""});
    b.Node("Relu", {"x"}, {"y"}, "relu");
    b.Output("y");
    ExpectError(ImportOnnxBytes(b.Bytes(), kNoInfer), StatusCode::kInvalidInput,
                {"graph input 'x'", "more than 2^34 elements"});
  }
  {
    ModelBuilder b(17);
    b.Input("x", {2});
    b.graph().mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_value(-2);
    b.Node("Relu", {"x"}, {"y"}, "relu");
    b.Output("y");
    ExpectError(ImportOnnxBytes(b.Bytes(), ImportOptions{.infer_shapes = false, .run_onnx_checker = false}),
                StatusCode::kInvalidInput, {"graph input 'x': dim 0 is -2, must be >= 0"});
    // -1 is read as a free dim, as ONNX Runtime reads Paddle2ONNX's exports.
    b.graph().mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_value(-1);
    auto g = ImportOnnxBytes(b.Bytes(), ImportOptions{.infer_shapes = false, .run_onnx_checker = false});
    ASSERT_TRUE(g.ok()) << g.status().message();
    const ir::Value& x = g->value(g->inputs[0]);
    ASSERT_TRUE(x.shape.has_value());
    EXPECT_FALSE((*x.shape)[0].known());
    EXPECT_TRUE((*x.shape)[0].symbol.empty());
  }
  {
    // dim_param "?" (Paddle2ONNX) is an unknown dim, not a symbol two dims must share.
    ModelBuilder b(17);
    b.Input("x", {-1, -1}, {"?", "?"});
    b.Node("Relu", {"x"}, {"y"}, "relu");
    b.Output("y");
    auto g = ImportOnnxBytes(b.Bytes(), ImportOptions{.infer_shapes = false, .run_onnx_checker = false});
    ASSERT_TRUE(g.ok()) << g.status().message();
    const ir::Shape& shape = *g->value(g->inputs[0]).shape;
    EXPECT_TRUE(shape[0].symbol.empty() && shape[1].symbol.empty());
  }
  {
    // Constant attribute tensor with absurd dims.
    ModelBuilder b = ReluModel();
    auto* c = b.Node("Constant", {}, {"k"}, "const");
    auto* a = c->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
    a->mutable_t()->add_dims(int64_t{1} << 40);
    b.Output("k");
    ExpectError(ImportOnnxBytes(b.Bytes(), kNoInfer), StatusCode::kInvalidInput,
                {"Constant 'const': attribute 'value'", "more than 2^34 elements"});
  }
}

TEST(OnnxBadInput, WindowAttributesThatWouldCrashTheChecker) {
  struct Case {
    const char* op;
    const char* attr;
    std::vector<int64_t> value;
    const char* expected;
  };
  const Case cases[] = {
      {"Conv", "strides", {0, 1}, "Conv 'n': strides[0] is 0, must be >= 1"},
      {"Conv", "dilations", {1, -1}, "Conv 'n': dilations[1] is -1, must be >= 1"},
      {"MaxPool", "strides", {1, 0}, "MaxPool 'n': strides[1] is 0, must be >= 1"},
      {"MaxPool", "kernel_shape", {0, 2}, "MaxPool 'n': kernel_shape[0] is 0, must be >= 1"},
      {"AveragePool", "pads", {0, 0, -1, 0}, "AveragePool 'n': pads[2] is -1, must be >= 0"},
      {"AveragePool", "strides", {1, 1, 1}, "AveragePool 'n': strides has 3 values, expected 2 (kernel_shape)"},
      {"Conv", "kernel_shape", {3}, "Conv 'n': kernel_shape has 1 values but weight 'w' has 2 spatial dims"},
  };
  for (const Case& c : cases) {
    ModelBuilder b(17);
    b.Input("x", {1, 1, 4, 4});
    std::vector<std::string> inputs{"x"};
    if (std::string(c.op) == "Conv") {
      b.Initializer("w", {1, 1, 3, 3}, std::vector<float>(9, 1.0f));
      inputs.push_back("w");
    }
    auto* n = b.Node(c.op, inputs, {"y"}, "n");
    if (std::string(c.op) != "Conv" && std::string(c.attr) != "kernel_shape")
      ModelBuilder::AttrInts(n, "kernel_shape", {2, 2});
    ModelBuilder::AttrInts(n, c.attr, c.value);
    b.Output("y");
    ExpectError(ImportOnnxBytes(b.Bytes()), StatusCode::kInvalidInput, {c.expected});
  }
  ModelBuilder b(17);
  b.Input("x", {1, 2, 4, 4});
  b.Initializer("w", {2, 1, 3, 3}, std::vector<float>(18, 1.0f));
  auto* n = b.Node("Conv", {"x", "w"}, {"y"}, "conv");
  ModelBuilder::AttrInt(n, "group", 0);
  b.Output("y");
  ExpectError(ImportOnnxBytes(b.Bytes()), StatusCode::kInvalidInput, {"Conv 'conv': group is 0, must be >= 1"});
}

TEST(OnnxBadInput, WrongAttributeTypes) {
  ModelBuilder b(17);
  b.Input("x", {1, 1, 4, 4});
  auto* n = b.Node("MaxPool", {"x"}, {"y"}, "pool");
  ModelBuilder::AttrInt(n, "kernel_shape", 2);
  b.Output("y");
  ExpectError(ImportOnnxBytes(b.Bytes()), StatusCode::kInvalidInput,
              {"MaxPool 'pool': attribute 'kernel_shape' must be a list of ints"});
}

TEST(OnnxBadInput, TensorFileErrors) {
  TempDir dir;
  ExpectError(LoadTensorProtoFile(dir.file("input_0.pb")), StatusCode::kInvalidInput, {"cannot open tensor file"});
  WriteBytes(dir.file("bad.pb"), std::string("\xff\xff\xff\xff", 4));
  ExpectError(LoadTensorProtoFile(dir.file("bad.pb")), StatusCode::kInvalidInput, {"bad.pb", "not a TensorProto"});
  onnx::TensorProto t;
  t.set_name("half");
  t.set_data_type(onnx::TensorProto::FLOAT16);
  t.add_dims(1);
  t.add_int32_data(0);
  WriteBytes(dir.file("half.pb"), t.SerializeAsString());
  ExpectError(LoadTensorProtoFile(dir.file("half.pb")), StatusCode::kUnsupported,
              {"half.pb", "tensor 'half'", "float16 is not supported"});
}

// Inputs the fuzzer once crashed on (fuzz/regressions/onnx_importer) import to a value or a clean error.
TEST(OnnxBadInput, FuzzRegressions) {
  const std::filesystem::path dir = std::filesystem::path(SQUINT_SOURCE_DIR) / "fuzz" / "regressions" / "onnx_importer";
  ASSERT_TRUE(std::filesystem::is_directory(dir));
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream f(e.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto r = ImportOnnxBytes(bytes);
    if (!r.ok()) { EXPECT_NE(r.status().code(), StatusCode::kInternal) << e.path() << ": " << r.status().message(); }
  }
}

TEST(OnnxBadInput, TensorFileRoundTrip) {
  TempDir dir;
  onnx::TensorProto t;
  t.set_data_type(onnx::TensorProto::INT64);
  t.add_dims(2);
  t.add_int64_data(-5);
  t.add_int64_data(int64_t{1} << 40);
  WriteBytes(dir.file("i.pb"), t.SerializeAsString());
  auto r = LoadTensorProtoFile(dir.file("i.pb"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->ToInt64Vector(), (std::vector<int64_t>{-5, int64_t{1} << 40}));

  onnx::TensorProto bools;
  bools.set_data_type(onnx::TensorProto::BOOL);
  bools.add_dims(3);
  bools.set_raw_data(std::string("\x00\x07\x01", 3));  // any non-zero byte is true
  WriteBytes(dir.file("b.pb"), bools.SerializeAsString());
  auto rb = LoadTensorProtoFile(dir.file("b.pb"));
  ASSERT_TRUE(rb.ok()) << rb.status().message();
  EXPECT_EQ(rb->ToInt64Vector(), (std::vector<int64_t>{0, 1, 1}));
}

}  // namespace
}  // namespace squint::importers
