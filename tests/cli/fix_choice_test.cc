// cli/fix_search.h ChooseFix: which measured fix a `quantize --max-drop` step applies.
#include <gtest/gtest.h>

#include "cli/fix_search.h"

namespace squint::cli {
namespace {

constexpr int64_t kBytes = 100000;  // the current model; 1 % of it is the smallest cost counted

TEST(ChooseFix, NoneWhenNothingLowersTheDrop) {
  EXPECT_FALSE(ChooseFix({}, 2.0, kBytes, 0.3));
  EXPECT_FALSE(ChooseFix({{2.0, kBytes}, {2.5, kBytes - 10}}, 2.0, kBytes, 0.3));
}

TEST(ChooseFix, AmongFixesThatReachTheTargetTheSmallestFile) {
  // 0: reaches, large; 1: does not reach, tiny; 2: reaches, smaller than 0; 3: reaches at the same size, lower drop.
  const std::vector<FixTrial> t = {{0.1, kBytes + 50000}, {1.0, kBytes + 10}, {0.3, kBytes + 2000}, {0.2, kBytes + 2000}};
  EXPECT_EQ(ChooseFix(t, 2.0, kBytes, 0.3), 3u);
}

TEST(ChooseFix, GainPerByteAmongFixesWithHalfTheLargestGain) {
  // Gains 1.5 (cost 3.6 MB), 0.9 (cost 4 KB), 0.5 (cost 10 B: below half the largest gain).
  const std::vector<FixTrial> t = {{0.5, kBytes + 3600000}, {1.1, kBytes + 4000}, {1.5, kBytes + 10}};
  EXPECT_EQ(ChooseFix(t, 2.0, kBytes, 0.3), 1u);
  // Without the cheap fix, the expensive one is the only gain left.
  EXPECT_EQ(ChooseFix({{0.5, kBytes + 3600000}, {2.0, kBytes}}, 2.0, kBytes, 0.3), 0u);
}

TEST(ChooseFix, CostsBelowOnePercentCompareByGain) {
  // Both cost less than 1 % of the model (one saves bytes): the larger gain wins, not the saving.
  const std::vector<FixTrial> t = {{1.2, kBytes - 500}, {0.8, kBytes + 900}};
  EXPECT_EQ(ChooseFix(t, 2.0, kBytes, 0.3), 1u);
  // Equal gain and equal counted cost: the earlier trial.
  EXPECT_EQ(ChooseFix({{1.0, kBytes + 100}, {1.0, kBytes + 200}}, 2.0, kBytes, 0.3), 0u);
}

}  // namespace
}  // namespace squint::cli
