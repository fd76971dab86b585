// Weights in external data files: location/offset/length relative to the model's folder,
// 64-bit offsets (a sparse file with a tensor past 2^31), and every way to leave the folder.
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

void SetExternal(onnx::TensorProto* t, const std::string& location, const std::string& offset,
                 const std::string& length) {
  t->clear_raw_data();
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto add = [&](const char* k, const std::string& v) {
    if (v.empty()) return;
    auto* e = t->add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  add("location", location);
  add("offset", offset);
  add("length", length);
}

// x + w where w (4 floats) lives in an external file.
ModelBuilder ExternalModel(const std::string& location, const std::string& offset, const std::string& length) {
  ModelBuilder b(17);
  b.Input("x", {4});
  SetExternal(b.Initializer("w", {4}, {}), location, offset, length);
  b.Node("Add", {"x", "w"}, {"y"}, "add");
  b.Output("y");
  return b;
}

std::string FloatBytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

std::vector<float> WeightOf(const ir::Graph& g) { return g.constant(g.nodes[0].inputs[1])->ToFloatVector(); }

TEST(OnnxExternalData, ReadsOffsetAndLength) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "weights");
  WriteBytes(dir.file("weights/w.bin"), "PAD!" + FloatBytes({1, 2, 3, 4}) + "tail");
  auto r = ImportOnnxFile(ExternalModel("weights/w.bin", "4", "16").Save(dir), kNoInfer);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(WeightOf(*r), (std::vector<float>{1, 2, 3, 4}));
}

TEST(OnnxExternalData, NoLengthMeansToTheEndOfTheFile) {
  TempDir dir;
  WriteBytes(dir.file("w.bin"), FloatBytes({5, 6, 7, 8}));
  auto r = ImportOnnxFile(ExternalModel("w.bin", "", "").Save(dir), kNoInfer);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(WeightOf(*r), (std::vector<float>{5, 6, 7, 8}));
  WriteBytes(dir.file("w.bin"), FloatBytes({5, 6, 7, 8, 9}));
  ExpectError(ImportOnnxFile(dir.file("model.onnx"), kNoInfer), StatusCode::kInvalidInput,
              {"initializer 'w'", "has 20 bytes from offset 0 to the end", "need 16 bytes"});
}

TEST(OnnxExternalData, TensorPastTwoGiBInASparseFile) {
  TempDir dir;
  const std::string path = dir.file("big.bin");
  const off_t offset = (off_t{1} << 31) + 4096 + 8;  // past 2^31: needs 64-bit offsets
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  const std::string data = FloatBytes({-1, 0.5f, 1e10f, 3});
  ASSERT_EQ(::pwrite(fd, data.data(), data.size(), offset), static_cast<ssize_t>(data.size()));
  ::close(fd);  // sparse: only one block is on disk
  auto r = ImportOnnxFile(ExternalModel("big.bin", std::to_string(offset), "16").Save(dir), kNoInfer);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(WeightOf(*r), (std::vector<float>{-1, 0.5f, 1e10f, 3}));
  // One byte short of the end, and an offset past 2^32 beyond the end.
  ExpectError(ImportOnnxFile(ExternalModel("big.bin", std::to_string(offset + 1), "16").Save(dir), kNoInfer),
              StatusCode::kInvalidInput, {"initializer 'w'", "runs past the end", "big.bin", "2147487768 bytes"});
  ExpectError(ImportOnnxFile(ExternalModel("big.bin", "5000000000", "16").Save(dir), kNoInfer),
              StatusCode::kInvalidInput, {"initializer 'w': external data offset 5000000000 is past the end"});
}

TEST(OnnxExternalData, LocationsOutsideTheModelFolderAreRefused) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "m");
  WriteBytes(dir.file("w.bin"), FloatBytes({1, 2, 3, 4}));  // exists, but outside m/
  struct Case {
    std::string location;
    std::string expected;
  };
  const Case cases[] = {
      {dir.file("w.bin"), "is an absolute path"},
      {"../w.bin", "leaves the model's folder ('..' is not allowed)"},
      {"sub/../../w.bin", "leaves the model's folder"},
      {"..\\w.bin", "leaves the model's folder"},
  };
  for (const Case& c : cases) {
    const std::string model = ExternalModel(c.location, "", "16").Save(dir, "m/model.onnx");
    ExpectError(ImportOnnxFile(model, kNoInfer), StatusCode::kInvalidInput,
                {"initializer 'w'", c.location, c.expected});
  }
  // A symbolic link inside the folder that points outside it.
  std::filesystem::create_symlink(dir.file("w.bin"), dir.path() / "m" / "link.bin");
  ExpectError(ImportOnnxFile(ExternalModel("link.bin", "", "16").Save(dir, "m/model.onnx"), kNoInfer),
              StatusCode::kInvalidInput, {"initializer 'w'", "outside the model's folder"});
}

TEST(OnnxExternalData, BadReferences) {
  TempDir dir;
  WriteBytes(dir.file("w.bin"), FloatBytes({1, 2, 3, 4}));
  ExpectError(ImportOnnxFile(ExternalModel("missing.bin", "", "").Save(dir), kNoInfer), StatusCode::kInvalidInput,
              {"initializer 'w': cannot open external data file", "missing.bin"});
  ExpectError(ImportOnnxFile(ExternalModel("w.bin", "-4", "").Save(dir), kNoInfer), StatusCode::kInvalidInput,
              {"external data offset '-4' is not a non-negative integer"});
  ExpectError(ImportOnnxFile(ExternalModel("w.bin", "0", "12").Save(dir), kNoInfer), StatusCode::kInvalidInput,
              {"external data length 12 disagrees with dims 4 of float32 (16 bytes)"});
  ExpectError(ImportOnnxFile(ExternalModel("w.bin", "0", "99999999999999999999").Save(dir), kNoInfer),
              StatusCode::kInvalidInput, {"length '99999999999999999999' is not a non-negative integer"});
  ExpectError(ImportOnnxFile(ExternalModel("", "0", "16").Save(dir), kNoInfer), StatusCode::kInvalidInput,
              {"external data has no 'location'"});
  ExpectError(ImportOnnxFile(ExternalModel(".", "0", "16").Save(dir), kNoInfer), StatusCode::kInvalidInput,
              {"not a regular file"});
}

TEST(OnnxExternalData, BytesWithoutAFolderReadNothing) {
  ExpectError(ImportOnnxBytes(ExternalModel("w.bin", "", "").Bytes(), kNoInfer), StatusCode::kInvalidInput,
              {"initializer 'w': uses external data file 'w.bin', but the model was read from memory"});
  TempDir dir;
  WriteBytes(dir.file("w.bin"), FloatBytes({1, 2, 3, 4}));
  auto r = ImportOnnxBytes(ExternalModel("w.bin", "", "").Bytes(), kNoInfer, dir.path().string());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(WeightOf(*r), (std::vector<float>{1, 2, 3, 4}));
}

}  // namespace
}  // namespace squint::importers
