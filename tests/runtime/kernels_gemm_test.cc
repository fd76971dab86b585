// The GEMM microkernels of this build's architecture (runtime/kernels/x86: avx2, avx512vnni;
// runtime/kernels/arm: neon, neondot; the shared loops in runtime/kernels/portable/qs8_gemm.h)
// against the reference FULLY_CONNECTED, BATCH_MATMUL and CONV_2D, with
// tolerance zero: every output code equal, over edge shapes (1, odd, just below / at / above each
// tile and unroll), extreme zero points, saturating codes, with and without bias, per-tensor and
// per-channel requantization including the saturating left shift and the largest right shift.
// A set this CPU lacks is skipped (and named); dispatch and the interpreter path are tested below.
// The same file runs on x86-64 and, cross-built, on aarch64 under qemu (scripts/test.sh).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "runtime/dispatch.h"
#include "runtime/interpreter.h"
#include "runtime/kernels/reference/kernels.h"
#include "runtime/kernels/portable/qs8_gemm.h"
#include "runtime/quant_math/quant_math.h"
#include "runtime/thread_pool.h"
#include "tests/runtime/kernels_test_util.h"
#include "tests/runtime/sqnt_builder.h"

namespace squint::rt {
namespace {

using portable::Qs8GemmKernel;

// The optimized sets of both architectures, best first within each (ResolveIsa's auto order).
const Isa kOptimizedSets[] = {Isa::kAvx512Vnni, Isa::kAvx2, Isa::kNeonDot, Isa::kNeon};
[[maybe_unused]] bool IsX86(Isa isa) { return isa == Isa::kAvx2 || isa == Isa::kAvx512Vnni; }

struct KernelCase {
  Isa isa;
  const Qs8GemmKernel* kernel;
};
// Every set this build has a GEMM microkernel for (Qs8GemmKernelFor: the one list).
std::vector<KernelCase> Kernels() {
  std::vector<KernelCase> out;
  for (Isa isa : kOptimizedSets)
    if (const Qs8GemmKernel* k = portable::Qs8GemmKernelFor(isa)) out.push_back({isa, k});
#if defined(SQUINT_X86_KERNELS)
  // Where avx512vnni's deeper or many-row GEMMs run on AMX tiles (AmxSupported), the AMX kernel as well.
  if (AmxSupported()) out.push_back({Isa::kAvx512Vnni, &x86::kQs8Gemm32x32c4Amx});
#endif
  return out;
}
// A test name per case: the set, and _amx for its AMX kernel.
std::string KernelCaseName(const KernelCase& c) {
  return std::string(IsaName(c.isa)) + (std::string(c.kernel->name).find("amx") != std::string::npos ? "_amx" : "");
}

// Builder of one GEMM case: y[m][n] = FULLY_CONNECTED(x[m][k], w[n][k], bias[n]).
class GemmTester {
 public:
  GemmTester& M(int32_t v) { m_ = v; return *this; }
  GemmTester& N(int32_t v) { n_ = v; return *this; }
  GemmTester& K(int32_t v) { k_ = v; return *this; }
  GemmTester& XZeroPoint(int32_t v) { zx_ = v; return *this; }
  GemmTester& YZeroPoint(int32_t v) { zy_ = v; return *this; }
  GemmTester& PerChannel(bool v) { per_channel_ = v; return *this; }
  GemmTester& Bias(bool v) { bias_ = v; return *this; }
  GemmTester& MaxBias(bool v) { max_bias_ = v; return *this; }  // |bias| at the prepare bound
  // Every unit's bias and multiplier given (per channel; with XAll(0) and XZeroPoint(0) the
  // accumulators are the biases).
  GemmTester& BiasesAndMultipliers(std::vector<int32_t> b, std::vector<int32_t> m) {
    biases_ = std::move(b), multipliers_ = std::move(m);
    return *this;
  }
  GemmTester& XAll(int8_t v) { x_all_ = v; return *this; }      // every activation code v
  GemmTester& Small(bool v) { small_ = v; return *this; }       // codes in [−16, 16]: tiny accumulators
  GemmTester& WAll(int8_t v) { w_all_ = v; return *this; }      // every weight code v
  GemmTester& Shifts(int32_t lo, int32_t hi) {  // default: chosen from k to keep outputs mostly in range
    shift_lo_ = lo;
    shift_hi_ = hi;
    shifts_set_ = true;
    return *this;
  }
  GemmTester& ZeroMultiplier(bool v) { zero_multiplier_ = v; return *this; }
  GemmTester& HalfMultiplier(bool v) { half_multiplier_ = v; return *this; }  // 2^30 (0.5): rounding ties
  GemmTester& ActRange(int32_t lo, int32_t hi) { act_min_ = lo; act_max_ = hi; return *this; }
  GemmTester& Seed(uint32_t v) { seed_ = v; return *this; }
  GemmTester& Pool(ThreadPool* v) { pool_ = v; return *this; }  // split the call over a pool
  GemmTester& MinPartMacs(int64_t v) { min_part_macs_ = v; return *this; }  // Qs8Parallel::min_part_macs

  std::string Describe() const {
    return "m " + std::to_string(m_) + " n " + std::to_string(n_) + " k " + std::to_string(k_) + " zx " +
           std::to_string(zx_) + " zy " + std::to_string(zy_) + (per_channel_ ? " per-channel" : " per-tensor") +
           (bias_ ? " bias" : " no-bias") +
           (shifts_set_ ? " shifts [" + std::to_string(shift_lo_) + ", " + std::to_string(shift_hi_) + "]" : "") +
           " seed " + std::to_string(seed_);
  }

  // Runs `kernel` and the reference on the same data; every code must be equal. Returns the
  // outputs strictly inside (act_min, act_max), so that callers can check a case is not vacuous.
  int64_t Test(const Qs8GemmKernel& kernel) const {
    int64_t interior = 0;
    Check(kernel, &interior);
    return interior;
  }

 private:
  void Check(const Qs8GemmKernel& kernel, int64_t* interior) const {
    std::mt19937 rng(seed_);
    auto uni = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
    std::vector<int8_t> x(static_cast<size_t>(m_) * k_), w(static_cast<size_t>(n_) * k_);
    const int64_t lo = small_ ? -16 : -128, hi = small_ ? 16 : 127;
    for (auto& v : x) v = x_all_ ? *x_all_ : static_cast<int8_t>(uni(lo, hi));
    for (auto& v : w) v = w_all_ ? *w_all_ : static_cast<int8_t>(uni(lo, hi));
    // The largest |bias| prepare accepts (Int8DotFitsInt32), capped at 2^30.
    const int64_t max_dev = std::max<int64_t>(127 - zx_, zx_ + 128);
    int64_t bound = 0x7fffffff - int64_t{k_} * max_dev * 128;
    if (bound > (int64_t{1} << 30)) bound = int64_t{1} << 30;
    ASSERT_GE(bound, 0) << "case breaks the prepare bound: " << Describe();
    ASSERT_TRUE(ref::Int8DotFitsInt32(k_, zx_, bias_ ? bound : 0));
    std::vector<int32_t> bias(static_cast<size_t>(n_));
    // Bias on the scale of the products (or at the bound), so that outputs are not all clamped.
    const int64_t typical = std::min<int64_t>(bound, 4096 + int64_t{k_} * 512);
    for (auto& b : bias) b = static_cast<int32_t>(max_bias_ ? (uni(0, 1) ? bound : -bound) : uni(-typical, typical));
    if (!biases_.empty()) bias = biases_;
    // Default shifts: |acc| ~ 5500·sqrt(k) for random codes, scaled to a few dozen codes.
    int32_t shift_lo = shift_lo_, shift_hi = shift_hi_;
    if (!shifts_set_) {
      int32_t log2_k = 0;
      while ((int64_t{1} << (2 * (log2_k + 1))) <= k_) ++log2_k;  // ⌊log2(k)/2⌋
      shift_hi = -6 - log2_k;
      shift_lo = shift_hi - 3;
    }
    const size_t channels = per_channel_ ? static_cast<size_t>(n_) : 1;
    std::vector<int32_t> mult(channels), shift(channels);
    for (size_t c = 0; c < channels; ++c) {
      mult[c] = zero_multiplier_ && c % 3 == 0 ? 0
                : half_multiplier_            ? int32_t{1} << 30
                                              : static_cast<int32_t>(uni(int64_t{1} << 30, 0x7fffffff));
      shift[c] = static_cast<int32_t>(uni(shift_lo, shift_hi));
      if (!multipliers_.empty()) mult[c] = multipliers_[c];
    }
    ref::FullyConnectedParams p;
    p.rows = m_;
    p.depth = k_;
    p.units = n_;
    p.input_zero_point = zx_;
    p.requant = ref::RequantParams{mult.data(), shift.data(), static_cast<int32_t>(channels), zy_, act_min_, act_max_};
    const int32_t* b = bias_ ? bias.data() : nullptr;
    std::vector<int8_t> want(static_cast<size_t>(m_) * n_), got(want.size(), 0x5a);
    ref::FullyConnected<int8_t>(p, x.data(), w.data(), b, want.data());

    portable::Qs8GemmProblem problem;
    problem.units = n_;
    problem.depth = k_;
    problem.w = w.data();
    problem.bias = b;
    problem.input_zero_point = zx_;
    problem.requant = p.requant;
    struct alignas(64) Line {
      uint8_t bytes[64];
    };
    std::vector<Line> block((portable::Qs8GemmPackedLayout(kernel, n_, k_).total + 63) / 64);
    portable::PackQs8Gemm(kernel, problem, block.data());
    std::vector<Line> scratch((portable::Qs8GemmScratchBytes(kernel, m_, k_) + 63) / 64 + 1);
    portable::Qs8GemmParams g;
    g.rows = m_;
    portable::BindQs8Gemm(kernel, problem, block.data(), &g);
    g.scratch = scratch.data();
    if (pool_ != nullptr) g.parallel = portable::Qs8Parallel{&ThreadPool::RunOn, pool_, pool_->threads(), min_part_macs_};
    portable::Qs8Gemm(kernel, g, x.data(), got.data());
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(int{got[i]}, int{want[i]}) << kernel.name << ": first difference at row " << i / n_ << " unit "
                                           << i % n_ << ", " << Describe();
      *interior += want[i] > act_min_ && want[i] < act_max_;
    }
  }

