#include "report/distributions.h"

#include <numeric>
#include <vector>

#include <gtest/gtest.h>

namespace squint::report {
namespace {

int64_t Sum(const std::vector<int64_t>& v) { return std::accumulate(v.begin(), v.end(), int64_t{0}); }

TEST(Histogram, GrowsByDoublingAndKeepsEveryCount) {
  Histogram h;
  h.clip_lo = -1;
  h.clip_hi = 10;
  h.Add(std::vector<float>{0.0f, 1.0f});  // range [0, 1 + 1/kBins)
  const double w0 = h.hi - h.lo;
  h.Add(std::vector<float>{-0.5f});       // doubles to the left
  EXPECT_DOUBLE_EQ(h.hi - h.lo, 2 * w0);
  h.Add(std::vector<float>{100.0f, -3.0f, NAN, INFINITY});
  EXPECT_EQ(h.counts.size(), static_cast<size_t>(Histogram::kBins));  // bounded, whatever the data
  EXPECT_EQ(Sum(h.counts), 5);
  EXPECT_EQ(h.total, 5);
  EXPECT_EQ(h.non_finite, 2);
  EXPECT_LE(h.lo, -3.0);
  EXPECT_GT(h.hi, 100.0);
  EXPECT_EQ(h.min, -3.0);
  EXPECT_EQ(h.max, 100.0);
  EXPECT_EQ(h.below_clip, 1);  // -3
  EXPECT_EQ(h.above_clip, 1);  // 100
  // Each value lies in the bin it was counted in: 100 in the last non-empty one.
  size_t last = 0;
  for (size_t i = 0; i < h.counts.size(); ++i)
    if (h.counts[i]) last = i;
  EXPECT_LE(h.lo + h.bin_width() * static_cast<double>(last), 100.0);
  EXPECT_GT(h.lo + h.bin_width() * static_cast<double>(last + 1), 100.0);
}

TEST(Histogram, OneValueRepeated) {
  Histogram h;
  h.Add(std::vector<float>(1000, 2.5f));
  EXPECT_LT(h.lo, 2.5);
  EXPECT_GT(h.hi, 2.5);
  EXPECT_EQ(Sum(h.counts), 1000);
}

TEST(LogHistogram, OctavesZerosAndTiny) {
  LogHistogram h;
  h.Add(std::vector<float>{0.0f, 1e-9f, 1.0f, 0.5f, 0.25f, 0.3f});
  EXPECT_EQ(h.zeros, 1);
  EXPECT_EQ(h.tiny, 1);  // below 2^-24
  EXPECT_EQ(h.total, 6);
  const int per = LogHistogram::kBinsPerOctave, last = LogHistogram::kOctaves * per - 1;
  EXPECT_EQ(h.counts[static_cast<size_t>(last)], 1);            // 1: clamped into the top bin
  EXPECT_EQ(h.counts[static_cast<size_t>(last + 1 - per)], 1);      // 0.5 = 2^-1: the top octave's first bin
  EXPECT_EQ(h.counts[static_cast<size_t>(last + 1 - 2 * per)], 1);  // 0.25
  EXPECT_EQ(h.counts[static_cast<size_t>(last + 2 - 2 * per)], 1);  // 0.3 = 2^-1.74: a quarter octave above
  EXPECT_EQ(Sum(h.counts), 4);
}

}  // namespace
}  // namespace squint::report
