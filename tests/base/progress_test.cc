#include "base/progress.h"

#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace squint {
namespace {

// Runs `steps` (done, clock seconds) through a Progress of `total` and returns what it wrote.
std::string Record(ProgressStyle style, int64_t total, const std::vector<std::pair<int64_t, double>>& steps) {
  FILE* f = std::tmpfile();
  EXPECT_NE(f, nullptr);
  double now = 0;
  {
    Progress p("calibration", "samples", total, style, f, [&] { return now; });
    for (auto [done, t] : steps) {
      now = t;
      p.Update(done);
    }
  }
  std::string out(static_cast<size_t>(std::ftell(f)), '\0');
  std::rewind(f);
  EXPECT_EQ(std::fread(out.data(), 1, out.size(), f), out.size());
  std::fclose(f);
  return out;
}

TEST(Progress, LinesAtEachTenthAndAtTheEnd) {
  std::vector<std::pair<int64_t, double>> steps;
  for (int64_t i = 1; i <= 20; ++i) steps.push_back({i, 0.1 * static_cast<double>(i)});  // fast: no 2 s rule
  EXPECT_EQ(Record(ProgressStyle::kLines, 20, steps),
            "calibration: 2/20 samples (10%), 0.2 s elapsed, about 1.8 s left\n"
            "calibration: 4/20 samples (20%), 0.4 s elapsed, about 1.6 s left\n"
            "calibration: 6/20 samples (30%), 0.6 s elapsed, about 1.4 s left\n"
            "calibration: 8/20 samples (40%), 0.8 s elapsed, about 1.2 s left\n"
            "calibration: 10/20 samples (50%), 1.0 s elapsed, about 1.0 s left\n"
            "calibration: 12/20 samples (60%), 1.2 s elapsed, about 0.8 s left\n"
            "calibration: 14/20 samples (70%), 1.4 s elapsed, about 0.6 s left\n"
            "calibration: 16/20 samples (80%), 1.6 s elapsed, about 0.4 s left\n"
            "calibration: 18/20 samples (90%), 1.8 s elapsed, about 0.2 s left\n"
            "calibration: 20/20 samples (100%) in 2.0 s\n");
}

TEST(Progress, LinesEveryTwoSecondsWhenSlow) {
  // 1000 items, 1 s each: a tenth takes 100 s, so the 2 s rule prints, once per 2 s at most.
  std::vector<std::pair<int64_t, double>> steps;
  for (int64_t i = 1; i <= 5; ++i) steps.push_back({i, static_cast<double>(i)});
  EXPECT_EQ(Record(ProgressStyle::kLines, 1000, steps),
            "calibration: 2/1000 samples (0%), 2.0 s elapsed, about 16 min 38 s left\n"
            "calibration: 4/1000 samples (0%), 4.0 s elapsed, about 16 min 36 s left\n");
}

TEST(Progress, UpdateZeroStartsTheClock) {
  // Constructed at 0 s, the work begins at 10 s: elapsed and time left count from there.
  EXPECT_EQ(Record(ProgressStyle::kLines, 2, {{0, 10.0}, {1, 11.0}, {2, 12.0}}),
            "calibration: 1/2 samples (50%), 1.0 s elapsed, about 1.0 s left\n"
            "calibration: 2/2 samples (100%) in 2.0 s\n");
}

TEST(Progress, QuietWritesNothing) {
  EXPECT_EQ(Record(ProgressStyle::kNone, 4, {{1, 1.0}, {2, 5.0}, {4, 9.0}}), "");
}

TEST(Progress, BarRedrawsInPlaceAndEndsItsLine) {
  const std::string out = Record(ProgressStyle::kBar, 4, {{1, 1.0}, {2, 2.0}, {4, 4.0}});
  EXPECT_EQ(out,
            "\rcalibration [#######.......................] 1/4 samples  25%  3.0 s left\x1b[K"
            "\rcalibration [###############...............] 2/4 samples  50%  2.0 s left\x1b[K"
            "\rcalibration [##############################] 4/4 samples 100%  in 4.0 s\x1b[K\n");
}

TEST(Progress, UnfinishedBarStillEndsItsLine) {
  const std::string out = Record(ProgressStyle::kBar, 4, {{1, 1.0}});
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back(), '\n');
}

TEST(Progress, FormatSeconds) {
  EXPECT_EQ(FormatSeconds(0.04), "0.0 s");
  EXPECT_EQ(FormatSeconds(59.94), "59.9 s");
  EXPECT_EQ(FormatSeconds(125), "2 min 05 s");
  EXPECT_EQ(FormatSeconds(7260), "2 h 01 min");
}

}  // namespace
}  // namespace squint
