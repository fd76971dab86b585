#include "ir/npy.h"

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

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

void Put16(std::string& b, uint32_t v) {
  b += static_cast<char>(v & 0xFF);
  b += static_cast<char>((v >> 8) & 0xFF);
}
void Put32(std::string& b, uint32_t v) {
  Put16(b, v & 0xFFFF);
  Put16(b, v >> 16);
}

// A zip of stored (uncompressed) files; the central directory lists `listed` (indices into
// `files`, repeats allowed), each pointing at that file's local entry.
std::string StoredZip(const std::vector<std::pair<std::string, std::string>>& files, const std::vector<int>& listed) {
  std::string b;
  std::vector<uint32_t> offsets;
  for (const auto& [name, data] : files) {
    offsets.push_back(static_cast<uint32_t>(b.size()));
    Put32(b, 0x04034b50);
    Put16(b, 20), Put16(b, 0), Put16(b, 0), Put16(b, 0), Put16(b, 0);  // version, flags, method, time, date
    Put32(b, 0), Put32(b, static_cast<uint32_t>(data.size())), Put32(b, static_cast<uint32_t>(data.size()));
    Put16(b, static_cast<uint32_t>(name.size())), Put16(b, 0);
    b += name + data;
  }
  const auto cd = static_cast<uint32_t>(b.size());
  for (int i : listed) {
    const auto& [name, data] = files[static_cast<size_t>(i)];
    Put32(b, 0x02014b50);
    Put16(b, 20), Put16(b, 20), Put16(b, 0), Put16(b, 0), Put16(b, 0), Put16(b, 0);
    Put32(b, 0), Put32(b, static_cast<uint32_t>(data.size())), Put32(b, static_cast<uint32_t>(data.size()));
    Put16(b, static_cast<uint32_t>(name.size())), Put16(b, 0), Put16(b, 0), Put16(b, 0), Put16(b, 0);
    Put32(b, 0), Put32(b, offsets[static_cast<size_t>(i)]);
    b += name;
  }
  const auto cd_size = static_cast<uint32_t>(b.size()) - cd;
  Put32(b, 0x06054b50);
  Put16(b, 0), Put16(b, 0), Put16(b, static_cast<uint32_t>(listed.size())), Put16(b, static_cast<uint32_t>(listed.size()));
  Put32(b, cd_size), Put32(b, cd), Put16(b, 0);
  return b;
}

TEST(Npz, StoredEntriesInOrder) {
  const std::string x = SerializeNpy(Tensor::FromVector<float>({2}, {1, 2}));
  const std::string y = SerializeNpy(Tensor::FromVector<int64_t>({1}, {7}));
  auto r = ParseNpz(StoredZip({{"x.npy", x}, {"y.npy", y}}, {0, 1}), "ok.npz");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].first, "x");
  EXPECT_EQ((*r)[1].second.ToInt64Vector(), (std::vector<int64_t>{7}));
}

// An archive whose directory lists one entry many times would inflate it each time (a zip
// bomb without compression): entries must follow each other.
TEST(Npz, OverlappingEntriesAreRefused) {
  const std::string x = SerializeNpy(Tensor::FromVector<float>({2}, {1, 2}));
  auto r = ParseNpz(StoredZip({{"x.npy", x}}, {0, 0}), "twice.npz");
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(r.status().message().find("twice.npz: zip entry 'x.npy' overlaps the entry before it"), std::string::npos)
      << r.status().message();
}

// Fuzz finding (fuzz/regressions/npy_reader/npz_inflate_claims_4gib.npz): a deflated entry
// whose directory claims ~4 GiB of output made ParseNpz allocate it before inflating.
TEST(Npz, FuzzInflatedSizeBeyondDeflateRatioIsRefusedBeforeAllocating) {
  auto bytes = ReadFile(std::string(SQUINT_SOURCE_DIR) + "/fuzz/regressions/npy_reader/npz_inflate_claims_4gib.npz");
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  auto r = ParseNpz(*bytes, "bomb.npz");
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(r.status().message().find("bomb.npz entry 'x.np': corrupt zip entry: 85 compressed bytes cannot inflate"),
            std::string::npos)
      << r.status().message();
}

// A file shorter than a zip64 directory, whose zip64 locator points anywhere: the bounds
// check underflowed and read out of bounds.
TEST(Npz, ShortFileWithZip64LocatorIsRefused) {
  std::string b;
  // Zip64 locator: signature, disk, directory offset 0x7FFFFFFF00000000 (far outside), disks.
  Put32(b, 0x07064b50), Put32(b, 0), Put32(b, 0), Put32(b, 0x7FFFFFFF), Put32(b, 1);
  Put32(b, 0x06054b50);
  Put16(b, 0), Put16(b, 0), Put16(b, 0xFFFF), Put16(b, 0xFFFF), Put32(b, 0), Put32(b, 0xFFFFFFFF), Put16(b, 0);
  ASSERT_LT(b.size(), 56u);
  auto r = ParseNpz(b, "short.npz");
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(r.status().message().find("corrupt zip64 directory"), std::string::npos) << r.status().message();
}

// Thousands of dims do not fit the 2-byte header length of format 1.0: format 2.0 then.
TEST(Npy, LongHeaderIsWrittenAsFormat2AndReadsBack) {
  for (size_t rank : {size_t{3}, size_t{30000}}) {
    const Tensor t(DType::kInt8, Dims(rank, 1));
    const std::string bytes = SerializeNpy(t);
    EXPECT_EQ(bytes[6], rank == 3 ? 1 : 2);
    EXPECT_EQ((bytes.size() - 1) % 64, 0u) << "the data (1 byte) starts at a multiple of 64";
    auto back = ParseNpy(bytes, "long");
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(back->dims(), t.dims());
  }
}

// Inputs the fuzzer once crashed on read to a value or a clean error.
TEST(Npy, FuzzRegressions) {
  const std::filesystem::path dir = std::filesystem::path(SQUINT_SOURCE_DIR) / "fuzz" / "regressions" / "npy_reader";
  ASSERT_TRUE(std::filesystem::is_directory(dir));
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    auto bytes = ReadFile(e.path().string());
    ASSERT_TRUE(bytes.ok()) << bytes.status().message();
    for (const Status& s : {ParseNpy(*bytes, "x").status(), ParseNpz(*bytes, "x").status()})
      EXPECT_NE(s.code(), StatusCode::kInternal) << e.path() << ": " << s.message();
  }
}

TEST(WriteFileAtomic, MissingFolderIsAnErrorAndLeavesNothing) {
  auto s = WriteFileAtomic("/nonexistent_dir_squint/x.npy", "abc");
  EXPECT_EQ(s.code(), StatusCode::kInvalidInput);
  EXPECT_NE(s.message().find("does not exist"), std::string::npos);
}

}  // namespace
}  // namespace squint::ir
