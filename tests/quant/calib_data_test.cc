#include "quant/calib_data.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/file.h"
#include "ir/npy.h"

namespace squint::quant {
namespace {

namespace fs = std::filesystem;
using ir::DType;
using ir::Tensor;

// A fresh folder per test.
std::string TempDir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("squint_calib_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

uint32_t Crc32(std::string_view s) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char ch : s) {
    c ^= ch;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

void Put(std::string& out, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// Writes an uncompressed .npz (a zip of .npy entries), as np.savez does.
void WriteNpz(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& arrays) {
  std::string zip, central;
  for (const auto& [name, t] : arrays) {
    const std::string entry = name + ".npy", data = ir::SerializeNpy(t);
    const uint32_t crc = Crc32(data), offset = static_cast<uint32_t>(zip.size());
    Put(zip, 0x04034b50, 4), Put(zip, 20, 2), Put(zip, 0, 2), Put(zip, 0, 2), Put(zip, 0, 4);
    Put(zip, crc, 4), Put(zip, data.size(), 4), Put(zip, data.size(), 4);
    Put(zip, entry.size(), 2), Put(zip, 0, 2);
    zip += entry + data;
    Put(central, 0x02014b50, 4), Put(central, 20, 2), Put(central, 20, 2), Put(central, 0, 2);
    Put(central, 0, 2), Put(central, 0, 4), Put(central, crc, 4), Put(central, data.size(), 4);
    Put(central, data.size(), 4), Put(central, entry.size(), 2), Put(central, 0, 4), Put(central, 0, 4);
    Put(central, 0, 4), Put(central, offset, 4);
    central += entry;
  }
  const uint32_t cd_offset = static_cast<uint32_t>(zip.size());
  zip += central;
  Put(zip, 0x06054b50, 4), Put(zip, 0, 4), Put(zip, arrays.size(), 2), Put(zip, arrays.size(), 2);
  Put(zip, central.size(), 4), Put(zip, cd_offset, 4), Put(zip, 0, 2);
  ASSERT_TRUE(WriteFileAtomic(path, zip).ok());
}

// n samples of dims, values base + flat index.
Tensor Samples(int64_t n, ir::Dims dims, float base) {
  dims.insert(dims.begin(), n);
  Tensor t(DType::kFloat32, dims);
  for (int64_t i = 0; i < t.size(); ++i) t.data<float>()[i] = base + static_cast<float>(i);
  return t;
}

Tensor Tokens(int64_t n, int64_t len) {
  Tensor t(DType::kInt64, {n, len});
  for (int64_t i = 0; i < t.size(); ++i) t.data<int64_t>()[i] = i;
  return t;
}

const std::vector<InputSpec> kTwoInputs = {{"image", DType::kFloat32, {3, 4}}, {"ids", DType::kInt64, {5}}};

std::string ErrorOf(const std::string& path, const std::vector<InputSpec>& inputs) {
  auto r = LoadCalibData(path, inputs);
  EXPECT_FALSE(r.ok()) << path;
  return r.ok() ? "" : r.status().message();
}

#define EXPECT_HAS(haystack, needle) EXPECT_NE((haystack).find(needle), std::string::npos) << (haystack)

TEST(LoadCalibData, NpzWithOneArrayPerInput) {
  const std::string dir = TempDir("npz");
  WriteNpz(dir + "/c.npz", {{"ids", Tokens(4, 5)}, {"image", Samples(4, {3, 4}, 0)}, {"label", Tokens(4, 1)}});
  auto data = LoadCalibData(dir + "/c.npz", kTwoInputs);
  ASSERT_TRUE(data.ok()) << data.status().message();
  EXPECT_EQ(data->num_samples, 4);
  ASSERT_EQ(data->tensors.size(), 2u);
  EXPECT_EQ(data->tensors[0].dims(), (ir::Dims{4, 3, 4}));  // in input order, not archive order
  EXPECT_EQ(data->tensors[1].dtype(), DType::kInt64);
  EXPECT_EQ(data->NumBatches(3), 2);
  auto b1 = data->Batch(1, 3);  // the short last batch: sample 3 only
  ASSERT_TRUE(b1.ok());
  EXPECT_EQ((*b1)[0].dims(), (ir::Dims{1, 3, 4}));
  EXPECT_EQ((*b1)[0].data<float>()[0], 36.0f);
  EXPECT_EQ((*b1)[1].data<int64_t>()[0], 15);
  EXPECT_FALSE(data->Batch(2, 3).ok());
  EXPECT_FALSE(data->Samples(0, 0).ok());
}

TEST(LoadCalibData, NpyForASingleInputModel) {
  const std::string dir = TempDir("npy");
  ASSERT_TRUE(ir::WriteNpy(dir + "/x.npy", Samples(6, {2, 2}, 0)).ok());
  auto data = LoadCalibData(dir + "/x.npy", {{"x", DType::kFloat32, {2, 2}}});
  ASSERT_TRUE(data.ok()) << data.status().message();
  EXPECT_EQ(data->num_samples, 6);
  EXPECT_EQ(data->files, std::vector<std::string>{dir + "/x.npy"});
  // np.savez(path, x) names the array arr_0: fine for a single-input model.
  WriteNpz(dir + "/a.npz", {{"arr_0", Samples(2, {2, 2}, 0)}});
  EXPECT_TRUE(LoadCalibData(dir + "/a.npz", {{"x", DType::kFloat32, {2, 2}}}).ok());
  // A wildcard dim accepts any size.
  auto any = LoadCalibData(dir + "/x.npy", {{"x", DType::kFloat32, {-1, 2}}});
  ASSERT_TRUE(any.ok()) << any.status().message();
}

TEST(LoadCalibData, FolderIsReadInNameOrderAndConcatenated) {
  const std::string dir = TempDir("folder");
  WriteNpz(dir + "/b.npz", {{"image", Samples(3, {3, 4}, 1000)}, {"ids", Tokens(3, 5)}});
  WriteNpz(dir + "/a.npz", {{"image", Samples(2, {3, 4}, 0)}, {"ids", Tokens(2, 5)}});
  WriteNpz(dir + "/c.npz", {{"image", Samples(1, {3, 4}, 2000)}, {"ids", Tokens(1, 5)}});
  ASSERT_TRUE(WriteFileAtomic(dir + "/README.txt", "not data").ok());
  fs::create_directories(dir + "/sub.npz");  // a folder is not a file: ignored
  auto data = LoadCalibData(dir, kTwoInputs);
  ASSERT_TRUE(data.ok()) << data.status().message();
  EXPECT_EQ(data->num_samples, 6);
  ASSERT_EQ(data->files.size(), 3u);
  EXPECT_EQ(fs::path(data->files[0]).filename(), "a.npz");
  const float* img = data->tensors[0].data<float>();
  EXPECT_EQ(img[0], 0.0f);          // a.npz sample 0
  EXPECT_EQ(img[2 * 12], 1000.0f);  // b.npz sample 0
  EXPECT_EQ(img[5 * 12], 2000.0f);  // c.npz sample 0
  auto s = data->Samples(1, 2);  // spans a.npz and b.npz
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)[0].data<float>()[12], 1000.0f);
}

TEST(LoadCalibData, MixedNpyFolderForOneInput) {
  const std::string dir = TempDir("mixed");
  ASSERT_TRUE(ir::WriteNpy(dir + "/0.npy", Samples(2, {4}, 0)).ok());
  WriteNpz(dir + "/1.npz", {{"x", Samples(3, {4}, 100)}});
  auto data = LoadCalibData(dir, {{"x", DType::kFloat32, {4}}});
  ASSERT_TRUE(data.ok()) << data.status().message();
  EXPECT_EQ(data->num_samples, 5);
  EXPECT_EQ(data->tensors[0].data<float>()[8], 100.0f);
}

TEST(LoadCalibData, ShapeMismatchNamesFileInputExpectedAndFound) {
  const std::string dir = TempDir("shape");
  WriteNpz(dir + "/c.npz", {{"image", Samples(4, {3, 5}, 0)}, {"ids", Tokens(4, 5)}});
  const std::string e = ErrorOf(dir + "/c.npz", kTwoInputs);
  EXPECT_HAS(e, "c.npz");
  EXPECT_HAS(e, "input 'image'");
  EXPECT_HAS(e, "shape 4x3x5, expected Nx3x4");
  // Missing the sample axis.
  ASSERT_TRUE(ir::WriteNpy(dir + "/x.npy", Samples(3, {4}, 0).Reshaped({12})).ok());
  EXPECT_HAS(ErrorOf(dir + "/x.npy", {{"x", DType::kFloat32, {4}}}), "shape 12, expected Nx4");
}

TEST(LoadCalibData, DtypeMismatch) {
  const std::string dir = TempDir("dtype");
  WriteNpz(dir + "/c.npz", {{"image", Samples(4, {3, 4}, 0)}, {"ids", Samples(4, {5}, 0)}});
  const std::string e = ErrorOf(dir + "/c.npz", kTwoInputs);
  EXPECT_HAS(e, "c.npz");
  EXPECT_HAS(e, "input 'ids': dtype float32, expected int64");
}

TEST(LoadCalibData, NoArrayForAnInput) {
  const std::string dir = TempDir("missing");
  WriteNpz(dir + "/c.npz", {{"img", Samples(4, {3, 4}, 0)}, {"ids", Tokens(4, 5)}});
  const std::string e = ErrorOf(dir + "/c.npz", kTwoInputs);
  EXPECT_HAS(e, "no array for input 'image'");
  EXPECT_HAS(e, "arrays in the file: 'img', 'ids'");
}

TEST(LoadCalibData, NpyForAMultiInputModel) {
  const std::string dir = TempDir("npymulti");
  ASSERT_TRUE(ir::WriteNpy(dir + "/x.npy", Samples(2, {3, 4}, 0)).ok());
  EXPECT_HAS(ErrorOf(dir + "/x.npy", kTwoInputs), "the model has 2 inputs ('image', 'ids')");
}

TEST(LoadCalibData, InconsistentSampleCounts) {
  const std::string dir = TempDir("counts");
  WriteNpz(dir + "/c.npz", {{"image", Samples(4, {3, 4}, 0)}, {"ids", Tokens(3, 5)}});
  const std::string e = ErrorOf(dir + "/c.npz", kTwoInputs);
  EXPECT_HAS(e, "inconsistent sample counts");
  EXPECT_HAS(e, "'image' has 4 samples, input 'ids' has 3");
}

TEST(LoadCalibData, NanAndInfNameFileInputAndFirstBadIndex) {
  const std::string dir = TempDir("nan");
  Tensor t = Samples(4, {3, 4}, 0);
  t.data<float>()[2 * 12 + 1 * 4 + 3] = NAN;
  t.data<float>()[3 * 12] = INFINITY;
  WriteNpz(dir + "/c.npz", {{"image", t}, {"ids", Tokens(4, 5)}});
  const std::string e = ErrorOf(dir + "/c.npz", kTwoInputs);
  EXPECT_HAS(e, "c.npz");
  EXPECT_HAS(e, "input 'image': NaN at index [2, 1, 3] (sample 2)");
  Tensor d(DType::kFloat64, {2, 2});
  d.data<double>()[3] = -INFINITY;
  ASSERT_TRUE(ir::WriteNpy(dir + "/d.npy", d).ok());
  EXPECT_HAS(ErrorOf(dir + "/d.npy", {{"x", DType::kFloat64, {2}}}), "-Inf at index [1, 1] (sample 1)");
}

TEST(LoadCalibData, FolderErrors) {
  const std::string empty = TempDir("empty");
  EXPECT_HAS(ErrorOf(empty, kTwoInputs), "holds no .npy, .npz or image files");
  ASSERT_TRUE(WriteFileAtomic(empty + "/notes.txt", "x").ok());
  EXPECT_HAS(ErrorOf(empty, kTwoInputs), "holds no .npy, .npz or image files");

  // A bad file in a folder is named.
  const std::string dir = TempDir("badfile");
  WriteNpz(dir + "/a.npz", {{"image", Samples(1, {3, 4}, 0)}, {"ids", Tokens(1, 5)}});
  WriteNpz(dir + "/b.npz", {{"image", Samples(1, {3, 4}, 0)}, {"ids", Tokens(1, 6)}});
  EXPECT_HAS(ErrorOf(dir, kTwoInputs), "b.npz': input 'ids': shape 1x6, expected Nx5");

  // Wildcard dims must agree across files to concatenate.
  const std::string wild = TempDir("wild");
  ASSERT_TRUE(ir::WriteNpy(wild + "/a.npy", Samples(1, {4}, 0)).ok());
  ASSERT_TRUE(ir::WriteNpy(wild + "/b.npy", Samples(1, {5}, 0)).ok());
  EXPECT_HAS(ErrorOf(wild, {{"x", DType::kFloat32, {-1}}}), "cannot be concatenated");
}

TEST(LoadCalibData, PathErrors) {
  const std::string dir = TempDir("paths");
  EXPECT_HAS(ErrorOf(dir + "/nope.npz", kTwoInputs), "no such file or folder");
  ASSERT_TRUE(WriteFileAtomic(dir + "/data.csv", "1,2").ok());
  EXPECT_HAS(ErrorOf(dir + "/data.csv", kTwoInputs), "expected a .npy or .npz file or a folder");
  ASSERT_TRUE(ir::WriteNpy(dir + "/zero.npy", Samples(0, {4}, 0)).ok());
  EXPECT_HAS(ErrorOf(dir + "/zero.npy", {{"x", DType::kFloat32, {4}}}), "holds no samples");
  EXPECT_HAS(ErrorOf(dir + "/zero.npy", {}), "the model has no inputs");
}

}  // namespace
}  // namespace squint::quant
