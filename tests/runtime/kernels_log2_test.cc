// The log2 softmax output grid (FQ-ViT Log-Int-Softmax) and the shift-only P·V BATCH_MATMUL,
// each against a straightforward integer reference written here from the definition in
// kernels.h (no floating point in the references).
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "runtime/kernels/reference/kernel_util.h"
#include "tests/runtime/kernels_test_util.h"

namespace squint::rt::ref::testing {
namespace {

namespace qm = squint::quant_math;

// k = round(log2 v) in the FQ-ViT sense for v = round(S / e): the largest k with 2^k <= v, then
// +1 when v >= 2^k + 2^(k−1). Written with comparisons instead of bit tests.
int32_t ReferenceLog2Code(int64_t sum, int64_t e) {
  const int64_t v = (2 * sum + e) / (2 * e);  // round half up; S, e > 0
  int32_t k = 0;
  int64_t pow = 1;
  while (pow * 2 <= v) {
    pow *= 2;
    ++k;
  }
  if (k > 0 && v >= pow + pow / 2) ++k;
  return k;
}

// One row of codes from the definition: unmasked max, table lookups, S, codes.
std::vector<int32_t> ReferenceLog2Row(const std::vector<int32_t>& table, const int8_t* x,
                                      const std::vector<bool>& keep, int32_t max_code) {
  const size_t n = keep.size();
  std::vector<int32_t> out(n, kLog2MaskedCode);
  int32_t m = -1000;
  for (size_t i = 0; i < n; ++i)
    if (keep[i] && x[i] > m) m = x[i];
  if (m == -1000) return out;
  std::vector<int64_t> e(n, 0);
  int64_t sum = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!keep[i]) continue;
    e[i] = table[static_cast<size_t>(m - x[i])];
    sum += e[i];
  }
  for (size_t i = 0; i < n; ++i) {
    if (e[i] == 0) continue;
    const int32_t k = ReferenceLog2Code(sum, e[i]);
    if (k <= max_code) out[i] = k;
  }
  return out;
}

TEST(SoftmaxLog2, MaxCodeIsTwoToBitsMinusOneCappedAt15) {
  EXPECT_EQ(Log2MaxCode(2), 3);
  EXPECT_EQ(Log2MaxCode(3), 7);
  EXPECT_EQ(Log2MaxCode(4), 15);
  EXPECT_EQ(Log2MaxCode(6), 15);
  EXPECT_EQ(Log2MaxCode(8), 15);
}

TEST(SoftmaxLog2, HandComputedCodes) {
  // v = 1 → 0; v = 3 → 2 (bit 0 set); v = 5 → 2 (101: bit 1 clear); v = 6 → 3; v = 12 → 4.
  EXPECT_EQ(Log2RoundCode(10, 10), 0);
  EXPECT_EQ(Log2RoundCode(30, 10), 2);
  EXPECT_EQ(Log2RoundCode(50, 10), 2);
  EXPECT_EQ(Log2RoundCode(60, 10), 3);
  EXPECT_EQ(Log2RoundCode(120, 10), 4);
  EXPECT_EQ(Log2RoundCode(14, 10), 0);  // v = round(1.4) = 1
  EXPECT_EQ(Log2RoundCode(15, 10), 1);  // v = round(1.5) = 2
}

TEST(SoftmaxLog2, RandomRowsWithCausalMaskAndDominantEntriesMatchIntegerReference) {
  std::mt19937 rng(11);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int masked_seen = 0, zero_code_seen = 0;
  for (int iter = 0; iter < 300; ++iter) {
    const int32_t bits = uni(2, 8);
    const float s_in = static_cast<float>(RandomScale(rng, 0.01, 0.5));
    const auto table = qm::BuildSoftmaxExpTable(s_in, 20);
    const int32_t rows = uni(1, 6), depth = uni(1, 40);
    std::vector<int8_t> x(static_cast<size_t>(rows) * depth);
    for (auto& v : x) v = static_cast<int8_t>(uni(-128, 127));
    const int kind = iter % 3;  // 0 plain, 1 dominant entry, 2 causal mask [rows, depth]
    if (kind == 1) {
      for (int r = 0; r < rows; ++r) {
        for (int i = 0; i < depth; ++i) x[r * depth + i] = static_cast<int8_t>(uni(-128, -60));
        x[r * depth + uni(0, depth - 1)] = 127;
      }
    }
    std::vector<uint8_t> mask(static_cast<size_t>(rows) * depth, 1);
    SoftmaxParams p;
    p.rows = rows;
    p.depth = depth;
    p.exp_table = table.data();
    p.exp_table_size = static_cast<int32_t>(table.size());
    p.exp_bits = 20;
    p.output_bits = bits;
    p.log2_max_code = Log2MaxCode(bits);
    if (kind == 2) {
      for (int r = 0; r < rows; ++r)
        for (int i = 0; i < depth; ++i) mask[r * depth + i] = i <= r - 1 ? 1 : 0;  // row 0: all masked
      p.mask = mask.data();
      p.rank = 2;
      p.dims[0] = rows;
      p.dims[1] = depth;
      p.mask_strides[0] = depth;
      p.mask_strides[1] = 1;
    }
    std::vector<int8_t> y(x.size());
    Softmax<int8_t, int8_t>(p, x.data(), y.data());
    for (int r = 0; r < rows; ++r) {
      std::vector<bool> keep(depth);
      for (int i = 0; i < depth; ++i) keep[i] = mask[r * depth + i] != 0;
      const auto want = ReferenceLog2Row(table, x.data() + r * depth, keep, p.log2_max_code);
      for (int i = 0; i < depth; ++i) {
        const int32_t got = static_cast<uint8_t>(y[r * depth + i]);
        ASSERT_EQ(got, want[i]) << "iter " << iter << " row " << r << " col " << i;
        if (!keep[i]) {
          EXPECT_EQ(got, kLog2MaskedCode);
        }
        masked_seen += got == kLog2MaskedCode;
        zero_code_seen += got == 0;
      }
    }
  }
  EXPECT_GT(masked_seen, 0);     // the masked code was exercised
  EXPECT_GT(zero_code_seen, 0);  // and the dominant-entry code 0 (p ≈ 1)
}

