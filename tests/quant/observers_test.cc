#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "quant/observers/entropy.h"
#include "quant/observers/histogram.h"
#include "quant/observers/mse.h"
#include "quant/observers/observer.h"

namespace squint::quant {
namespace {

constexpr IntType kSigned8{8, true};

std::vector<float> Gaussian(size_t n, uint64_t seed, float sigma = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

std::vector<float> Uniform(size_t n, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

std::vector<float> Laplace(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<float> e(1.0f);
  std::bernoulli_distribution sign(0.5);
  std::vector<float> v(n);
  for (float& x : v) x = sign(rng) ? e(rng) : -e(rng);
  return v;
}

std::unique_ptr<Observer> Make(std::string_view name, ObserverOptions o = {}) {
  auto obs = MakeObserver(name, o);
  EXPECT_TRUE(obs.ok()) << obs.status().message();
  return std::move(obs).value();
}

Range RangeOf(std::string_view name, const std::vector<float>& data, ObserverOptions o = {},
              size_t batches = 1) {
  auto obs = Make(name, o);
  const size_t per = (data.size() + batches - 1) / batches;
  for (size_t b = 0; b * per < data.size(); ++b)
    obs->Observe(std::span(data).subspan(b * per, std::min(per, data.size() - b * per)));
  auto r = obs->ComputeRange();
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : Range{};
}

// Mean squared error of fake-quantizing the raw samples with the grid of `range`.
double SampleMse(const std::vector<float>& data, Range range, const IntType& type, bool symmetric) {
  auto p = ComputeAffineParams(range, type, symmetric);
  EXPECT_TRUE(p.ok());
  double sum = 0.0;
  for (float x : data) {
    const double d = static_cast<double>(x) - p->FakeQuantize(x);
    sum += d * d;
  }
  return sum / static_cast<double>(data.size());
}

// Brute force on the raw samples: the symmetric clip T in (0, max|x|] of least sample MSE
// (100 even steps, then four rounds of 10 finer steps either side of the best: a resolution of
// max|x|/10^6, 181 evaluations; the observers' tolerance below is 5 % of T).
double BruteForceSymmetricClip(const std::vector<float>& data, const IntType& type) {
  double amax = 0.0;
  for (float x : data) amax = std::max(amax, static_cast<double>(std::fabs(x)));
  auto mse = [&](double t) { return SampleMse(data, {-float(t), float(t)}, type, true); };
  double best_t = amax, best = mse(amax), step = amax / 100;
  for (int k = 1; k < 100; ++k)
    if (double v = mse(step * k); v < best) best = v, best_t = step * k;
  for (int round = 0; round < 4; ++round) {
    const double center = best_t;
    for (int k = -10; k <= 10; ++k) {
      const double t = center + step * k / 10;
      if (k == 0 || t <= 0 || t > amax) continue;
      if (double v = mse(t); v < best) best = v, best_t = t;
    }
    step /= 10;
  }
  return best_t;
}

// ---------------------------------------------------------------------------------------------
// Factory and options

TEST(MakeObserver, KnowsEveryMethodAndListsThemOnError) {
  for (const std::string& name : ObserverNames()) {
    auto obs = MakeObserver(name, {});
    ASSERT_TRUE(obs.ok()) << name;
    EXPECT_EQ((*obs)->name(), name);
  }
  auto bad = MakeObserver("kl", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "unknown calibration method 'kl'; valid methods: minmax, ema, percentile, entropy, mse");
}

TEST(MakeObserver, RejectsBadOptions) {
  ObserverOptions o;
  o.type.bits = 1;
  EXPECT_NE(MakeObserver("mse", o).status().message().find("1 bits, expected 2 to 16"), std::string::npos);
  o = {};
  o.percentile = 0.0;
  EXPECT_FALSE(MakeObserver("percentile", o).ok());
  o = {};
  o.ema_constant = 1.5;
  EXPECT_FALSE(MakeObserver("ema", o).ok());
  o = {};
  o.num_bins = 10;
  EXPECT_FALSE(MakeObserver("entropy", o).ok());
  o = {};
  o.ignore_below = NAN;
  EXPECT_FALSE(MakeObserver("minmax", o).ok());
}

// ---------------------------------------------------------------------------------------------
// Histogram

TEST(Histogram, BinsAreExactAndRebinningMergesWithoutLoss) {
  Histogram h(256);
  h.Add(std::vector<float>{0.1f, 0.2f, -0.3f});
  const int64_t bins_before = h.num_bins();
  h.Add(std::vector<float>{100.0f});  // forces several doublings
  EXPECT_EQ(h.total(), 4);
  EXPECT_LE(h.num_bins(), 256);
  EXPECT_GT(h.num_bins(), 128);
  EXPECT_GT(bins_before, 128);
  int64_t sum = 0;
  for (int64_t c : h.counts()) sum += c;
  EXPECT_EQ(sum, 4);
  EXPECT_EQ(h.min(), -0.3f);
  EXPECT_EQ(h.max(), 100.0f);
  EXPECT_LE(h.first_bin(), 0);
  EXPECT_EQ(std::log2(h.width()), std::floor(std::log2(h.width())));  // a power of two
}

TEST(Histogram, AllZerosAndQuantiles) {
  Histogram z(2048);
  z.Add(std::vector<float>(10, 0.0f));
  EXPECT_EQ(z.Quantile(0.5), 0.0);
  Histogram h(2048);
  std::vector<float> v = Uniform(1 << 20, 7, 0.0f, 1.0f);
  h.Add(v);
  for (double q : {0.01, 0.25, 0.5, 0.99}) EXPECT_NEAR(h.Quantile(q), q, 2 * h.width()) << q;
}

// ---------------------------------------------------------------------------------------------
// MinMax, EMA, Percentile on uniform data

TEST(MinMaxObserver, UniformIsExact) {
  std::vector<float> v = Uniform(100000, 1, -2.0f, 3.0f);
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  const Range r = RangeOf("minmax", v, {}, 37);
  EXPECT_EQ(r.min, *lo);
  EXPECT_EQ(r.max, *hi);
}

TEST(EmaObserver, ConvergesToTheAverageOfBatchExtremes) {
  // Alternating batch maxima 1 and 3: the average settles within c of 2.
  auto obs = Make("ema");
  for (int b = 0; b < 2000; ++b) obs->Observe(std::vector<float>{-1.0f, b % 2 ? 3.0f : 1.0f});
  EXPECT_NEAR(obs->ComputeRange()->max, 2.0f, 0.02f);
  EXPECT_FLOAT_EQ(obs->ComputeRange()->min, -1.0f);

  // Random batches: the moving average tracks the mean batch extreme, not the global one.
  auto g = Make("ema");
  double sum_max = 0.0, sum_min = 0.0, global_max = 0.0;
  const int kBatches = 3000;
  for (int b = 0; b < kBatches; ++b) {
    std::vector<float> batch = Gaussian(1000, 100 + b);
    const auto [lo, hi] = std::minmax_element(batch.begin(), batch.end());
    sum_max += *hi;
    sum_min += *lo;
    global_max = std::max(global_max, double{*hi});
    g->Observe(batch);
  }
  const Range r = *g->ComputeRange();
  EXPECT_NEAR(r.max, sum_max / kBatches, 0.03 * sum_max / kBatches);
  EXPECT_NEAR(r.min, sum_min / kBatches, 0.03 * std::fabs(sum_min) / kBatches);
  EXPECT_LT(r.max, 0.85 * global_max);
}

TEST(EmaObserver, FirstBatchInitializes) {
  auto obs = Make("ema");
  obs->Observe(std::vector<float>{-5.0f, 7.0f});
  EXPECT_EQ(*obs->ComputeRange(), (Range{-5.0f, 7.0f}));
}

TEST(PercentileObserver, UniformWithinABinOfTheAnalyticQuantile) {
  std::vector<float> v = Uniform(1 << 20, 2, -1.0f, 1.0f);
  ObserverOptions o;
  o.percentile = 99.9;
  o.symmetric = true;  // |x| ~ U(0, 1): T = 0.999
  auto sym = Make("percentile", o);
  sym->Observe(v);
  const double w = 1.0 / 2048;  // histogram bin width is at most max|x| / 1024 ≈ 1/1024
  const Range rs = *sym->ComputeRange();
  EXPECT_NEAR(rs.max, 0.999, w);
  EXPECT_NEAR(rs.min, -0.999, w);

  o.symmetric = false;  // two-sided: quantiles 0.0005 and 0.9995 of U(−1, 1)
  const Range ra = RangeOf("percentile", v, o);
  EXPECT_NEAR(ra.min, -0.999, w);
  EXPECT_NEAR(ra.max, 0.999, w);

  std::vector<float> pos = Uniform(1 << 20, 3, 0.0f, 4.0f);  // post-ReLU-like: [0, 4]
  const Range rp = RangeOf("percentile", pos, o);
  EXPECT_NEAR(rp.min, 4 * 0.0005, 4.0 / 1024);
  EXPECT_NEAR(rp.max, 4 * 0.9995, 4.0 / 1024);
  o.symmetric = true;
  const Range rq = RangeOf("percentile", pos, o);
  EXPECT_GE(rq.min, 0.0f);  // clamped to the observed minimum
  EXPECT_NEAR(rq.max, 4 * 0.999, 4.0 / 1024);
}

// ---------------------------------------------------------------------------------------------
// MSE and Entropy against brute force on the raw samples

TEST(HistogramQuantError, MatchesTheSampleErrorOnSmoothData) {
  std::vector<float> v = Gaussian(1 << 18, 4);
  Histogram h(2048);
  h.Add(v);
  for (float t : {1.5f, 3.0f, 4.0f, 6.0f}) {
    for (IntType type : {IntType{8, true}, IntType{4, true}, IntType{8, false}}) {
      auto p = ComputeAffineParams({-t, t * 0.5f}, type, false);
      const double predicted = HistogramQuantError(h, *p) / h.total();
      const double measured = SampleMse(v, {-t, t * 0.5f}, type, false);
      EXPECT_NEAR(predicted, measured, 0.03 * measured) << t << " " << type.ToString();
    }
  }
}

TEST(MseObserver, Gaussian8BitMatchesBruteForce) {
  std::vector<float> v = Gaussian(200000, 5);
  ObserverOptions o;
  o.symmetric = true;
  const Range r = RangeOf("mse", v, o);
  const double t_star = BruteForceSymmetricClip(v, kSigned8);
  const double best = SampleMse(v, {-float(t_star), float(t_star)}, kSigned8, true);
  const double got = SampleMse(v, r, kSigned8, true);
  RecordProperty("brute_force_clip_sigma", std::to_string(t_star));
  RecordProperty("mse_observer_clip_sigma", std::to_string(r.max));
  std::printf("gaussian int8 symmetric: brute-force clip %.3f sigma, mse observer %.3f (mse ratio %.4f)\n",
              t_star, double{r.max}, got / best);
  EXPECT_GT(t_star, 3.5);  // the known optimum for 8 bits is about 4 sigma
  EXPECT_LT(t_star, 4.7);
  EXPECT_NEAR(r.max, t_star, 0.05 * t_star);
  EXPECT_LT(got, 1.02 * best);
  EXPECT_FLOAT_EQ(r.min, -r.max);
}

TEST(MseObserver, AsymmetricUInt8NearBruteForce) {
  std::vector<float> v = Gaussian(200000, 6);
  for (float& x : v) x = std::max(x, -0.5f) + 0.5f;  // skewed: [0, ~5], a lump at 0
  ObserverOptions o;
  o.type = {8, false};
  const Range r = RangeOf("mse", v, o);
  // Brute force over the max only (the min is the data minimum 0, always in the range).
  double best = std::numeric_limits<double>::infinity(), best_hi = 0;
  for (int k = 1; k <= 200; ++k) {
    const float hi = 6.0f * k / 200;
    if (double e = SampleMse(v, {0.0f, hi}, o.type, false); e < best) best = e, best_hi = hi;
  }
  for (int k = -30; k <= 30; ++k) {  // then steps of 0.001 around the best
    const float hi = static_cast<float>(best_hi) + 0.001f * k;
    if (double e = SampleMse(v, {0.0f, hi}, o.type, false); e < best) best = e, best_hi = hi;
  }
  const double got = SampleMse(v, r, o.type, false);
  std::printf("skewed uint8 asymmetric: brute-force max %.3f, mse observer [%.3f, %.3f] (mse ratio %.4f)\n",
              best_hi, double{r.min}, double{r.max}, got / best);
  EXPECT_NEAR(r.max, best_hi, 0.05 * best_hi);
  EXPECT_LT(got, 1.02 * best);
}

TEST(Observers, GaussianWithHugeOutliersClipsBelowTheOutliers) {
  // 2^20 N(0, 1) samples and 4 outliers at about ±50 sigma. The squared error of clipping four
  // values by ~30 sigma still outweighs a coarser step for a million values: the true MSE
  // optimum on these samples (brute force) is ~20 sigma, well below the outliers but far above
  // the Gaussian's own ~3.9 sigma. The observer must find that optimum, not the Gaussian one.
  std::vector<float> v = Gaussian(1 << 20, 8);
  v[10] = 50.0f;
  v[20] = -50.0f;
  v[30] = 49.0f;
  v[40] = -48.0f;
  ObserverOptions o;
  o.symmetric = true;
  const double t_star = BruteForceSymmetricClip(v, kSigned8);
  const double best = SampleMse(v, {-float(t_star), float(t_star)}, kSigned8, true);
  const Range mse = RangeOf("mse", v, o);
  const Range ent = RangeOf("entropy", v, o);
  const Range pct = RangeOf("percentile", v, o);
  const double got = SampleMse(v, mse, kSigned8, true);
  std::printf("gaussian+outliers int8: brute-force clip %.3f, mse %.3f (mse ratio %.4f), entropy %.3f, "
              "percentile(99.999) %.3f, entropy mse ratio %.4f\n",
              t_star, double{mse.max}, got / best, double{ent.max}, double{pct.max},
              SampleMse(v, ent, kSigned8, true) / best);
  EXPECT_NEAR(mse.max, t_star, 0.05 * t_star);
  EXPECT_LT(got, 1.02 * best);
  EXPECT_LT(mse.max, 25.0f);
  // KL divergence weighs probability mass, not squared distance: the outliers hardly move it
  // and it lands near the Gaussian body's 8-bit optimum (≈ 3.9 sigma, see the test above).
  EXPECT_GT(ent.max, 3.0f);
  EXPECT_LT(ent.max, 6.0f);
}

TEST(Observers, LaplaceClipGrowsWithBits) {
  std::vector<float> v = Laplace(400000, 9);
  double prev_mse = 0, prev_ent = 0;
  for (int bits : {4, 6, 8}) {
    ObserverOptions o;
    o.type = {bits, true};
    o.symmetric = true;
    const Range mse = RangeOf("mse", v, o);
    const Range ent = RangeOf("entropy", v, o);
    const double t_star = BruteForceSymmetricClip(v, o.type);
    const double best = SampleMse(v, {-float(t_star), float(t_star)}, o.type, true);
    const double got = SampleMse(v, mse, o.type, true);
    std::printf("laplace(b=1) int%d: brute-force clip %.3f, mse observer %.3f (mse ratio %.4f), entropy %.3f\n",
                bits, t_star, double{mse.max}, got / best, double{ent.max});
    EXPECT_NEAR(mse.max, t_star, 0.05 * t_star) << bits;
    EXPECT_LT(got, 1.02 * best) << bits;
    EXPECT_GT(mse.max, prev_mse * 1.1) << bits;
    EXPECT_GT(ent.max, prev_ent) << bits;
    prev_mse = mse.max;
    prev_ent = ent.max;
  }
}

TEST(EntropyObserver, HighBitWidthsKeepTheFullRange) {
  std::vector<float> v = Gaussian(100000, 10);
  const float amax = std::max(-*std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()));
  ObserverOptions o;
  o.type = {16, true};
  const Range r = RangeOf("entropy", v, o);
  EXPECT_EQ(std::max(-r.min, r.max), amax);
}

// A ReLU-like tensor: exact zeros and an exponential tail. (1) Exact zeros are exact on every
// grid: they must not move the threshold (kept, their spike in bin 0 dominated the divergence).
// (2) On [0, T] an asymmetric int8 grid has all 256 levels, like uint8; only a symmetric int8
// grid has 128 there, and another optimum.
TEST(EntropyObserver, ReluOutputsUseEveryLevelAndIgnoreZeros) {
  std::mt19937 rng(7);
  std::exponential_distribution<float> e(1.0f);
  std::vector<float> tail(100000), relu;
  for (float& x : tail) x = e(rng) + 1e-3f;
  for (float x : tail) {
    relu.push_back(x);
    relu.push_back(0.0f);
    relu.push_back(0.0f);
  }
  ObserverOptions asym;
  asym.type = kSigned8;
  ObserverOptions u8 = asym;
  u8.type = {8, false};
  ObserverOptions sym = asym;
  sym.symmetric = true;
  const Range with_zeros = RangeOf("entropy", relu, asym);
  EXPECT_EQ(with_zeros.min, 0.0f);
  EXPECT_EQ(with_zeros.max, RangeOf("entropy", tail, asym).max);
  EXPECT_EQ(with_zeros.max, RangeOf("entropy", relu, u8).max);
  EXPECT_NE(RangeOf("entropy", relu, sym).max, with_zeros.max);
}

TEST(EntropyCandidateDivergence, ZeroWithoutClippingOrMerging) {
  // With as many levels as bins and nothing clipped, Q == P.
  std::vector<int64_t> bins = {5, 0, 3, 8, 1, 0, 2, 9};
  EXPECT_NEAR(EntropyCandidateDivergence(bins, 8, 8), 0.0, 1e-12);
  // Clipping moves mass into the last kept bin: positive divergence.
  EXPECT_GT(EntropyCandidateDivergence(bins, 4, 4), 0.0);
  // Clipping where the last kept group holds no data: Q misses P's mass.
  std::vector<int64_t> gap = {5, 3, 0, 0, 1, 1};
  EXPECT_TRUE(std::isinf(EntropyCandidateDivergence(gap, 4, 2)));
}

// ---------------------------------------------------------------------------------------------
// Streaming, masking, empty input

TEST(Observers, OneBatchAndHundredBatchesAgree) {
  std::vector<float> v = Gaussian(200000, 11);
  v[5] = 30.0f;
  // Sorted by magnitude, each batch widens the range: the worst case for re-binning.
  std::vector<float> growing = v;
  std::sort(growing.begin(), growing.end(), [](float a, float b) { return std::fabs(a) < std::fabs(b); });
  for (bool symmetric : {true, false}) {
    ObserverOptions o;
    o.symmetric = symmetric;
    for (const char* name : {"minmax", "percentile", "entropy", "mse"}) {
      const Range one = RangeOf(name, v, o, 1);
      EXPECT_EQ(RangeOf(name, v, o, 100), one) << name << " symmetric=" << symmetric;
      EXPECT_EQ(RangeOf(name, growing, o, 100), one) << name << " symmetric=" << symmetric;
    }
  }
}

TEST(Observers, MaskedAndNonFiniteValuesAreSkippedAndCounted) {
  std::vector<float> clean = Gaussian(50000, 12);
  std::vector<float> dirty = clean;
  const float inf = std::numeric_limits<float>::infinity();
  for (float bad : {-1e9f, -3.4e38f, -inf, -1e4f, -2e5f}) dirty.insert(dirty.begin() + 100, bad);
  dirty.push_back(NAN);
  dirty.push_back(inf);
  ObserverOptions o;
  o.ignore_below = -1e4f;
  for (const std::string& name : ObserverNames()) {
    auto obs = Make(name, o);
    obs->Observe(dirty);
    auto r = obs->ComputeRange();
    ASSERT_TRUE(r.ok()) << name;
    EXPECT_EQ(*r, RangeOf(name, clean, o)) << name;
    EXPECT_EQ(obs->stats().seen, static_cast<int64_t>(dirty.size()));
    EXPECT_EQ(obs->stats().used, static_cast<int64_t>(clean.size()));
    EXPECT_EQ(obs->stats().masked, 5) << name;  // −Inf included
    EXPECT_EQ(obs->stats().nan, 1);
    EXPECT_EQ(obs->stats().inf, 1);
    EXPECT_EQ(obs->stats().non_finite(), 2);
  }
  // Without ignore_below, finite mask constants count as data; non-finite values never do.
  auto plain = Make("minmax");
  plain->Observe(dirty);
  EXPECT_EQ(plain->ComputeRange()->min, -3.4e38f);
  EXPECT_EQ(plain->stats().inf, 2);
  EXPECT_EQ(plain->stats().masked, 0);
}

TEST(Observers, EmptyInputIsAnError) {
  ObserverOptions o;
  o.ignore_below = -1e4f;
  for (const std::string& name : ObserverNames()) {
    auto none = Make(name, o);
    EXPECT_FALSE(none->ComputeRange().ok()) << name;
    none->Observe({});
    EXPECT_FALSE(none->ComputeRange().ok()) << name;
    auto masked = Make(name, o);
    masked->Observe(std::vector<float>{-1e9f, NAN, -1e5f});
    auto r = masked->ComputeRange();
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_NE(r.status().message().find("no usable values"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("1 NaN"), std::string::npos) << r.status().message();
  }
}

TEST(Observers, ConstantAndZeroData) {
  for (const std::string& name : ObserverNames()) {
    ObserverOptions o;
    EXPECT_EQ(RangeOf(name, std::vector<float>(1000, 0.0f), o), (Range{0.0f, 0.0f})) << name;
    const Range c = RangeOf(name, std::vector<float>(1000, 2.5f), o);
    EXPECT_LE(c.min, c.max) << name;
    EXPECT_LE(c.max, 2.5f) << name;
    EXPECT_TRUE(ComputeAffineParams(c, o.type, o.symmetric).ok()) << name;
  }
}

}  // namespace
}  // namespace squint::quant