  int32_t m_ = 1, n_ = 1, k_ = 1, zx_ = 0, zy_ = 0;
  bool per_channel_ = true, bias_ = true, max_bias_ = false, zero_multiplier_ = false, half_multiplier_ = false, small_ = false;
  std::vector<int32_t> biases_, multipliers_;
  std::optional<int8_t> x_all_, w_all_;
  int32_t shift_lo_ = 0, shift_hi_ = 0;
  bool shifts_set_ = false;
  int32_t act_min_ = -128, act_max_ = 127;
  uint32_t seed_ = 1;
  ThreadPool* pool_ = nullptr;
  int64_t min_part_macs_ = 1;
};

class GemmTest : public ::testing::TestWithParam<KernelCase> {
 protected:
  void SetUp() override {
    if (!IsaSupported(GetParam().isa)) GTEST_SKIP() << "this CPU lacks " << IsaName(GetParam().isa);
  }
  const Qs8GemmKernel& kernel() const { return *GetParam().kernel; }
};

// 1, odd sizes, and one below / at / above every tile and unroll of the kernels of both
// architectures: mr 2 (neon), 4 (avx2, neondot) and 8 (avx512vnni); nr 8 (neon, neondot), 16 and
// 32; kr 2, 4 and 8; neondot's step of 4 depth groups (16 bytes); the 64-byte packing step.
const int32_t kEdges[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129};

// Sums Test's interior counts: a test asserts most of its outputs were not clamped, so equality
// was checked on codes that carry the arithmetic (not only on act_min / act_max).
struct Interior {
  int64_t inside = 0, total = 0;
  void Add(int64_t n, int64_t all) {
    inside += n;
    total += all;
  }
};

TEST_P(GemmTest, EveryRowsUnitsPairOverDepths) {
  uint32_t seed = 1;
  Interior in;
  const int32_t depths[] = {1, 2, 3, 4, 5, 17, 64, 129};
  for (int32_t m : kEdges)
    for (int32_t n : kEdges) {
      const int32_t k = depths[seed % 8], k2 = depths[(seed + 3) % 8];
      in.Add(GemmTester().M(m).N(n).K(k).XZeroPoint(static_cast<int32_t>(seed % 7) * 37 - 128).Seed(seed).Test(kernel()),
             int64_t{m} * n);
      in.Add(GemmTester().M(m).N(n).K(k2).XZeroPoint(-3).YZeroPoint(5).PerChannel(false).Bias(false).Seed(seed + 1000)
                 .Test(kernel()),
             int64_t{m} * n);
      ++seed;
      if (HasFatalFailure()) return;
    }
  EXPECT_GT(in.inside, in.total * 3 / 4);
}

TEST_P(GemmTest, EveryDepth) {
  uint32_t seed = 7;
  Interior in;
  for (int32_t k : kEdges)
    for (auto [m, n] : {std::pair{1, 1}, std::pair{9, 33}, std::pair{17, 65}, std::pair{4, 16}}) {
      in.Add(GemmTester().M(m).N(n).K(k).XZeroPoint(11).YZeroPoint(-7).Seed(seed++).Test(kernel()), int64_t{m} * n);
      if (HasFatalFailure()) return;
    }
  EXPECT_GT(in.inside, in.total * 3 / 4);
}

TEST_P(GemmTest, TransformerSizes) {  // 768 on each axis (ViT/GPT widths), one case each
  Interior in;
  in.Add(GemmTester().M(1).N(768).K(768).XZeroPoint(-5).Seed(3).Test(kernel()), 768);
  in.Add(GemmTester().M(9).N(768).K(768).XZeroPoint(100).PerChannel(false).Seed(4).Test(kernel()), 9 * 768);
  in.Add(GemmTester().M(768).N(17).K(33).XZeroPoint(-128).Seed(5).Test(kernel()), 768 * 17);
  in.Add(GemmTester().M(197).N(65).K(768).XZeroPoint(127).Seed(6).Test(kernel()), 197 * 65);
  EXPECT_GT(in.inside, in.total / 2);  // zero points at the ends skew the accumulators
}

TEST_P(GemmTest, ExtremeZeroPointsAndSaturatingCodes) {
  uint32_t seed = 11;
  for (int32_t zx : {-128, 127})
    for (int8_t xv : {int8_t{-128}, int8_t{127}})
      for (int8_t wv : {int8_t{-128}, int8_t{127}})
        for (int32_t k : {1, 63, 129, 768})
          for (bool bias : {false, true}) {
            GemmTester t;
            t.M(9).N(33).K(k).XZeroPoint(zx).XAll(xv).WAll(wv).Bias(bias).Seed(seed++);
            t.Test(kernel());
            t.Shifts(-24, -16).Test(kernel());  // the extreme accumulators brought into range
            t.Shifts(-2, 3).YZeroPoint(-128).Test(kernel());
            if (HasFatalFailure()) return;
          }
}

TEST_P(GemmTest, BiasAtThePrepareBound) {  // the folded bias wraps modulo 2^32; the result may not
  uint32_t seed = 21;
  for (int32_t zx : {-128, 0, 127})
    for (int32_t k : {1, 64, 1000})
      for (int8_t xv : {int8_t{-128}, int8_t{127}}) {
        GemmTester().M(5).N(40).K(k).XZeroPoint(zx).XAll(xv).MaxBias(true).Shifts(-31, -20).Seed(seed++).Test(
            kernel());
        GemmTester().M(5).N(40).K(k).XZeroPoint(zx).MaxBias(true).Shifts(-31, -20).Seed(seed++).Test(kernel());
        if (HasFatalFailure()) return;
      }
}

TEST_P(GemmTest, RequantizationCorners) {
  uint32_t seed = 31;
  Interior ties;
  for (bool per_channel : {false, true}) {
    // Left shifts up to 30 saturate sat32(acc·2^left); right shifts down to −31; multiplier 0.
    GemmTester().M(7).N(47).K(65).PerChannel(per_channel).Shifts(0, 30).Seed(seed++).Test(kernel());
    GemmTester().M(7).N(47).K(65).PerChannel(per_channel).Shifts(-31, -25).Seed(seed++).Test(kernel());
    GemmTester().M(7).N(47).K(65).PerChannel(per_channel).Shifts(-31, 30).Seed(seed++).Test(kernel());
    GemmTester().M(7).N(47).K(65).PerChannel(per_channel).ZeroMultiplier(true).Seed(seed++).Test(kernel());
    // Multiplier 0.5: every odd accumulator is a tie of the doubling high-mul, and small shifts
    // make ties of the rounding shift, on both signs.
    ties.Add(GemmTester().M(7).N(47).K(1).Small(true).Bias(false).PerChannel(per_channel).HalfMultiplier(true)
                 .Shifts(-2, 0)
                 .Seed(seed++)
                 .Test(kernel()),
             7 * 47);
    ties.Add(GemmTester().M(7).N(47).K(65).PerChannel(per_channel).HalfMultiplier(true).Seed(seed++).Test(kernel()),
             7 * 47);
    // Narrow activation ranges (ReLU6-like) and output zero points at both ends.
    GemmTester().M(7).N(47).K(65).PerChannel(per_channel).YZeroPoint(-128).ActRange(-128, -60).Seed(seed++).Test(
        kernel());
    GemmTester().M(7).N(47).K(65).PerChannel(per_channel).YZeroPoint(127).ActRange(0, 127).Seed(seed++).Test(kernel());
  }
  EXPECT_GT(ties.inside, ties.total * 3 / 4);
}

// Outputs at the requantization's rounding boundaries, for any output stage that shortcuts the
// reference's two roundings (the AVX-512 VNNI tiles' float stage for right shifts >= 8,
// avx512vnni.cc FloatOutputs): right shifts 14–20 with accumulators built to put
// acc·m/2^(31+r) within 2^−15 of a half-integer, at codes across the whole range, random 31-bit
// multipliers (float stages with a margin of 2^−18 or 2^−22 instead of 2^−13 failed here); right shifts
// 9–12 on products alone; half-multiplier cases whose every odd product is a tie of the first rounding.
TEST_P(GemmTest, OutputStageNearRoundingBoundaries) {
  uint32_t seed = 4000;
  std::mt19937 rng(77);
  constexpr int32_t kUnits = 512;
  for (int32_t r = 14; r <= 20; ++r)
    for (int32_t i = 0; i < 8; ++i) {
      std::vector<int32_t> bias(kUnits), mult(kUnits);
      for (int32_t u = 0; u < kUnits; ++u) {
        mult[u] = std::uniform_int_distribution<int32_t>(1 << 30, 0x7fffffff)(rng);
        const double target = std::uniform_int_distribution<int32_t>(-128, 127)(rng) + 0.5 +
                              std::uniform_real_distribution<double>(-0x1p-15, 0x1p-15)(rng);
        bias[u] = static_cast<int32_t>(std::llround(target * std::ldexp(1.0, 31 + r) / mult[u]));
      }
      GemmTester().M(9).N(kUnits).K(4).XAll(0).XZeroPoint(0).Shifts(-r, -r).BiasesAndMultipliers(bias, mult)
          .Seed(seed++).Test(kernel());
      if (HasFatalFailure()) return;
    }
  Interior in;
  for (int32_t r = 9; r <= 12; ++r)
    for (int32_t i = 0; i < 2; ++i) {
      in.Add(GemmTester().M(16).N(512).K(256 << (r - 9) >> 2).Shifts(-r, -r).Seed(seed++).Test(kernel()), 16 * 512);
      if (HasFatalFailure()) return;
    }
  for (int32_t r = 1; r <= 6; ++r) {
    GemmTester().M(33).N(65).K(17).HalfMultiplier(true).Shifts(-r, -r).Seed(seed++).Test(kernel());
    GemmTester().M(33).N(65).K(17).HalfMultiplier(true).Small(true).Bias(false).Shifts(-r, -r).Seed(seed++).Test(kernel());
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(in.inside, in.total / 2);
}

TEST_P(GemmTest, RandomCases) {
  std::mt19937 rng(99);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Interior in;
  for (int iter = 0; iter < 200; ++iter) {
    const int32_t m = uni(1, 70), n = uni(1, 100);
    in.Add(GemmTester()
               .M(m)
               .N(n)
               .K(uni(1, 300))
               .XZeroPoint(uni(-128, 127))
               .YZeroPoint(uni(-20, 20))
               .PerChannel(uni(0, 1) == 1)
               .Bias(uni(0, 3) != 0)
               .Seed(static_cast<uint32_t>(iter))
               .Test(kernel()),
           int64_t{m} * n);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(in.inside, in.total * 3 / 4);
}

// Split over threads: the same codes for every thread count, rows split (in row granules, the
// last part ragged) and panels split (fewer row granules than threads), with every call split
// (min_part_macs 1) and with the runtime's threshold (one shape above it, one below).
TEST_P(GemmTest, ThreadedSplitsGiveTheSameCodes) {
  uint32_t seed = 70;
  for (int32_t threads : {2, 3, 7}) {
    ThreadPool pool;
    ASSERT_TRUE(pool.Start(threads).ok());
    for (auto [m, n, k] : {std::tuple{1, 768, 768}, std::tuple{33, 100, 65}, std::tuple{9, 17, 31}, std::tuple{3, 1, 5},
                           std::tuple{130, 257, 129}, std::tuple{130, 17, 31}, std::tuple{784, 16, 9},
                           std::tuple{17, 64, 300}, std::tuple{50, 33, 260}}) {
      GemmTester().M(m).N(n).K(k).XZeroPoint(-7).Pool(&pool).Seed(seed++).Test(kernel());
      if (HasFatalFailure()) return;
    }
    for (auto [m, n, k] : {std::tuple{101, 160, 600}, std::tuple{20, 96, 96}}) {
      GemmTester().M(m).N(n).K(k).XZeroPoint(-7).Pool(&pool).MinPartMacs(portable::Qs8Parallel().min_part_macs)
          .Seed(seed++).Test(kernel());
      if (HasFatalFailure()) return;
    }
  }
}

// ---- BATCH_MATMUL: one matrix product of two int8 activations (portable::Qs8MatMul) ----------------

// Runs Qs8MatMul and the reference BATCH_MATMUL (one matrix) on the same codes; returns the
// outputs strictly inside the int8 range. `all_a` / `all_b`: every code of a / b (else random).
int64_t CheckMatMul(const Qs8GemmKernel& kernel, int32_t m, int32_t n, int32_t k, int32_t za, int32_t zb,
                    uint32_t seed, std::optional<int8_t> all_a = {}, std::optional<int8_t> all_b = {},
                    std::optional<int32_t> shift_override = {}) {
  std::mt19937 rng(seed);
  auto code = [&] { return static_cast<int8_t>(std::uniform_int_distribution<int>(-128, 127)(rng)); };
  std::vector<int8_t> a(size_t(m) * k), b(size_t(k) * n);
  for (auto& v : a) v = all_a ? *all_a : code();
  for (auto& v : b) v = all_b ? *all_b : code();
  EXPECT_TRUE(ref::Int8MatMulFitsInt32(k, za, zb));
  // |acc| ~ 5500·sqrt(k) for random codes: shift to a few dozen codes.
  int32_t half_log2_k = 0;
  while ((int64_t{1} << (2 * (half_log2_k + 1))) <= k) ++half_log2_k;
  int32_t mult = (1 << 30) + static_cast<int32_t>(seed * 7919 % (1 << 30));
  int32_t shift = shift_override ? *shift_override : -7 - half_log2_k;
  ref::BatchMatMulParams p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.a_zero_point = za;
  p.b_zero_point = zb;
  p.requant = ref::RequantParams{&mult, &shift, 1, static_cast<int32_t>(seed % 9) - 4, -128, 127};
  std::vector<int8_t> want(size_t(m) * n), got(want.size(), 0x5a);
  ref::BatchMatMul<int8_t>(p, a.data(), b.data(), want.data());
  portable::Qs8GemmProblem problem;  // the requant arrays only (depth 0), as prepare packs them
  problem.units = n;
  problem.requant = p.requant;
  std::vector<PreparePools::Line> block((portable::Qs8GemmPackedLayout(kernel, n, 0).total + 63) / 64);
  portable::PackQs8Gemm(kernel, problem, block.data());
  portable::Qs8GemmParams g;
  portable::BindQs8Gemm(kernel, problem, block.data(), &g);
  g.rows = m;
  g.depth = k;
  // The scratch starts as garbage (the panels must be written whole); the kernel's own b packing
  // and row sums (pack_columns, sum_rows) and the plain C++ ones (both null) alike.
  std::vector<PreparePools::Line> scratch(portable::Qs8MatMulScratchBytes(kernel, m, n, k) / 64 + 1);
  Qs8GemmKernel plain = kernel;
  plain.pack_columns = nullptr;
  plain.sum_rows = nullptr;
  int64_t interior = 0;
  for (const Qs8GemmKernel* kk : {&kernel, static_cast<const Qs8GemmKernel*>(&plain)}) {
    std::memset(scratch.data(), 0xa5, scratch.size() * sizeof(scratch[0]));
    g.scratch = scratch.data();
    std::fill(got.begin(), got.end(), int8_t{0x5a});
    portable::Qs8MatMul(*kk, g, za, zb, a.data(), b.data(), got.data());
    interior = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(int{got[i]}, int{want[i]}) << kernel.name << (kk == &plain ? " (plain b packing)" : "") << " matmul m "
                                           << m << " n " << n << " k " << k << " za " << za << " zb " << zb
                                           << " seed " << seed << ": first difference at " << i;
      if (got[i] != want[i]) return interior;
      interior += want[i] > -128 && want[i] < 127;
    }
  }
  return interior;
}

TEST_P(GemmTest, MatMulEdgeShapesAndZeroPoints) {
  uint32_t seed = 41;
  Interior in;
  // (16 and 32: the attention heads' depths, whose row sums and packing take the rows as one run)
  const int32_t depths[] = {1, 3, 4, 5, 16, 32, 33, 64, 65};
  for (int32_t m : kEdges)
    for (int32_t n : kEdges) {
      const int32_t k = depths[seed % 9];
      const int32_t za = static_cast<int32_t>(seed % 5) * 60 - 128, zb = 127 - static_cast<int32_t>(seed % 3) * 100;
      in.Add(CheckMatMul(kernel(), m, n, k, za, zb, seed), int64_t{m} * n);
      ++seed;
      if (HasFailure()) return;
    }
  EXPECT_GT(in.inside, in.total / 2);
}

TEST_P(GemmTest, MatMulAttentionSizesAndSaturatingCodes) {
  Interior in;
  in.Add(CheckMatMul(kernel(), 197, 197, 64, 3, -7, 1), 197 * 197);  // Q·Kᵀ of a ViT head
  in.Add(CheckMatMul(kernel(), 197, 64, 197, -128, 0, 2), 197 * 64);  // P·V (uint-like P: z = −128)
  in.Add(CheckMatMul(kernel(), 1, 768, 768, 0, 0, 3), 768);
  EXPECT_GT(in.inside, in.total / 2);
  CheckMatMul(kernel(), 2, 3, 70000, 0, -1, 4);  // a's row sums over more than one run of 2^16 codes
  uint32_t seed = 50;
  for (int32_t za : {-128, 127})
    for (int32_t zb : {-128, 127})
      for (int8_t av : {int8_t{-128}, int8_t{127}})
        for (int8_t bv : {int8_t{-128}, int8_t{127}}) {
          // k·255² < 2^31 holds up to k = 33025; shift −22 brings |acc| <= 4096·255² into range.
          CheckMatMul(kernel(), 9, 33, 4096, za, zb, seed++, av, bv, -22);
          if (HasFailure()) return;
        }
}

// ---- CONV_2D (groups = 1): im2col + the FULLY_CONNECTED GEMM (portable::Qs8Conv2D) -------------------

struct ConvShape {
  int32_t batch, in_channels, in_h, in_w, out_channels, kernel_h, kernel_w, stride, dilation, pad;
  int32_t dilation_w = 0;  // 0: dilation
};

// Qs8Conv2D against the reference Conv2D<int8_t> (bias, per-channel requant, pads on all sides);
// returns the outputs strictly inside the int8 range.
// transpose: the set's NCHW ↔ channels-last copies, as prepare picks them (TransposeBytesFor).
// pool: split every call over it (min_part_macs 1), the im2col path then.
int64_t CheckConv(const Qs8GemmKernel& kernel, portable::TransposeBytesFn transpose, const ConvShape& s, int32_t zx,
                  uint32_t seed, ThreadPool* pool = nullptr) {
  std::mt19937 rng(seed);
  auto code = [&] { return static_cast<int8_t>(std::uniform_int_distribution<int>(-128, 127)(rng)); };
  ref::Conv2DParams c;
  c.batch = s.batch;
  c.in_channels = s.in_channels;
  c.in_h = s.in_h;
  c.in_w = s.in_w;
  c.out_channels = s.out_channels;
  c.kernel_h = s.kernel_h;
  c.kernel_w = s.kernel_w;
  c.stride_h = c.stride_w = s.stride;
  c.dilation_h = s.dilation;
  c.dilation_w = s.dilation_w != 0 ? s.dilation_w : s.dilation;
  c.pad_top = c.pad_left = s.pad;
  c.out_h = (s.in_h + 2 * s.pad - c.dilation_h * (s.kernel_h - 1) - 1) / s.stride + 1;
  c.out_w = (s.in_w + 2 * s.pad - c.dilation_w * (s.kernel_w - 1) - 1) / s.stride + 1;
  c.input_zero_point = zx;
  const int32_t depth = s.in_channels * s.kernel_h * s.kernel_w;
  std::vector<int8_t> x(size_t(s.batch) * s.in_channels * s.in_h * s.in_w), w(size_t(s.out_channels) * depth);
  for (auto& v : x) v = code();
  for (auto& v : w) v = code();
  std::vector<int32_t> bias(size_t(s.out_channels)), mult(bias.size()), shift(bias.size());
  int32_t half_log2_k = 0;
  while ((int64_t{1} << (2 * (half_log2_k + 1))) <= depth) ++half_log2_k;
  for (size_t i = 0; i < bias.size(); ++i) {
    bias[i] = std::uniform_int_distribution<int>(-5000, 5000)(rng);
    mult[i] = std::uniform_int_distribution<int32_t>(1 << 30, 0x7fffffff)(rng);
    shift[i] = -7 - half_log2_k - std::uniform_int_distribution<int>(0, 2)(rng);
  }
  c.requant = ref::RequantParams{mult.data(), shift.data(), s.out_channels, static_cast<int32_t>(seed % 11) - 5,
                                 -128, 127};
  std::vector<int8_t> want(size_t(s.batch) * s.out_channels * c.out_h * c.out_w), got(want.size(), 0x5a);
  ref::Conv2D<int8_t>(c, x.data(), w.data(), bias.data(), want.data());
  std::vector<int8_t> reordered(w.size());  // as prepare packs it (qs8_gemm.h: the patch matrix's depth order)
  portable::ReorderConvWeights(c, w.data(), reordered.data());
  portable::Qs8GemmProblem problem;
  problem.units = s.out_channels;
  problem.depth = depth;
  problem.w = reordered.data();
  problem.bias = bias.data();
  problem.input_zero_point = zx;
  problem.requant = c.requant;
  std::vector<PreparePools::Line> block((portable::Qs8GemmPackedLayout(kernel, s.out_channels, depth).total + 63) / 64);
  portable::PackQs8Gemm(kernel, problem, block.data());
  portable::Qs8GemmParams g;
  portable::BindQs8Gemm(kernel, problem, block.data(), &g);
  g.rows = c.out_h * c.out_w;
  if (pool != nullptr) g.parallel = portable::Qs8Parallel{&ThreadPool::RunOn, pool, pool->threads(), 1};
  std::vector<PreparePools::Line> scratch(portable::Qs8Conv2DScratchBytes(kernel, c) / 64 + 1);
  std::memset(scratch.data(), 0xa5, scratch.size() * sizeof(scratch[0]));  // garbage: all of it is written first
  g.scratch = scratch.data();
  portable::Qs8Conv2D(kernel, g, c, x.data(), got.data(), transpose);
  int64_t interior = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(int{got[i]}, int{want[i]}) << kernel.name << " conv seed " << seed << " zx " << zx << ": first difference at "
                                         << i;
    if (got[i] != want[i]) return interior;
    interior += want[i] > -128 && want[i] < 127;
  }
  return interior;
}

TEST_P(GemmTest, Conv2DEqualsTheReference) {
  Interior in;
  uint32_t seed = 60;
  const ConvShape shapes[] = {
      {1, 1, 1, 1, 1, 1, 1, 1, 1, 0},     {2, 3, 7, 9, 5, 3, 3, 1, 1, 1},     {1, 16, 14, 14, 33, 3, 3, 1, 1, 1},
      {1, 8, 15, 13, 17, 3, 3, 2, 1, 1},  {3, 5, 9, 9, 65, 1, 1, 1, 1, 0},    {1, 4, 11, 12, 31, 5, 5, 1, 2, 3},
      {1, 32, 7, 7, 64, 3, 3, 1, 1, 1},   {1, 1, 28, 28, 16, 3, 3, 1, 1, 1},  {2, 7, 5, 6, 9, 5, 3, 3, 1, 2},
      {1, 3, 4, 4, 8, 3, 3, 1, 1, 4},     {1, 2, 3, 3, 129, 2, 2, 1, 1, 0},   {1, 64, 4, 4, 16, 1, 1, 2, 1, 0},
      {1, 3, 9, 10, 4, 3, 3, 1, 2, 2},    {1, 32, 14, 14, 32, 3, 3, 1, 1, 0}, {1, 2, 3, 2, 3, 3, 3, 1, 1, 1},
      {1, 32, 14, 14, 32, 3, 3, 1, 1, 1}, {1, 16, 28, 28, 32, 3, 3, 2, 1, 1}, {2, 1, 5, 5, 3, 1, 1, 1, 1, 0},
      {1, 17, 6, 5, 7, 1, 3, 1, 1, 1},    {1, 9, 6, 7, 5, 3, 1, 2, 1, 1},     {2, 33, 3, 5, 40, 1, 1, 1, 1, 0},
      // kernel_w·in_channels a multiple of 4 with dilation_w = 1: the AVX-512 tiles read the patch
      // rows in place (Qs8ConvRows): one group per kernel row, 1 × 3 and 3 × 1 kernels, one input
      // channel (a patch conv), strides that skip rows and columns, dilation in height only,
      // padding wider than the kernel, output rows across tile and panel edges, two images.
      {1, 2, 5, 6, 3, 3, 2, 1, 1, 0},     {1, 4, 9, 9, 5, 1, 3, 1, 1, 1},     {1, 4, 8, 7, 6, 3, 1, 1, 1, 1},
      {1, 1, 28, 28, 64, 4, 4, 4, 1, 0},  {1, 1, 13, 11, 33, 3, 4, 3, 1, 2},  {1, 12, 10, 11, 40, 3, 3, 3, 1, 2},
      {1, 8, 9, 10, 31, 3, 3, 1, 2, 1, 1}, {2, 16, 5, 7, 97, 3, 3, 2, 3, 2, 1}, {1, 64, 6, 5, 96, 3, 3, 1, 1, 1},
      {1, 4, 3, 3, 8, 1, 5, 1, 1, 4},     {2, 32, 4, 4, 32, 2, 2, 2, 1, 0},   {1, 8, 17, 3, 16, 5, 1, 1, 1, 2},
      // 8 output positions (one whole tile), 9 (the last tile moved back 7 rows) and 7 (fewer than
      // kConvTilesMinRows: im2col).
      {1, 4, 2, 4, 9, 3, 3, 1, 1, 1},     {1, 4, 3, 3, 9, 3, 3, 1, 1, 1},     {1, 4, 1, 7, 9, 3, 3, 1, 1, 1},
  };
  for (const ConvShape& s : shapes)
    for (int32_t zx : {-128, 5, 127}) {
      const int32_t dilation_w = s.dilation_w != 0 ? s.dilation_w : s.dilation;
      const int64_t outputs = int64_t{s.batch} * s.out_channels *
                              ((s.in_h + 2 * s.pad - s.dilation * (s.kernel_h - 1) - 1) / s.stride + 1) *
                              ((s.in_w + 2 * s.pad - dilation_w * (s.kernel_w - 1) - 1) / s.stride + 1);
      in.Add(CheckConv(kernel(), portable::TransposeBytesFor(GetParam().isa), s, zx, seed++), outputs);
      if (HasFailure()) return;
    }
  EXPECT_GT(in.inside, in.total / 2);
}

// Split over threads: the patch rows (or, with few positions, the panels) shared out, the
// same codes as the reference.
TEST_P(GemmTest, Conv2DSplitOverThreadsEqualsTheReference) {
  uint32_t seed = 160;
  const ConvShape shapes[] = {{1, 16, 14, 14, 33, 3, 3, 1, 1, 1}, {2, 3, 7, 9, 5, 3, 3, 1, 1, 1},
                              {1, 1, 28, 28, 64, 4, 4, 4, 1, 0},  {1, 64, 6, 5, 96, 3, 3, 1, 1, 1},
                              {1, 2, 3, 3, 129, 2, 2, 1, 1, 0},   {3, 5, 9, 9, 65, 1, 1, 1, 1, 0}};
  for (int32_t threads : {2, 3}) {
    ThreadPool pool;
    ASSERT_TRUE(pool.Start(threads).ok());
    for (const ConvShape& s : shapes) {
      CheckConv(kernel(), portable::TransposeBytesFor(GetParam().isa), s, -7, seed++, &pool);
      if (HasFailure()) return;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, GemmTest, ::testing::ValuesIn(Kernels()),
                         [](const ::testing::TestParamInfo<KernelCase>& i) { return KernelCaseName(i.param); });

// ---- Dispatch ------------------------------------------------------------------------------

// Sets SQUINT_ISA for the scope (unset when `value` is null), restoring the old value after.
class ScopedIsaEnv {
 public:
  explicit ScopedIsaEnv(const char* value) {
    const char* old = std::getenv("SQUINT_ISA");
    if (old != nullptr) old_ = old;
    if (value != nullptr) setenv("SQUINT_ISA", value, 1);
    else unsetenv("SQUINT_ISA");
  }
  ~ScopedIsaEnv() {
    if (old_) setenv("SQUINT_ISA", old_->c_str(), 1);
    else unsetenv("SQUINT_ISA");
  }

 private:
  std::optional<std::string> old_;
};

#if defined(SQUINT_X86_KERNELS)
// avx512vnni's choice between its VNNI and AMX kernels: AMX from depth 256, or from depth 64 over
// 128 rows or more (pointwise convolutions over many positions); VNNI for small products.
TEST(Dispatch, AmxTakesDeepOrManyRowGemms) {
  if (!AmxSupported()) GTEST_SKIP() << "no AMX";
  const Qs8GemmKernel* amx = &x86::kQs8Gemm32x32c4Amx;
  EXPECT_EQ(portable::Qs8GemmKernelFor(Isa::kAvx512Vnni, 256, 1), amx);
  EXPECT_EQ(portable::Qs8GemmKernelFor(Isa::kAvx512Vnni, 240, 960), amx);
  EXPECT_EQ(portable::Qs8GemmKernelFor(Isa::kAvx512Vnni, 64, 128), amx);
  EXPECT_NE(portable::Qs8GemmKernelFor(Isa::kAvx512Vnni, 63, 960), amx);
  EXPECT_NE(portable::Qs8GemmKernelFor(Isa::kAvx512Vnni, 192, 127), amx);
  EXPECT_NE(portable::Qs8GemmKernelFor(Isa::kAvx512Vnni, 192, 0), amx);
}
#endif

TEST(Dispatch, NamesRoundTrip) {
  for (Isa isa : {Isa::kReference, Isa::kAvx2, Isa::kAvx512Vnni, Isa::kNeon, Isa::kNeonDot}) {
    Isa parsed = Isa::kAuto;
    ASSERT_TRUE(ParseIsa(IsaName(isa), &parsed));
    EXPECT_EQ(parsed, isa);
  }
  Isa parsed = Isa::kAuto;
  EXPECT_FALSE(ParseIsa("auto", &parsed));
  EXPECT_FALSE(ParseIsa("AVX2", &parsed));
  EXPECT_FALSE(ParseIsa("neon_dot", &parsed));
  EXPECT_FALSE(ParseIsa(nullptr, &parsed));
}

#if defined(SQUINT_X86_KERNELS)
// The runtime reads CPUID and XGETBV itself (dispatch.cc); GCC's __builtin_cpu_supports (libgcc's
// CPU model, the same rules) must agree on this machine.
TEST(Dispatch, X86FeaturesAgreeWithTheCompilersOwnDetection) {
  __builtin_cpu_init();
  EXPECT_EQ(IsaSupported(Isa::kAvx2), __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"));
  EXPECT_EQ(IsaSupported(Isa::kAvx512Vnni), __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                                                __builtin_cpu_supports("avx512vl") &&
                                                __builtin_cpu_supports("avx512vnni"));
  EXPECT_EQ(Avx512VbmiSupported(), IsaSupported(Isa::kAvx512Vnni) && __builtin_cpu_supports("avx512vbmi") &&
                                       __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma"));
}
#endif

TEST(Dispatch, AutoPicksTheBestSupportedAndTheEnvironmentOverrides) {
  Isa got = Isa::kAuto;
  {
    ScopedIsaEnv env(nullptr);
    ASSERT_TRUE(ResolveIsa(Isa::kAuto, &got).ok());
    Isa best = Isa::kReference;
    for (Isa isa : kOptimizedSets)
      if (best == Isa::kReference && IsaSupported(isa)) best = isa;
    EXPECT_EQ(got, best);
#if defined(__aarch64__)
    EXPECT_TRUE(IsaSupported(Isa::kNeon));  // Advanced SIMD is part of every aarch64 CPU
    EXPECT_NE(got, Isa::kReference);
#endif
  }
  {
    ScopedIsaEnv env("reference");
    ASSERT_TRUE(ResolveIsa(Isa::kAuto, &got).ok());
    EXPECT_EQ(got, Isa::kReference);
    for (Isa isa : kOptimizedSets)
      if (IsaSupported(isa)) {  // an explicit choice wins over the environment
        ASSERT_TRUE(ResolveIsa(isa, &got).ok());
        EXPECT_EQ(got, isa);
      }
  }
  {
    ScopedIsaEnv env("sse4");
    const Status s = ResolveIsa(Isa::kAuto, &got);
    ASSERT_FALSE(s.ok());
    EXPECT_STREQ(s.message(),
                 "SQUINT_ISA='sse4' is not an instruction set; expected reference, avx2, avx512vnni, neon or neondot");
  }
}

TEST(Dispatch, ForcingAMissingSetIsAnErrorAtPrepare) {
  for (Isa isa : kOptimizedSets) {
    Isa got = Isa::kAuto;
    const Status s = ResolveIsa(isa, &got);
    EXPECT_EQ(s.ok(), IsaSupported(isa)) << IsaName(isa);
    if (!s.ok()) {
      EXPECT_EQ(std::string(s.message()).rfind(std::string("instruction set '") + IsaName(isa) + "'", 0), 0u)
          << s.message();
    }
  }
  // The other architecture's sets: never supported, and the error says why.
#if defined(__x86_64__) || defined(__aarch64__)
  for (Isa isa : kOptimizedSets) {
#if defined(__x86_64__)
    if (IsX86(isa)) continue;
    const char* why = "this build has no aarch64 kernels";
#else
    if (!IsX86(isa)) continue;
    const char* why = "this build has no x86-64 kernels";
#endif
    EXPECT_FALSE(IsaSupported(isa)) << IsaName(isa);
    EXPECT_EQ(portable::Qs8GemmKernelFor(isa), nullptr) << IsaName(isa);
    Isa got = Isa::kAuto;
    const Status s = ResolveIsa(isa, &got);
    EXPECT_EQ(std::string(s.message()),
              std::string("instruction set '") + IsaName(isa) + "' (requested) is not available: " + why);
  }
#endif
}

// ---- Through the interpreter: packing at prepare, scratch, binding after the pools are final --

using testing::AlignedBytes;
using testing::SqntBuilder;

// Two FULLY_CONNECTED layers (per-channel, then per-tensor without bias) of odd sizes.
AlignedBytes BuildTwoFc(int32_t rows, int32_t depth, int32_t hidden, int32_t units) {
  std::mt19937 rng(5);
  auto codes = [&](size_t n) {
    std::vector<int8_t> v(n);
    for (auto& c : v) c = static_cast<int8_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
    return v;
  };
  SqntBuilder b;
  const int x = b.Activation("x", fb::ElementType::INT8, {rows, depth}, 0.1f, 3);
  const int w1 = b.Constant<int8_t>("w1", fb::ElementType::INT8, {hidden, depth}, codes(size_t(hidden) * depth),
                                    std::vector<float>(hidden, 0.01f), std::vector<int32_t>(hidden, 0), 0);
  std::vector<int32_t> bias(hidden);
  for (auto& v : bias) v = std::uniform_int_distribution<int>(-20000, 20000)(rng);
  const int b1 = b.Constant<int32_t>("b1", fb::ElementType::INT32, {hidden}, bias, {0.001f}, {0});
  const int h = b.Activation("h", fb::ElementType::INT8, {rows, hidden}, 0.2f, -9);
  const int w2 = b.Constant<int8_t>("w2", fb::ElementType::INT8, {units, hidden}, codes(size_t(units) * hidden),
                                    {0.02f}, {0});
  const int y = b.Activation("y", fb::ElementType::INT8, {rows, units}, 0.3f, 4);
  std::vector<int32_t> m1(hidden), s1(hidden);
  for (int i = 0; i < hidden; ++i) {
    m1[i] = (1 << 30) + i * 977;
    s1[i] = -9 - i % 3;
  }
  b.Op(fb::OpCode::FULLY_CONNECTED, "fc1", {x, w1, b1}, {h}, fb::OpOptions::FullyConnectedOptions,
       fb::CreateFullyConnectedOptions(b.fbb(), b.Requant(m1, s1, -9, 127)).Union());
  b.Op(fb::OpCode::FULLY_CONNECTED, "fc2", {h, w2}, {y}, fb::OpOptions::FullyConnectedOptions,
       fb::CreateFullyConnectedOptions(b.fbb(), b.Requant({1518500250}, {-10}, -128, 127)).Union());
  b.Inputs({x});
  b.Outputs({y});
  return b.Finish();
}

// BATCH_MATMUL with broadcast batch dims: a [2, H, M, K] · b [H, K, N] → y [2, H, M, N], both
// operands inputs of the model.
struct BmmShape {
  int32_t heads, m, k, n, shift;  // shift: the requantization's (outputs mostly inside int8)
};
AlignedBytes BuildBatchMatMul(const BmmShape& d) {
  SqntBuilder b;
  const int a = b.Activation("a", fb::ElementType::INT8, {2, d.heads, d.m, d.k}, 0.1f, -100);
  const int bt = b.Activation("b", fb::ElementType::INT8, {d.heads, d.k, d.n}, 0.05f, 17);
  const int y = b.Activation("y", fb::ElementType::INT8, {2, d.heads, d.m, d.n}, 0.4f, -3);
  b.Op(fb::OpCode::BATCH_MATMUL, "bmm", {a, bt}, {y}, fb::OpOptions::BatchMatMulOptions,
       fb::CreateBatchMatMulOptions(b.fbb(), b.Requant({1276901417}, {d.shift})).Union());
  b.Inputs({a, bt});
  b.Outputs({y});
  return b.Finish();
}

// Runs the model on `isa` with inputs `xs` (in order, as bytes); returns output 0's bytes (and the bytes
// prepare made for the optimized kernels in `prepared_bytes`, if given).
std::vector<int8_t> RunModel(const AlignedBytes& file, Isa isa, const std::vector<std::vector<int8_t>>& xs,
                             Isa* used, int32_t threads = 1, size_t* prepared_bytes = nullptr) {
  Model model;
  Interpreter interp;
  EXPECT_TRUE(model.Load(file.data(), file.size()).ok());
  const Status s = interp.Prepare(&model, isa, threads);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return {};
  *used = interp.isa();
  if (prepared_bytes != nullptr) *prepared_bytes = interp.prepared_bytes();
  std::vector<PreparePools::Line> arena(interp.arena_size() / 64 + 1);
  EXPECT_TRUE(interp.SetArena(arena.data(), arena.size() * 64).ok());
  for (size_t i = 0; i < xs.size(); ++i) std::memcpy(interp.mutable_tensor_data(model.inputs()[i]), xs[i].data(), xs[i].size());
  EXPECT_TRUE(interp.Invoke().ok());
  const auto* y = static_cast<const int8_t*>(interp.tensor_data(model.outputs()[0]));
  return std::vector<int8_t>(y, y + model.tensor(model.outputs()[0]).bytes);  // int16 outputs: their bytes
}

TEST(Dispatch, InterpreterGivesTheReferenceCodesOnEverySet) {
  const int32_t rows = 13, depth = 77, hidden = 45, units = 19;
  const AlignedBytes file = BuildTwoFc(rows, depth, hidden, units);
  std::mt19937 rng(8);
  std::vector<int8_t> x(size_t(rows) * depth);
  for (auto& c : x) c = static_cast<int8_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
  Isa used = Isa::kAuto;
  const std::vector<int8_t> want = RunModel(file, Isa::kReference, {x}, &used);
  ASSERT_EQ(want.size(), size_t(rows) * units);
  EXPECT_EQ(used, Isa::kReference);
  for (Isa isa : kOptimizedSets) {
    if (!IsaSupported(isa)) continue;
    EXPECT_EQ(RunModel(file, isa, {x}, &used), want) << IsaName(isa);
    EXPECT_EQ(used, isa);
    EXPECT_EQ(RunModel(file, isa, {x}, &used, 3), want) << IsaName(isa) << ", 3 threads";
  }
}

// A small product (every product one GEMM on the calling thread), and 12 products of 48 × 100 × 48
// (estimated 14 µs: shared out over 2 and 3 threads by product, products 4 and 8 starting the
// parts on 3, each part packing into its own scratch slot).
TEST(Dispatch, InterpreterBatchMatMulWithBroadcastEqualsTheReference) {
  for (const BmmShape d : {BmmShape{3, 5, 37, 19, -9}, BmmShape{6, 48, 100, 48, -11}}) {
    const AlignedBytes file = BuildBatchMatMul(d);
    std::mt19937 rng(9);
    const size_t outputs = size_t{2} * d.heads * d.m * d.n;
    const std::vector<std::vector<int8_t>> xs = {ref::testing::RandomCodes<int8_t>(rng, size_t{2} * d.heads * d.m * d.k),
                                                  ref::testing::RandomCodes<int8_t>(rng, size_t(d.heads) * d.k * d.n)};
    Isa used = Isa::kAuto;
    const std::vector<int8_t> want = RunModel(file, Isa::kReference, xs, &used);
    ASSERT_EQ(want.size(), outputs);
    size_t interior = 0;
    for (int8_t v : want) interior += v > -128 && v < 127;
    EXPECT_GT(interior, outputs / 2);
    for (Isa isa : kOptimizedSets) {
      if (!IsaSupported(isa)) continue;
      EXPECT_EQ(RunModel(file, isa, xs, &used), want) << IsaName(isa);
      for (int32_t threads : {2, 3})
        EXPECT_EQ(RunModel(file, isa, xs, &used, threads), want) << IsaName(isa) << ", " << threads << " threads";
    }
  }
}

// ADD (no broadcast) → LAYER_NORM → LUT on [256, 1024]: each op's estimated time (items ×
// item_ps) is above 3 × the interpreter's kMinPartPicoseconds, so on 2 and 3 threads their
// elements and rows are shared out (PreparedOp::run_items).
AlignedBytes BuildItemsChain() {
  constexpr int32_t kRows = 256, kChannels = 1024;
  std::mt19937 rng(12);
  SqntBuilder b;
  const int x1 = b.Activation("x1", fb::ElementType::INT8, {kRows, kChannels}, 0.1f, 3);
  const int x2 = b.Activation("x2", fb::ElementType::INT8, {kRows, kChannels}, 0.05f, -7);
  const int h = b.Activation("h", fb::ElementType::INT8, {kRows, kChannels}, 0.12f, 1);
  const int g = b.Activation("g", fb::ElementType::INT8, {kRows, kChannels}, 0.03f, -2);
  const int y = b.Activation("y", fb::ElementType::INT8, {kRows, kChannels}, 0.03f, 0);
  b.Op(fb::OpCode::ADD, "add", {x1, x2}, {h}, fb::OpOptions::ElementwiseOptions,
       fb::CreateElementwiseOptions(b.fbb(), 20, b.Requant({1431655765}, {-1}), b.Requant({1431655765}, {-2}),
                                    b.Requant({1 << 30}, {-19}))
           .Union());
  std::vector<int32_t> gamma(kChannels), beta(kChannels);
  for (auto& v : gamma) v = std::uniform_int_distribution<int>(200, 4000)(rng);
  for (auto& v : beta) v = std::uniform_int_distribution<int>(-50000, 50000)(rng);
  b.Op(fb::OpCode::LAYER_NORM, "ln", {h}, {g}, fb::OpOptions::LayerNormOptions,
       fb::CreateLayerNormOptionsDirect(b.fbb(), 12, 1 << 10, &gamma, &beta, b.Requant({1 << 30}, {-16})).Union());
  std::vector<int16_t> table(256);
  for (int i = 0; i < 256; ++i)
    table[i] = static_cast<int16_t>(std::clamp((i - 128) * (i - 128) / 64 - 100, -128, 127));
  b.Op(fb::OpCode::LUT, "square", {g}, {y}, fb::OpOptions::LutOptions,
       fb::CreateLutOptionsDirect(b.fbb(), -128, &table).Union());
  b.Inputs({x1, x2});
  b.Outputs({y});
  return b.Finish();
}

// SOFTMAX of x [4, 16, 512], input step 0.3 (rows peaked enough for a few dozen output codes),
// with or without a run-time int32 mask [4, 1, 512] (a keep byte per element, rebuilt per
// batch): 64 rows of 512 bytes (estimated 13 µs), split at rows that are not batch boundaries
// on 3 threads.
AlignedBytes BuildSoftmax(bool masked) {
  SqntBuilder b;
  const int x = b.Activation("x", fb::ElementType::INT8, {4, 16, 512}, 0.3f, 0);
  const int m = masked ? b.Activation("m", fb::ElementType::INT32, {4, 1, 512}, 1.0f, 0) : -1;
  const int y = b.Activation("y", fb::ElementType::INT8, {4, 16, 512}, 1.0f / 256, -128);
  const std::vector<int32_t> exp_table = squint::quant_math::BuildSoftmaxExpTable(0.3f, 24);
  b.Op(fb::OpCode::SOFTMAX, "softmax", masked ? std::vector<int32_t>{x, m} : std::vector<int32_t>{x}, {y},
       fb::OpOptions::SoftmaxOptions, fb::CreateSoftmaxOptionsDirect(b.fbb(), &exp_table, 24).Union());
  b.Inputs(masked ? std::vector<int32_t>{x, m} : std::vector<int32_t>{x});
  b.Outputs({y});
  return b.Finish();
}

// REQUANTIZE from `tx` to `ty` over n elements (the reference's codes tabulated per input code on
// the optimized sets; an int16 input on avx512vnni by x86::Qs16RequantizeAvx512): every input
// code once, then random ones.
AlignedBytes BuildRequantize(fb::ElementType tx, fb::ElementType ty, int32_t n, int32_t multiplier, int32_t shift) {
  auto range = [](fb::ElementType t) {
    return t == fb::ElementType::INT8 ? std::pair{-128, 127} : t == fb::ElementType::UINT8 ? std::pair{0, 255}
                                                                                          : std::pair{-32768, 32767};
  };
  SqntBuilder b;
  const int32_t zx = tx == fb::ElementType::INT16 ? 5 : tx == fb::ElementType::UINT8 ? 131 : -7;
  const int32_t zy = ty == fb::ElementType::INT16 ? 0 : ty == fb::ElementType::UINT8 ? 120 : 3;
  const int x = b.Activation("x", tx, {n}, 0.1f, zx);
  const int y = b.Activation("y", ty, {n}, 0.1f, zy);
  b.Op(fb::OpCode::REQUANTIZE, "rq", {x}, {y}, fb::OpOptions::RequantizeOptions,
       fb::CreateRequantizeOptions(b.fbb(), b.Requant({multiplier}, {shift}, range(ty).first, range(ty).second)).Union());
  b.Inputs({x});
  b.Outputs({y});
  return b.Finish();
}

TEST(Dispatch, RequantizeOnEverySetGivesTheReferenceCodes) {
  const fb::ElementType types[] = {fb::ElementType::INT8, fb::ElementType::UINT8, fb::ElementType::INT16};
  std::mt19937 rng(12);
  for (fb::ElementType tx : types)
    for (fb::ElementType ty : types) {
      const bool wide_in = tx == fb::ElementType::INT16;
      const int32_t codes = wide_in ? 65536 : 256, n = codes + 3001;
      // int8 → int16 scales up (shift 8), int16 → 8-bit down (shift −8): outputs spread over the range.
      const bool wide_out = ty == fb::ElementType::INT16;
      const int32_t shift = wide_out && !wide_in ? 8 : !wide_out && wide_in ? -8 : 0;
      const AlignedBytes file = BuildRequantize(tx, ty, n, 1518500250, shift);
      std::vector<int8_t> bytes(size_t(n) * (wide_in ? 2 : 1));
      for (int32_t i = 0; i < n; ++i) {
        const int32_t code = i < codes ? i : std::uniform_int_distribution<int32_t>(0, codes - 1)(rng);
        if (wide_in) {
          const auto v = static_cast<int16_t>(code - 32768);
          std::memcpy(bytes.data() + 2 * size_t(i), &v, 2);
        } else {
          bytes[size_t(i)] = static_cast<int8_t>(code);
        }
      }
      const std::string what = std::string(fb::EnumNameElementType(tx)) + " -> " + fb::EnumNameElementType(ty);
      Isa used = Isa::kAuto;
      size_t prepared = 0;
      const std::vector<int8_t> want = RunModel(file, Isa::kReference, {bytes}, &used);
      ASSERT_FALSE(want.empty()) << what;
      EXPECT_GT(std::set<int8_t>(want.begin(), want.end()).size(), 100u) << what;  // not saturated
      for (Isa isa : kOptimizedSets) {
        if (!IsaSupported(isa)) continue;
        EXPECT_EQ(RunModel(file, isa, {bytes}, &used, 1, &prepared), want) << what << ", " << IsaName(isa);
        // (An int16 input on avx512vnni: its vector kernel, no table.)
        if (!(wide_in && isa == Isa::kAvx512Vnni)) {
          EXPECT_GE(prepared, size_t(codes)) << what << ", " << IsaName(isa) << ": no table, the reference kernel ran";
        }
        EXPECT_EQ(RunModel(file, isa, {bytes}, &used, 3), want) << what << ", " << IsaName(isa) << ", 3 threads";
      }
    }
}

// ---- RESIZE (nearest), CONCAT with requantized inputs, CONV_TRANSPOSE_2D with stride = kernel ----

// Every optimized set, on 1 and 3 threads, gives the reference's bytes for the model of `file`
// on random input bytes (`input_bytes` per input).
void ExpectReferenceBytesOnEverySet(const AlignedBytes& file, const std::vector<size_t>& input_bytes,
                                    const std::string& what, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::vector<int8_t>> xs;
  for (size_t n : input_bytes) xs.push_back(ref::testing::RandomCodes<int8_t>(rng, n));
  Isa used = Isa::kAuto;
  const std::vector<int8_t> want = RunModel(file, Isa::kReference, xs, &used);
  ASSERT_FALSE(want.empty()) << what;
  for (Isa isa : kOptimizedSets) {
    if (!IsaSupported(isa)) continue;
    EXPECT_EQ(RunModel(file, isa, xs, &used), want) << what << ", " << IsaName(isa);
    EXPECT_EQ(RunModel(file, isa, xs, &used, 3), want) << what << ", " << IsaName(isa) << ", 3 threads";
  }
}

// RESIZE in nearest mode: every coordinate and nearest mode, up- and down-sampling, int8, uint8 and
// int16 codes with and without a requantization (int16 with one keeps the reference kernel).
TEST(Dispatch, ResizeNearestGivesTheReferenceCodes) {
  for (fb::ElementType t : {fb::ElementType::INT8, fb::ElementType::UINT8, fb::ElementType::INT16})
    for (int32_t coordinate = 0; coordinate < 4; ++coordinate)
      for (int32_t nearest = 0; nearest < 4; ++nearest)
        for (bool identity : {true, false}) {
          const std::vector<int32_t> in = {2, 3, 5, 7}, out = {2, 3, coordinate % 2 ? 3 : 11, 2 + 5 * nearest};
          SqntBuilder b;
          const int32_t zx = t == fb::ElementType::UINT8 ? 120 : t == fb::ElementType::INT16 ? 0 : -5;
          const int x = b.Activation("x", t, in, 0.1f, zx);
          const int y = b.Activation("y", t, out, identity ? 0.1f : 0.13f, identity ? zx : zx + 2);
          const int32_t lo = t == fb::ElementType::UINT8 ? 0 : t == fb::ElementType::INT16 ? -32768 : -128;
          const int32_t hi = t == fb::ElementType::UINT8 ? 255 : t == fb::ElementType::INT16 ? 32767 : 127;
          // M = 0.1/0.13 (or 1: 2^30 with shift 1)
          auto requant = identity ? b.Requant({1 << 30}, {1}, lo, hi) : b.Requant({1651910498}, {0}, lo, hi);
          b.Op(fb::OpCode::RESIZE, "resize", {x}, {y}, fb::OpOptions::ResizeOptions,
               fb::CreateResizeOptions(b.fbb(), 0, static_cast<int8_t>(coordinate), static_cast<int8_t>(nearest), requant)
                   .Union());
          b.Inputs({x});
          b.Outputs({y});
          const size_t bytes = size_t{2 * 3 * 5 * 7} * (t == fb::ElementType::INT16 ? 2 : 1);
          ExpectReferenceBytesOnEverySet(b.Finish(), {bytes},
                                         std::string("resize ") + fb::EnumNameElementType(t) + " coordinate " +
                                             std::to_string(coordinate) + " nearest " + std::to_string(nearest) +
                                             (identity ? " identity" : " requantized"),
                                         static_cast<uint32_t>(coordinate * 4 + nearest));
        }
}

// CONCAT of int8 and uint8 codes along each axis, one input with the output's parameters (copied)
// and two requantized (looked up).
TEST(Dispatch, ConcatWithRequantizedInputsGivesTheReferenceCodes) {
  for (fb::ElementType t : {fb::ElementType::INT8, fb::ElementType::UINT8})
    for (int32_t axis = 0; axis < 3; ++axis) {
      SqntBuilder b;
      const bool u8 = t == fb::ElementType::UINT8;
      std::vector<int32_t> shape = {2, 3, 4}, out_shape = shape;
      out_shape[static_cast<size_t>(axis)] *= 3;
      const int a = b.Activation("a", t, shape, 0.1f, u8 ? 128 : 0);
      const int c = b.Activation("c", t, shape, 0.05f, u8 ? 100 : -7);
      const int d = b.Activation("d", t, shape, 0.3f, u8 ? 3 : 20);
      const int y = b.Activation("y", t, out_shape, 0.1f, u8 ? 128 : 0);
      const int32_t lo = u8 ? 0 : -128, hi = u8 ? 255 : 127;
      std::vector<flatbuffers::Offset<fb::Requantization>> rq = {b.Requant({1 << 30}, {1}, lo, hi),
                                                                 b.Requant({1 << 30}, {0}, lo, hi),
                                                                 b.Requant({1610612736}, {2}, lo, hi)};
      b.Op(fb::OpCode::CONCAT, "concat", {a, c, d}, {y}, fb::OpOptions::ConcatOptions,
           fb::CreateConcatOptionsDirect(b.fbb(), axis, &rq).Union());
      b.Inputs({a, c, d});
      b.Outputs({y});
      ExpectReferenceBytesOnEverySet(b.Finish(), {24, 24, 24},
                                     std::string("concat ") + fb::EnumNameElementType(t) + " axis " + std::to_string(axis),
                                     static_cast<uint32_t>(axis));
    }
}

// CONV_TRANSPOSE_2D with stride = kernel: 2×2 and 3×2 kernels, begin and end pads, per-channel
// and per-tensor requantization, with and without bias, a batch of 2 (one GEMM over the input's
// positions; the other geometries keep the reference kernel).
TEST(Dispatch, ConvTransposeWithStrideEqualToKernelGivesTheReferenceCodes) {
  struct Geometry {
    int32_t kh, kw, pad_top, pad_left, pad_bottom, pad_right;
    bool per_channel, bias;
  };
  for (const Geometry g : {Geometry{2, 2, 0, 0, 0, 0, true, true}, Geometry{3, 2, 1, 0, 2, 1, false, true},
                           Geometry{2, 2, 1, 1, 0, 0, true, false}}) {
    const int32_t cin = 5, cout = 6, h = 4, w = 7;
    const int32_t oh = g.kh * h - g.pad_top - g.pad_bottom, ow = g.kw * w - g.pad_left - g.pad_right;
    std::mt19937 rng(static_cast<uint32_t>(g.kh * 10 + g.pad_top));
    SqntBuilder b;
    const int x = b.Activation("x", fb::ElementType::INT8, {2, cin, h, w}, 0.1f, 3);
    const int wt = b.Constant<int8_t>("w", fb::ElementType::INT8, {cout, cin, g.kh, g.kw},
                                      ref::testing::RandomCodes<int8_t>(rng, size_t(cout * cin * g.kh * g.kw)),
                                      std::vector<float>(size_t(cout), 0.01f), std::vector<int32_t>(size_t(cout), 0), 0);
    std::vector<int32_t> in = {x, wt};
    if (g.bias) {
      std::vector<int32_t> bias(static_cast<size_t>(cout));
      for (auto& v : bias) v = std::uniform_int_distribution<int>(-5000, 5000)(rng);
      in.push_back(b.Constant<int32_t>("b", fb::ElementType::INT32, {cout}, bias, {0.001f}, {0}));
    }
    const int y = b.Activation("y", fb::ElementType::INT8, {2, cout, oh, ow}, 0.2f, -4);
    std::vector<int32_t> mult(g.per_channel ? size_t(cout) : 1), shift(mult.size());
    for (size_t i = 0; i < mult.size(); ++i) mult[i] = (1 << 30) + int32_t(i) * 99991, shift[i] = -6 - int32_t(i % 2);
    const std::vector<int32_t> stride = {g.kh, g.kw}, pads = {g.pad_top, g.pad_left, g.pad_bottom, g.pad_right};
    b.Op(fb::OpCode::CONV_TRANSPOSE_2D, "up", in, {y}, fb::OpOptions::Conv2DOptions,
         fb::CreateConv2DOptionsDirect(b.fbb(), &stride, nullptr, &pads, 1, b.Requant(mult, shift, -128, 127)).Union());
    b.Inputs({x});
    b.Outputs({y});
    const AlignedBytes file = b.Finish();
    ExpectReferenceBytesOnEverySet(file, {size_t(2 * cin * h * w)},
                                   "conv transpose " + std::to_string(g.kh) + "x" + std::to_string(g.kw) + " pads " +
                                       std::to_string(g.pad_top) + std::to_string(g.pad_left) +
                                       std::to_string(g.pad_bottom) + std::to_string(g.pad_right),
                                   7);
    for (Isa isa : kOptimizedSets) {  // the fast path ran: it packs the weight
      if (!IsaSupported(isa)) continue;
      Isa used = Isa::kAuto;
      size_t prepared = 0;
      RunModel(file, isa, {std::vector<int8_t>(size_t(2 * cin * h * w), 1)}, &used, 1, &prepared);
      EXPECT_GE(prepared, size_t(cout * cin * g.kh * g.kw)) << IsaName(isa) << ": no packed weight, the reference ran";
    }
  }
}

// One layer with a low-bit weight: FULLY_CONNECTED x [rows, depth] · w [units, depth], or CONV_2D
// (stride 1, pads 1) x [batch, C_in, H, W] · w [units, C_in/groups, 3, 3] (groups dividing C_in
// and units; C_in = units = groups: depthwise); packed int4 (odd numbers of weights: a padding
// nibble) or int8; one scale per output channel, or group scales of `group_size` depth elements;
// int8 activations, or (FC, int16) symmetric int16 ones.
struct LowBitLayer {
  bool conv;
  int32_t rows, depth, units;  // FC: as named; conv: H, C_in, units (W = H + 2)
  int32_t groups = 1;
  int32_t group_size = 0;
  bool int4 = true;
  int32_t batch = 1;  // conv only
  bool int16 = false;
};
AlignedBytes BuildLowBitLayer(const LowBitLayer& d) {
  std::mt19937 rng(static_cast<unsigned>(d.rows * 131 + d.depth * 7 + d.units + d.group_size));
  const int32_t depth = d.conv ? d.depth / d.groups * 9 : d.depth / d.groups;
  std::vector<int8_t> w(size_t(d.units) * depth);
  for (auto& c : w) c = static_cast<int8_t>(d.int4 ? std::uniform_int_distribution<int>(-8, 7)(rng)
                                                   : std::uniform_int_distribution<int>(-127, 127)(rng));
  const int32_t scales_per_unit = d.group_size > 0 ? depth / d.group_size : 1;
  std::vector<float> s_w(size_t(d.units) * scales_per_unit);
  for (auto& v : s_w) v = std::uniform_real_distribution<float>(0.005f, 0.03f)(rng);
  std::vector<int32_t> bias(d.units), mult(d.units), shift(d.units);
  std::vector<uint16_t> multipliers;
  if (d.group_size > 0) {
    const quant_math::GroupScaleParams gp = quant_math::BuildGroupScaleParams(0.1, s_w, d.units, 0.3);
    multipliers = gp.group_multiplier;
    for (int32_t u = 0; u < d.units; ++u) mult[u] = gp.requant[u].multiplier, shift[u] = gp.requant[u].shift;
  } else {
    const std::vector<QuantizedMultiplier> rq = quant_math::BuildChannelRequant(d.int16 ? 0.1 / 256 : 0.1, s_w, 0.3);
    for (int32_t u = 0; u < d.units; ++u) mult[u] = rq[u].multiplier, shift[u] = rq[u].shift;
  }
  for (auto& b : bias) b = std::uniform_int_distribution<int>(-3000, 3000)(rng);
  std::vector<uint8_t> bias_bytes(bias.size() * 4);
  std::memcpy(bias_bytes.data(), bias.data(), bias_bytes.size());
  SqntBuilder b;
  const std::vector<int32_t> x_shape = d.conv ? std::vector<int32_t>{d.batch, d.depth, d.rows, d.rows + 2}
                                              : std::vector<int32_t>{d.rows, d.depth};
  const std::vector<int32_t> w_shape = d.conv ? std::vector<int32_t>{d.units, d.depth / d.groups, 3, 3}
                                              : std::vector<int32_t>{d.units, d.depth / d.groups};
  const std::vector<int32_t> y_shape = d.conv ? std::vector<int32_t>{d.batch, d.units, d.rows, d.rows + 2}
                                              : std::vector<int32_t>{d.rows, d.units};
  const fb::ElementType act = d.int16 ? fb::ElementType::INT16 : fb::ElementType::INT8;
  const int x = b.Activation("x", act, x_shape, d.int16 ? 0.1f / 256 : 0.1f, d.int16 ? 0 : 5);
  const std::vector<uint8_t> w_bytes = d.int4 ? quant_math::PackInt4(w) : std::vector<uint8_t>(w.begin(), w.end());
  const int wt = b.AddTensor("w", d.int4 ? fb::ElementType::INT4 : fb::ElementType::INT8, w_shape, s_w,
                             std::vector<int32_t>(s_w.size(), 0), 0, b.AddBuffer(w_bytes), -1, true, d.group_size);
  const int bt = b.AddTensor("b", fb::ElementType::INT32, {d.units}, {}, {}, -1, b.AddBuffer(bias_bytes), -1, false);
  const int y = b.Activation("y", act, y_shape, 0.3f, d.int16 ? 0 : -2);
  const auto requant = d.int16 ? b.Requant(mult, shift, -32768, 32767) : b.Requant(mult, shift, -128, 127);
  if (d.conv) {
    const std::vector<int32_t> stride = {1, 1}, dilation = {1, 1}, pads = {1, 1, 1, 1};
    b.Op(fb::OpCode::CONV_2D, "conv", {x, wt, bt}, {y}, fb::OpOptions::Conv2DOptions,
         fb::CreateConv2DOptionsDirect(b.fbb(), &stride, &dilation, &pads, d.groups, requant,
                                       d.group_size > 0 ? &multipliers : nullptr)
             .Union());
  } else {
    const auto gm = d.group_size > 0 ? b.fbb().CreateVector(multipliers) : 0;
    b.Op(fb::OpCode::FULLY_CONNECTED, "fc", {x, wt, bt}, {y}, fb::OpOptions::FullyConnectedOptions,
         fb::CreateFullyConnectedOptions(b.fbb(), requant, gm, d.groups).Union());
  }
  b.Inputs({x});
  b.Outputs({y});
  return b.Finish();
}

// One layer on every optimized set, on one thread and three, against the reference kernels; the
// set's prepare must also make packed data (the reference kernels read the model's bytes in place).
void ExpectFastCodesOnEverySet(const LowBitLayer& d) {
  const AlignedBytes file = BuildLowBitLayer(d);
  std::mt19937 rng(10);
  const size_t inputs = (d.conv ? size_t(d.batch) * d.depth * d.rows * (d.rows + 2) : size_t(d.rows) * d.depth) *
                        (d.int16 ? 2 : 1);  // bytes
  const std::vector<std::vector<int8_t>> xs = {ref::testing::RandomCodes<int8_t>(rng, inputs)};
  const std::string what = std::string(d.conv ? "conv" : "fc") + " " + std::to_string(d.rows) + "x" +
                           std::to_string(d.depth) + "x" + std::to_string(d.units) + " groups " +
                           std::to_string(d.groups) + " group size " + std::to_string(d.group_size) +
                           (d.int4 ? " int4" : " int8") + " batch " + std::to_string(d.batch) +
                           (d.int16 ? " int16 activations" : "");
  Isa used = Isa::kAuto;
  size_t ref_prepared = 1, prepared = 0;
  const std::vector<int8_t> want = RunModel(file, Isa::kReference, xs, &used, 1, &ref_prepared);
  ASSERT_FALSE(want.empty()) << what;
  EXPECT_EQ(ref_prepared, 0u) << what;
  std::set<int8_t> distinct(want.begin(), want.end());
  EXPECT_GT(distinct.size(), std::min<size_t>(10, want.size() / 2)) << what;  // not saturated to a few codes
  for (Isa isa : kOptimizedSets) {
    if (!IsaSupported(isa)) continue;
    EXPECT_EQ(RunModel(file, isa, xs, &used, 1, &prepared), want) << what << ", " << IsaName(isa);
    // (int16 activations with an int8 weight read it in place: only the folded bias, int64 a unit.)
    const size_t unit_weights = size_t(d.depth / d.groups) * (d.conv ? 9 : 1);
    EXPECT_GE(prepared, d.int16 && !d.int4 ? size_t(d.units) * 8 : size_t(d.units) * unit_weights)
        << what << ", " << IsaName(isa) << ": no packed data, the reference kernel ran";
    EXPECT_EQ(RunModel(file, isa, xs, &used, 3), want) << what << ", " << IsaName(isa) << ", 3 threads";
  }
}

// Low-bit weights take each set's fast kernels and give the reference's codes. Per-channel int4:
// the int8 GEMM's panels of the unpacked codes, or the depthwise kernel's unpacked copy: FC depths
// odd and around the kernels' unrolls, a conv of 3 input channels (im2col), one of 4 (kernel_w·C_in
// = 12, a multiple of 4: AVX-512's in-place patch rows), a depthwise one and one of a single input
// channel (AVX-512: the depthwise kernel). Group scales (int4 and int8; groups of 32, 64 and 9·4 =
// 36 patch elements): the group-scaled kernels, an FC long enough for its rows to be shared out
// over the three threads.
TEST(Dispatch, LowBitWeightsTakeTheFastKernelsAndGiveTheReferenceCodes) {
  for (const LowBitLayer d :
       {LowBitLayer{false, 13, 77, 19}, LowBitLayer{false, 1, 256, 33}, LowBitLayer{false, 40, 31, 64},
        LowBitLayer{true, 9, 3, 7}, LowBitLayer{true, 8, 4, 17}, LowBitLayer{true, 7, 5, 5, 5},
        LowBitLayer{true, 10, 1, 3}, LowBitLayer{false, 5, 128, 21, 1, 32}, LowBitLayer{false, 8, 192, 10, 1, 64, false},
        LowBitLayer{false, 1, 64, 3, 1, 32}, LowBitLayer{true, 6, 8, 9, 1, 36}, LowBitLayer{true, 5, 4, 6, 1, 36, false},
        LowBitLayer{false, 200, 256, 160, 1, 32}})  // 8 M MACs: its rows split over 3 threads
    ExpectFastCodesOnEverySet(d);
}

// int16 activations: portable::Qs16FullyConnected (and its AVX2 / AVX-512 builds), with int8 and
// per-channel int4 weights; the last layer (about 9 M MACs) has its rows split over 3 threads.
TEST(Dispatch, Int16FullyConnectedTakesTheFastKernelAndGivesTheReferenceCodes) {
  for (const LowBitLayer d : {LowBitLayer{false, 13, 77, 19, 1, 0, false, 1, true},
                              LowBitLayer{false, 5, 600, 7, 1, 0, true, 1, true},
                              LowBitLayer{false, 70, 384, 330, 1, 0, false, 1, true}})
    ExpectFastCodesOnEverySet(d);
}

// Grouped (not depthwise) convolutions: a groups = 1 GEMM per group on its channels. int8 and int4
// weights (groups of 3·5·9 = 135 weights: every other group's int4 slice starts mid-byte), one
// output channel per group, input channels of 1 and 2 per group, groups deep enough for AVX-512's
// AMX tiles (32·9 = 288 >= 256), and a batch of 3.
TEST(Dispatch, GroupedConvolutionsTakeTheGemmPerGroupAndGiveTheReferenceCodes) {
  for (const LowBitLayer d :
       {LowBitLayer{true, 9, 8, 12, 4, 0, false}, LowBitLayer{true, 7, 6, 9, 3, 0, true},
        LowBitLayer{true, 6, 9, 15, 3, 0, true},
        LowBitLayer{true, 6, 12, 6, 6, 0, false}, LowBitLayer{true, 5, 6, 12, 6, 0, true},
        LowBitLayer{true, 8, 64, 64, 2, 0, false}, LowBitLayer{true, 11, 10, 15, 5, 0, false},
        LowBitLayer{true, 6, 8, 12, 4, 0, true, 3}})
    ExpectFastCodesOnEverySet(d);
}

// Grouped FULLY_CONNECTED layers (the WUSH transform's block-diagonal layers): a groups = 1 GEMM
// per group on its gathered input columns. Group depths of 8 to 64, one unit per group, a single
// row, and a layer whose GEMMs split their rows over the three threads.
TEST(Dispatch, GroupedFullyConnectedTakesTheGemmPerGroupAndGivesTheReferenceCodes) {
  for (const LowBitLayer d :
       {LowBitLayer{false, 13, 64, 6, 2, 0, false}, LowBitLayer{false, 50, 96, 96, 3, 0, false},
        LowBitLayer{false, 7, 40, 10, 5, 0, false}, LowBitLayer{false, 1, 256, 64, 4, 0, false},
        LowBitLayer{false, 9, 48, 6, 6, 0, false}, LowBitLayer{false, 300, 256, 256, 2, 0, false}})
    ExpectFastCodesOnEverySet(d);
}

// Depthwise and one-input convolutions large enough that the pairs kernel's planes are shared out
// over threads (int4 weights, so the fast path's unpacked copy shows it ran): two images, so parts
// start mid-image; a one-input conv, whose parts build the image's plane at their first item.
TEST(Dispatch, PairsConvolutionsSplitOverThreadsGiveTheReferenceCodes) {
  for (const LowBitLayer d : {LowBitLayer{true, 40, 48, 48, 48, 0, true, 2}, LowBitLayer{true, 60, 1, 16, 1, 0, true, 2}})
    ExpectFastCodesOnEverySet(d);
}

TEST(Dispatch, OpsSplitIntoItemsOverThreadsGiveTheReferenceCodes) {
  const AlignedBytes file = BuildItemsChain();
  std::mt19937 rng(13);
  const std::vector<std::vector<int8_t>> xs = {ref::testing::RandomCodes<int8_t>(rng, 256 * 1024),
                                                ref::testing::RandomCodes<int8_t>(rng, 256 * 1024)};
  Isa used = Isa::kAuto;
  const std::vector<int8_t> want = RunModel(file, Isa::kReference, xs, &used);
  ASSERT_EQ(want.size(), size_t{256 * 1024});
  std::set<int8_t> distinct(want.begin(), want.end());
  EXPECT_GT(distinct.size(), 50u);  // the chain does not collapse to a few codes
  for (Isa isa : kOptimizedSets) {
    if (!IsaSupported(isa)) continue;
    EXPECT_EQ(RunModel(file, isa, xs, &used), want) << IsaName(isa);
    for (int32_t threads : {2, 3})
      EXPECT_EQ(RunModel(file, isa, xs, &used, threads), want) << IsaName(isa) << ", " << threads << " threads";
  }
}

TEST(Dispatch, SoftmaxSplitIntoRowsOverThreadsGivesTheReferenceCodes) {
  std::mt19937 rng(14);
  std::vector<int8_t> mask_bytes(4 * 512 * sizeof(int32_t));
  for (size_t i = 0; i < 4 * 512; ++i) {
    const int32_t keep = (i * 7919) % 5 != 0;  // a fifth of the positions masked
    std::memcpy(mask_bytes.data() + i * sizeof(int32_t), &keep, sizeof(keep));
  }
  const std::vector<int8_t> x = ref::testing::RandomCodes<int8_t>(rng, 4 * 16 * 512);
  for (bool masked : {false, true}) {  // with a mask, the keep bytes in a scratch slot per thread
    const AlignedBytes file = BuildSoftmax(masked);
    const std::vector<std::vector<int8_t>> xs = masked ? std::vector<std::vector<int8_t>>{x, mask_bytes}
                                                       : std::vector<std::vector<int8_t>>{x};
    Isa used = Isa::kAuto;
    const std::vector<int8_t> want = RunModel(file, Isa::kReference, xs, &used);
    ASSERT_EQ(want.size(), size_t{4 * 16 * 512});
    EXPECT_GT(std::set<int8_t>(want.begin(), want.end()).size(), 15u) << "masked " << masked;
    for (Isa isa : kOptimizedSets) {
      if (!IsaSupported(isa)) continue;
      for (int32_t threads : {1, 2, 3})
        EXPECT_EQ(RunModel(file, isa, xs, &used, threads), want) << IsaName(isa) << ", " << threads << " threads, masked "
                                                                 << masked;
    }
  }
}

TEST(ThreadPool, RunsEveryIndexOnceOverManyJobs) {
  ThreadPool pool;
  ASSERT_TRUE(pool.Start(4).ok());
  EXPECT_EQ(pool.threads(), 4);
  std::vector<int32_t> hits(37);
  for (int job = 0; job < 500; ++job) {
    const int32_t n = 1 + job % 37;
    std::fill(hits.begin(), hits.end(), 0);
    pool.Run([](void* ctx, int32_t i) { ++static_cast<int32_t*>(ctx)[i]; }, hits.data(), n);
    for (int32_t i = 0; i < 37; ++i) ASSERT_EQ(hits[i], i < n ? 1 : 0) << "job " << job << " index " << i;
  }
  ThreadPool bad;
  EXPECT_FALSE(bad.Start(0).ok());
  EXPECT_FALSE(bad.Start(ThreadPool::kMaxThreads + 1).ok());
}

}  // namespace
}  // namespace squint::rt