TEST(SoftmaxLog2, Uint8OutputStoresTheSameCodes) {
  const auto table = qm::BuildSoftmaxExpTable(0.2f, 16);
  SoftmaxParams p;
  p.rows = 1;
  p.depth = 4;
  p.exp_table = table.data();
  p.exp_table_size = 256;
  p.exp_bits = 16;
  p.output_bits = 3;
  p.log2_max_code = Log2MaxCode(3);
  const int8_t x[4] = {100, 100, 99, -128};
  int8_t y8[4];
  uint8_t yu[4];
  Softmax<int8_t, int8_t>(p, x, y8);
  Softmax<int8_t, uint8_t>(p, x, yu);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(static_cast<uint8_t>(y8[i]), yu[i]);
  EXPECT_EQ(yu[3], kLog2MaskedCode);  // 2^-(0.2*228) is far below 2^-7
  EXPECT_EQ(yu[0], yu[1]);
}

TEST(BatchMatMulLog2, ShiftAccumulationMatchesExactIntegerSum) {
  std::mt19937 rng(12);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int iter = 0; iter < 100; ++iter) {
    BatchMatMulParams p;
    p.batch_rank = 1;
    p.batch_dims[0] = uni(1, 3);
    p.a_batch_strides[0] = 1;
    p.b_batch_strides[0] = 1;
    p.m = uni(1, 5);
    p.k = uni(1, 64);
    p.n = uni(1, 5);
    const int32_t max_code = Log2MaxCode(uni(2, 8));
    p.a_log2_max_code = max_code;
    p.a_zero_point = 77;  // unused on the log2 path
    p.b_zero_point = RandomZeroPoint<int8_t>(rng);
    std::vector<int8_t> a(static_cast<size_t>(p.batch_dims[0]) * p.m * p.k);
    for (auto& v : a) v = static_cast<int8_t>(uni(0, 5) == 0 ? kLog2MaskedCode : uni(0, max_code));
    const auto b = RandomCodes<int8_t>(rng, static_cast<size_t>(p.batch_dims[0]) * p.k * p.n);
    // Output scale: s_b·2^−C accumulator onto a random output grid.
    const double s_b = RandomScale(rng, 1e-2, 1.0), s_y = RandomScale(rng, 1e-3, 1e-1);
    RequantOwner rq({qm::RequantFromReal(s_b / (1 << max_code) / s_y)}, RandomZeroPoint<int8_t>(rng),
                    -128, 127);
    p.requant = rq.params;
    std::vector<int8_t> y(static_cast<size_t>(p.batch_dims[0]) * p.m * p.n);
    BatchMatMul<int8_t>(p, a.data(), b.data(), y.data());
    for (int bi = 0; bi < p.batch_dims[0]; ++bi)
      for (int i = 0; i < p.m; ++i)
        for (int j = 0; j < p.n; ++j) {
          // Σ 2^−c·(b − z_b), scaled by 2^C so it is an exact integer; masked entries skipped.
          int64_t acc = 0;
          for (int k = 0; k < p.k; ++k) {
            const int32_t c = static_cast<uint8_t>(a[(bi * p.m + i) * p.k + k]);
            if (c == kLog2MaskedCode) continue;
            int64_t weight = 1;
            for (int t = c; t < max_code; ++t) weight *= 2;
            acc += weight * (b[(bi * p.k + k) * p.n + j] - p.b_zero_point);
          }
          ASSERT_LT(acc < 0 ? -acc : acc, int64_t{1} << 31);
          ASSERT_EQ(y[(bi * p.m + i) * p.n + j],
                    detail::Requant(p.requant, 0, static_cast<int32_t>(acc)))
              << "iter " << iter;
        }
  }
}

}  // namespace
}  // namespace squint::rt::ref::testing
