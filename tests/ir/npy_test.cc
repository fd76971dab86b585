#include "ir/npy.h"

#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "base/file.h"

namespace squint::ir {
namespace {

std::string TempDir() {
  auto dir = std::filesystem::temp_directory_path() / ("squint_npy_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir.string();
}

TEST(Npy, RoundTripAllTypes) {
  const std::string dir = TempDir();
  Tensor f = Tensor::FromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6.5f});
  Tensor i = Tensor::FromVector<int64_t>({4}, {-1, 0, 1, 1LL << 40});
  Tensor b = Tensor::FromVector<bool>({}, {true});
  for (const Tensor& t : {f, i, b}) {
    ASSERT_TRUE(WriteNpy(dir + "/t.npy", t).ok());
    auto back = ReadNpy(dir + "/t.npy");
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(back->dtype(), t.dtype());
    EXPECT_EQ(back->dims(), t.dims());
    EXPECT_EQ(0, std::memcmp(back->raw(), t.raw(), t.bytes()));
  }
}

TEST(Npy, ReadsNumpyWrittenNpyAndNpz) {
  const std::string dir = TempDir();
  const std::string cmd = std::string(SQUINT_VENV_PYTHON) + " -c \"import numpy as np; d='" + dir +
                          "'; a=np.arange(6,dtype=np.float32).reshape(2,3); np.save(d+'/a.npy',a);"
                          " np.savez(d+'/s.npz', x=a, y=np.array([1,2],dtype=np.int64));"
                          " np.savez_compressed(d+'/c.npz', x=a)\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "needs the venv made by scripts/setup.sh";
  auto a = ReadNpy(dir + "/a.npy");
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->dims(), (Dims{2, 3}));
  EXPECT_EQ(a->data<float>()[5], 5.0f);
  for (const char* name : {"/s.npz", "/c.npz"}) {
    auto z = ReadNpz(dir + name);
    ASSERT_TRUE(z.ok()) << z.status().message();
    EXPECT_EQ((*z)[0].first, "x");
    EXPECT_EQ((*z)[0].second.data<float>()[4], 4.0f);
  }
  auto s = ReadNpz(dir + "/s.npz");
  ASSERT_EQ(s->size(), 2u);
  EXPECT_EQ((*s)[1].second.dtype(), DType::kInt64);
}

TEST(Npy, BadFilesGiveClearErrors) {
  const std::string dir = TempDir();
  EXPECT_NE(ReadNpy(dir + "/missing.npy").status().message().find("no such file"), std::string::npos);
  ASSERT_TRUE(WriteFileAtomic(dir + "/junk.npy", "hello world, not numpy").ok());
  EXPECT_NE(ReadNpy(dir + "/junk.npy").status().message().find("bad magic"), std::string::npos);
  // A valid header promising far more data than present.
  Tensor t = Tensor::FromVector<float>({4}, {1, 2, 3, 4});
  std::string bytes = SerializeNpy(t);
  bytes.resize(bytes.size() - 4);
  auto r = ParseNpy(bytes, "trunc");
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(r.status().message().find("needs 16 data bytes"), std::string::npos);
  // An absurd shape is refused before allocating.
  std::string huge = SerializeNpy(t);
  auto pos = huge.find("(4,)");
  huge.replace(pos, 4, "(1099511627776,)");
  EXPECT_EQ(ParseNpy(huge, "huge").status().code(), StatusCode::kInvalidInput);
  EXPECT_EQ(ReadNpz(dir + "/junk.npy").status().code(), StatusCode::kInvalidInput);
}

TEST(WriteFileAtomic, MissingFolderIsAnErrorAndLeavesNothing) {
  auto s = WriteFileAtomic("/nonexistent_dir_squint/x.npy", "abc");
  EXPECT_EQ(s.code(), StatusCode::kInvalidInput);
  EXPECT_NE(s.message().find("does not exist"), std::string::npos);
}

}  // namespace
}  // namespace squint::ir
