// Builds small ONNX models with the protobuf API and writes them into a per-test folder.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include "base/status.h"
#include "importers/onnx/onnx_importer.h"

namespace squint::importers::testing {

namespace fs = std::filesystem;

inline const ImportOptions kNoInfer{.infer_shapes = false};

// Expects an error of `code` whose message contains every piece and is one line.
template <typename T>
void ExpectError(const Result<T>& r, StatusCode code, std::initializer_list<std::string> pieces) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().message();
  for (const auto& p : pieces) EXPECT_NE(r.status().message().find(p), std::string::npos) << r.status().message();
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << r.status().message();
}

// A fresh folder per test, removed at the end.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("squint_imp_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" + info->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

class ModelBuilder {
 public:
  explicit ModelBuilder(int64_t opset = 17) {
    m_.set_ir_version(opset >= 18 ? 9 : 8);
    m_.set_producer_name("squint-test");
    auto* o = m_.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    m_.mutable_graph()->set_name("g");
  }
  onnx::ModelProto& model() { return m_; }
  onnx::GraphProto& graph() { return *m_.mutable_graph(); }

  // dims: -1 for an unknown dim; symbols as dim_param where given (same length as dims or empty).
  static void SetType(onnx::ValueInfoProto* vi, int elem, const std::vector<int64_t>& dims,
                      const std::vector<std::string>& symbols = {}) {
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem);
    auto* shape = tt->mutable_shape();
    for (size_t i = 0; i < dims.size(); ++i) {
      auto* d = shape->add_dim();
      if (i < symbols.size() && !symbols[i].empty())
        d->set_dim_param(symbols[i]);
      else if (dims[i] >= 0)
        d->set_dim_value(dims[i]);
    }
  }
  ModelBuilder& Input(const std::string& name, const std::vector<int64_t>& dims,
                      const std::vector<std::string>& symbols = {}, int elem = onnx::TensorProto::FLOAT) {
    auto* vi = graph().add_input();
    vi->set_name(name);
    SetType(vi, elem, dims, symbols);
    return *this;
  }
  // libonnx 1.12's checker requires a shape on graph outputs; without `dims` it is rank 1 of
  // unknown size (tests that run shape inference pass the real dims).
  ModelBuilder& Output(const std::string& name, int elem = onnx::TensorProto::FLOAT,
                       const std::vector<int64_t>& dims = {-1}) {
    auto* vi = graph().add_output();
    vi->set_name(name);
    SetType(vi, elem, dims);
    return *this;
  }
  onnx::TensorProto* Initializer(const std::string& name, const std::vector<int64_t>& dims,
                                 const std::vector<float>& values) {
    auto* t = graph().add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
    return t;
  }
  onnx::TensorProto* InitializerInt64(const std::string& name, const std::vector<int64_t>& dims,
                                      const std::vector<int64_t>& values) {
    auto* t = graph().add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    for (int64_t d : dims) t->add_dims(d);
    for (int64_t v : values) t->add_int64_data(v);
    return t;
  }
  onnx::NodeProto* Node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs, const std::string& name = "") {
    auto* n = graph().add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return n;
  }
  static void AttrInts(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void AttrInt(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void AttrFloat(onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void AttrString(onnx::NodeProto* n, const std::string& name, const std::string& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
  }
  std::string Bytes() const { return m_.SerializeAsString(); }
  std::string Save(const TempDir& dir, const std::string& name = "model.onnx") const {
    const std::string p = dir.file(name);
    WriteBytes(p, Bytes());
    return p;
  }

 private:
  onnx::ModelProto m_;
};

}  // namespace squint::importers::testing
