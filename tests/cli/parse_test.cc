// cli/parse.h: the option parsers shared by the subcommands and fuzz/cli_parsers_fuzz.cc.
#include "cli/parse.h"

#include <gtest/gtest.h>

namespace squint::cli {
namespace {

#define EXPECT_HAS(status, text) EXPECT_NE((status).message().find(text), std::string::npos) << (status).message()

TEST(ParseImageSize, HxW) {
  auto r = ParseImageSize("224x160");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, (std::pair<int64_t, int64_t>{224, 160}));
  EXPECT_TRUE(ParseImageSize("1x65536").ok());
  for (const char* bad : {"", "axb", "224", "224x", "x224", "0x5", "5x-1", "65537x1", "3x4x5", "3X4", "3x4 "}) {
    auto e = ParseImageSize(bad);
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidInput) << bad;
    EXPECT_HAS(e.status(), "--size '" + std::string(bad) + "': expected HxW with positive sizes, e.g. 224x224");
  }
}

TEST(ParseInputArg, NamedNpzOrSingle) {
  InputArg a = ParseInputArg("x=dir/a=b.npy");
  EXPECT_EQ(a.kind, InputArg::Kind::kNamed);
  EXPECT_EQ(a.name, "x");
  EXPECT_EQ(a.path, "dir/a=b.npy");
  a = ParseInputArg("all.npz");
  EXPECT_EQ(a.kind, InputArg::Kind::kNpz);
  EXPECT_EQ(a.path, "all.npz");
  a = ParseInputArg("x.npy");
  EXPECT_EQ(a.kind, InputArg::Kind::kSingle);
  EXPECT_EQ(a.path, "x.npy");
}

TEST(CheckTransforms, Combinations) {
  for (const std::vector<std::string>& ok :
       {std::vector<std::string>{}, {"none"}, {"smooth", "hadamard"}, {"rotate", "wush"}, {"smooth", "wush"}})
    EXPECT_TRUE(CheckTransforms(ok, 32).ok());
  EXPECT_HAS(CheckTransforms({"none", "smooth"}, 32), "--transform none cannot be combined with other transforms (got none,smooth)");
  EXPECT_HAS(CheckTransforms({"rotate", "rotate"}, 32), "--transform rotate is given twice");
  EXPECT_HAS(CheckTransforms({"rotate", "smooth"}, 32), "--transform smooth,rotate: rotate folds");
  EXPECT_HAS(CheckTransforms({"wush", "hadamard"}, 32), "--transform wush cannot be combined with hadamard");
  EXPECT_HAS(CheckTransforms({"wush"}, 24), "WUSH block 24: expected 16, 32 or 64");
  EXPECT_TRUE(CheckTransforms({"hadamard"}, 24).ok()) << "--wush-block only matters with wush";
}

TEST(SoftmaxQuant, NamesAndGrids) {
  const std::vector<std::string> names = SoftmaxQuantNames();
  ASSERT_GE(names.size(), 4u);
  EXPECT_EQ(names[0], "uniform");
  for (size_t i = 1; i < names.size(); ++i) {
    auto grid = SoftmaxGridOf(names[i]);
    ASSERT_TRUE(grid.ok()) << names[i];
    EXPECT_EQ(rt::SoftmaxGridName(*grid), names[i]);
  }
  EXPECT_EQ(*SoftmaxGridOf("log2"), fb::SoftmaxGrid::LOG2);
  EXPECT_HAS(SoftmaxGridOf("uniform").status(), "--softmax-quant uniform: not a log grid (expected one of log2, ");
  EXPECT_EQ(SoftmaxGridOf("log3").status().code(), StatusCode::kInvalidInput);
}

}  // namespace
}  // namespace squint::cli
