// HADAMARD against a dense integer reference: the Kronecker product H_k ⊗ H_{2^m} built here as a
// full matrix, applied by plain multiply-adds, then the same requantization; the AVX-512 kernel
// against the reference kernel. Hadamard matrices
// from quant_math are checked for orthogonality (H·Hᵀ = k·I) at every size the builder claims.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "runtime/dispatch.h"
#include "runtime/kernels/reference/kernel_util.h"
#include "tests/runtime/kernels_test_util.h"
#if defined(SQUINT_X86_KERNELS)
#include "runtime/kernels/x86/rows.h"
#endif

namespace squint::rt::ref::testing {
namespace {

namespace qm = squint::quant_math;

bool Orthogonal(const std::vector<int8_t>& h, int32_t k) {
  if (static_cast<int64_t>(h.size()) != int64_t{k} * k) return false;
  for (int32_t i = 0; i < k; ++i)
    for (int32_t j = 0; j < k; ++j) {
      int32_t dot = 0;
      for (int32_t c = 0; c < k; ++c) dot += h[static_cast<size_t>(i) * k + c] * h[static_cast<size_t>(j) * k + c];
      if (dot != (i == j ? k : 0)) return false;
    }
  return true;
}

TEST(HadamardMatrix, EveryBuiltSizeIsOrthogonalAndTheKnownConstructionsExist) {
  int built = 0;
  for (int32_t k = 1; k <= 256; ++k) {
    const std::vector<int8_t> h = qm::BuildHadamardMatrix(k);
    if (h.empty()) continue;
    ASSERT_TRUE(Orthogonal(h, k)) << k;
    ++built;
  }
  EXPECT_GE(built, 20);
  for (int32_t k : {1, 2, 4, 64, 12, 20, 28, 36, 60, 108, 140})  // Sylvester, Paley I and II
    EXPECT_FALSE(qm::BuildHadamardMatrix(k).empty()) << k;
  for (int32_t k : {3, 6, 10, 52, 156, 172}) EXPECT_TRUE(qm::BuildHadamardMatrix(k).empty()) << k;
}

TEST(HadamardMatrix, FactorFollowsQuaRotsOrder) {
  EXPECT_EQ(qm::HadamardK(64), 1);
  EXPECT_EQ(qm::HadamardK(1), 1);
  EXPECT_EQ(qm::HadamardK(12 * 16), 12);
  EXPECT_EQ(qm::HadamardK(40 * 4), 20);   // no 40 construction: 20·2^3
  EXPECT_EQ(qm::HadamardK(140 * 2), 140);
  EXPECT_EQ(qm::HadamardK(28 * 512), 28);  // LLaMA-3-8B's FFN, 14336
  EXPECT_EQ(qm::HadamardK(52 * 4), 0);     // 52 not built here: block-diagonal instead
  EXPECT_EQ(qm::HadamardK(96), 12);
  EXPECT_EQ(qm::HadamardK(0), 0);
}

// The dense block matrix H_k ⊗ H_{2^m} (n = k·2^m).
std::vector<int32_t> DenseHadamard(int32_t n, int32_t k, const std::vector<int8_t>& h_k) {
  const int32_t seg = n / k;
  const std::vector<int8_t> s = qm::BuildHadamardMatrix(seg);
  std::vector<int32_t> h(static_cast<size_t>(n) * n);
  for (int32_t i = 0; i < n; ++i)
    for (int32_t j = 0; j < n; ++j) {
      const int32_t hk = k == 1 ? 1 : h_k[static_cast<size_t>(i / seg) * k + j / seg];
      h[static_cast<size_t>(i) * n + j] = hk * s[static_cast<size_t>(i % seg) * seg + j % seg];
    }
  return h;
}

// One HADAMARD's parameters and their storage: 1..max_blocks blocks of k·seg channels over
// 1..max_rows rows, h_k from quant_math, random signs (when with_signs), the 2·block scratch.
struct HadamardCase {
  std::vector<int8_t> h_k, signs;
  std::vector<int32_t> scratch;
  HadamardParams p;
  HadamardCase(std::mt19937& rng, int32_t k, int32_t block, int32_t max_blocks, int32_t max_rows, bool with_signs)
      : h_k(k == 1 ? std::vector<int8_t>{} : qm::BuildHadamardMatrix(k)), scratch(2 * static_cast<size_t>(block)) {
    auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    p.block = block;
    p.k = k;
    p.channels = uni(1, max_blocks) * block;
    p.rows = uni(1, max_rows);
    signs.resize(static_cast<size_t>(p.channels));
    for (auto& s : signs) s = uni(0, 1) ? 1 : -1;
    p.h_k = h_k.empty() ? nullptr : h_k.data();
    p.signs = with_signs ? signs.data() : nullptr;
    p.scratch = scratch.data();
  }
};

// Input int8 or int16, output int8: random blocks k·2^m, signs on every other size.
template <typename TIn>
void CheckAgainstDenseProduct(uint32_t seed) {
  std::mt19937 rng(seed);
  const int32_t ks[] = {1, 12, 20, 28, 36, 60};
  int iter = 0;
  for (int32_t k : ks)
    for (int32_t m = 0; m <= 5; ++m, ++iter) {
      const int32_t block = k << m;
      if (block > 1024) continue;
      const bool with_signs = iter % 2 == 1;
      HadamardCase hc(rng, k, block, 3, 4, with_signs);
      HadamardParams& p = hc.p;
      const std::vector<int32_t> dense = DenseHadamard(block, k, hc.h_k);
      const std::vector<int8_t>& signs = hc.signs;
      const int32_t blocks = p.channels / block, rows = p.rows, channels = p.channels;
      p.input_zero_point = RandomZeroPoint<TIn>(rng);
      const double s_x = RandomScale(rng, 0.01, 1.0), s_y = RandomScale(rng, 0.01, 1.0);
      // int16 codes span 256× the int8 range: scale the output grid so results do not all saturate.
      const double to_int8 = sizeof(TIn) == 2 ? 1.0 / 256 : 1.0;
      RequantOwner rq({qm::RequantFromReal(s_x / std::sqrt(static_cast<double>(block)) / s_y * to_int8)},
                      RandomZeroPoint<int8_t>(rng), -128, 127);
      p.requant = rq.params;
      const auto x = RandomCodes<TIn>(rng, static_cast<size_t>(rows) * channels);
      std::vector<int8_t> y(x.size());
      Hadamard<TIn>(p, x.data(), y.data());
      for (int32_t r = 0; r < rows; ++r)
        for (int32_t b = 0; b < blocks; ++b)
          for (int32_t i = 0; i < block; ++i) {
            int64_t u = 0;
            for (int32_t j = 0; j < block; ++j) {
              const int32_t c = b * block + j;
              const int32_t v = (x[static_cast<size_t>(r) * channels + c] - p.input_zero_point) *
                                (with_signs ? signs[static_cast<size_t>(c)] : 1);
              u += int64_t{dense[static_cast<size_t>(i) * block + j]} * v;
            }
            ASSERT_EQ(y[static_cast<size_t>(r) * channels + b * block + i],
                      detail::Requant(p.requant, 0, static_cast<int32_t>(u)))
                << "k " << k << " m " << m << " row " << r << " block " << b << " i " << i;
          }
    }
}

#if defined(SQUINT_X86_KERNELS)
// x86::HadamardAvx512 against ref::Hadamard, tolerance zero: segments of 16 (the smallest it
// takes: only the in-register stages) to 512, k = 1, 2, 4 (Sylvester) and 12, 20 (Paley), with and
// without signs, extreme and random zero points; output requantizations in float (right shifts
// >= 8; a multiplier of 2^30 puts many outputs on exact halves, which float leaves to the integer
// path), in integers (right shift under 8, a left shift), the int8 range and a narrower one.
template <typename TIn>
void CheckAvx512(uint32_t seed) {
  if (!IsaSupported(Isa::kAvx512Vnni)) GTEST_SKIP() << "the CPU lacks the avx512vnni set";
  std::mt19937 rng(seed);
  struct Out { QuantizedMultiplier m; int32_t act_min, act_max; };
  const Out outs[] = {{{0, 0}, -128, 127},               // from the scales, below
                      {{1 << 30, -9}, -128, 127},        // acc/1024: exact halves
                      {{1 << 30, -8}, -20, 50},          // and a narrower range
                      {{1518500250, -3}, -128, 127},     // right shift 3: integers
                      {{1518500250, 2}, -128, 127}};     // left shift: integers, saturating
  int iter = 0;
  for (int32_t k : {1, 2, 4, 12, 20})
    for (int32_t seg = 16; seg <= 512; seg *= 2)
      for (const Out& out : outs) {
        const int32_t block = k * seg;
        if (block > 2048) continue;
        ++iter;
        HadamardCase hc(rng, k, block, 2, 5, iter % 2 == 1);
        HadamardParams& p = hc.p;
        p.input_zero_point = iter % 3 == 0 ? std::numeric_limits<TIn>::min() : RandomZeroPoint<TIn>(rng);
        if (sizeof(TIn) == 2 && int64_t{block} * 65535 >= (int64_t{1} << 31)) p.input_zero_point = 0;  // the bound
        QuantizedMultiplier m = out.m;
        if (m.multiplier == 0) {
          const double to_int8 = sizeof(TIn) == 2 ? 1.0 / 256 : 1.0;
          m = qm::RequantFromReal(RandomScale(rng, 0.3, 3.0) / std::sqrt(static_cast<double>(block)) * to_int8);
        }
        RequantOwner rq({m}, RandomZeroPoint<int8_t>(rng), out.act_min, out.act_max);
        p.requant = rq.params;
        const auto x = RandomCodes<TIn>(rng, static_cast<size_t>(p.rows) * p.channels);
        std::vector<int8_t> want(x.size() + 1, 9), got(x.size() + 1, 9);  // one guard byte
        Hadamard<TIn>(p, x.data(), want.data());
        std::vector<int32_t> scratch(static_cast<size_t>(x86::HadamardAvx512ScratchInts(block, k)), 0x55555555);
        p.scratch = scratch.data();
        x86::HadamardAvx512(p, x.data(), got.data());
        ASSERT_EQ(got, want) << "k " << k << " seg " << seg << " rows " << p.rows << " channels " << p.channels << " shift "
                             << m.shift << " multiplier " << m.multiplier << " signs " << (p.signs != nullptr);
      }
}
TEST(Hadamard, Avx512Int8EqualsTheReference) { CheckAvx512<int8_t>(31); }
TEST(Hadamard, Avx512Int16EqualsTheReference) { CheckAvx512<int16_t>(37); }
#endif

TEST(Hadamard, Int8InputMatchesTheDenseProduct) { CheckAgainstDenseProduct<int8_t>(21); }
TEST(Hadamard, Int16InputMatchesTheDenseProduct) { CheckAgainstDenseProduct<int16_t>(23); }

TEST(Hadamard, OrthonormalTransformKeepsTheVectorNorm) {
  // With M = s_x/(√n·s_y) and s_y = s_x the output codes are H·v/√n: ‖y − z‖ ≈ ‖x − z‖.
  std::mt19937 rng(22);
  const int32_t n = 96;  // 12·2^3
  const std::vector<int8_t> h_k = qm::BuildHadamardMatrix(12);
  HadamardParams p;
  p.rows = 1;
  p.channels = n;
  p.block = n;
  p.k = 12;
  p.h_k = h_k.data();
  RequantOwner rq({qm::RequantFromReal(1.0 / std::sqrt(96.0))}, 0, -128, 127);
  p.requant = rq.params;
  std::vector<int32_t> scratch(2 * n);
  p.scratch = scratch.data();
  std::vector<int8_t> x(n), y(n);
  std::uniform_int_distribution<int> small(-20, 20);
  for (auto& v : x) v = static_cast<int8_t>(small(rng));
  Hadamard<int8_t>(p, x.data(), y.data());
  double nx = 0, ny = 0;
  for (int i = 0; i < n; ++i) nx += x[i] * x[i], ny += y[i] * y[i];
  EXPECT_NEAR(std::sqrt(ny), std::sqrt(nx), 0.05 * std::sqrt(nx) + 3.0);
}

}  // namespace
}  // namespace squint::rt::ref::testing
