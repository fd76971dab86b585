// squint.Hadamard: the fast transform against the dense matrix (1/√n)·(H_k ⊗ H_{2^m})·diag(signs)
// built entry by entry, per block; orthonormality (norms kept); inference errors.
#include <cmath>
#include <random>

#include "runtime/quant_math/quant_math.h"
#include "tests/ir/op_test_util.h"

namespace squint::ir::testing {
namespace {

// Dense y = H·x for one block of n channels: H[a·s + j][c·s + j'] = h_k[a][c]·(−1)^popcount(j & j'),
// s = n / k, times sign_{c·s + j'} / √n.
std::vector<double> DenseBlock(const std::vector<double>& x, const std::vector<int64_t>& signs) {
  const int32_t n = static_cast<int32_t>(x.size());
  const int32_t k = quant_math::HadamardK(n);
  const std::vector<int8_t> h_k = k > 1 ? quant_math::BuildHadamardMatrix(k) : std::vector<int8_t>{1};
  const int32_t s = n / k;
  std::vector<double> y(x.size(), 0.0);
  for (int32_t r = 0; r < n; ++r)
    for (int32_t c = 0; c < n; ++c) {
      const int32_t sylvester = __builtin_popcount((r % s) & (c % s)) % 2 ? -1 : 1;
      const double sign = signs.empty() ? 1.0 : static_cast<double>(signs[c]);
      y[r] += h_k[(r / s) * k + c / s] * sylvester * sign * x[c];
    }
  for (double& v : y) v /= std::sqrt(static_cast<double>(n));
  return y;
}

// Runs Hadamard on [rows, channels] and compares every block of every row with DenseBlock.
void CheckAgainstDense(int64_t rows, int64_t channels, int64_t block, const std::vector<int64_t>& signs) {
  SCOPED_TRACE("channels " + std::to_string(channels) + " block " + std::to_string(block));
  const std::vector<float> x = Random(static_cast<size_t>(rows * channels), static_cast<uint32_t>(channels));
  Attributes attrs = Attrs({{"block", block}});
  if (!signs.empty()) attrs.set("signs", signs);
  auto r = RunOp(OpType::kHadamard, {T_({rows, channels}, x)}, attrs);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const float* y = (*r)[0].data<float>();
  double in_norm = 0, out_norm = 0;
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t b0 = 0; b0 < channels; b0 += block) {
      const int64_t base = row * channels + b0;
      std::vector<double> xb(x.begin() + base, x.begin() + base + block);
      std::vector<int64_t> sb;
      if (!signs.empty()) sb.assign(signs.begin() + b0, signs.begin() + b0 + block);
      const std::vector<double> want = DenseBlock(xb, sb);
      for (int64_t i = 0; i < block; ++i) {
        EXPECT_NEAR(y[base + i], want[i], 1e-5) << "row " << row << " channel " << b0 + i;
        in_norm += xb[i] * xb[i];
        out_norm += double{y[base + i]} * y[base + i];
      }
    }
  EXPECT_NEAR(out_norm, in_norm, 1e-4 * in_norm);  // orthonormal: norms kept
}

TEST(Hadamard, MatchesDenseKroneckerProduct) {
  CheckAgainstDense(3, 8, 8, {});     // k = 1: Sylvester only
  CheckAgainstDense(2, 12, 12, {});   // k = 12 (Paley I), one segment of 1
  CheckAgainstDense(2, 96, 96, {});   // 12·8
  CheckAgainstDense(2, 40, 40, {});   // k = 20 (Paley I), 2 segments
  CheckAgainstDense(2, 28, 28, {});   // k = 28 (Paley II)
  CheckAgainstDense(2, 768, 768, {}); // 12·64
}

TEST(Hadamard, BlockDiagonalWithSigns) {
  std::vector<int64_t> signs(100);
  std::mt19937 gen(7);
  for (int64_t& s : signs) s = gen() % 2 ? 1 : -1;
  CheckAgainstDense(3, 100, 20, signs);  // 5 blocks of 20
  CheckAgainstDense(2, 100, 4, {});      // 25 blocks of 4
}

TEST(Hadamard, HigherRankRotatesLastAxis) {
  const std::vector<float> x = Random(2 * 3 * 16, 3);
  auto r3 = RunOp(OpType::kHadamard, {T_({2, 3, 16}, x)}, Attrs({{"block", int64_t{16}}}));
  auto r2 = RunOp(OpType::kHadamard, {T_({6, 16}, x)}, Attrs({{"block", int64_t{16}}}));
  ASSERT_TRUE(r3.ok() && r2.ok());
  EXPECT_EQ((*r3)[0].dims(), (Dims{2, 3, 16}));
  for (int64_t i = 0; i < (*r3)[0].size(); ++i) EXPECT_EQ((*r3)[0].data<float>()[i], (*r2)[0].data<float>()[i]);
}

TEST(Hadamard, InferenceErrors) {
  auto inf = InferOp(OpType::kHadamard, {Spec{DType::kFloat32, Sym({"batch", "50", "96"})}},
                     Attrs({{"block", int64_t{96}}}));
  ASSERT_TRUE(inf.ok()) << inf.status().message();
  EXPECT_EQ(ShapeToString(*(*inf)[0].shape), ShapeToString(Sym({"batch", "50", "96"})));
  ExpectError(InferOp(OpType::kHadamard, {Known({2, 64})}), StatusCode::kInvalidInput,
              {"Hadamard 'n'", "block is missing"});
  ExpectError(InferOp(OpType::kHadamard, {Known({2, 64})}, Attrs({{"block", int64_t{0}}})),
              StatusCode::kInvalidInput, {"Hadamard 'n'", "block 0"});
  ExpectError(InferOp(OpType::kHadamard, {Known({2, 104})}, Attrs({{"block", int64_t{104}}})),
              StatusCode::kInvalidInput, {"Hadamard 'n'", "block 104", "k·2^m"});  // 104 = 52·2: no k = 52 matrix
  ExpectError(InferOp(OpType::kHadamard, {Known({2, 100})}, Attrs({{"block", int64_t{32}}})),
              StatusCode::kInvalidInput, {"Hadamard 'n'", "block 32 does not divide the last dim 100"});
  ExpectError(InferOp(OpType::kHadamard, {Known({2, 4})},
                      Attrs({{"block", int64_t{4}}, {"signs", std::vector<int64_t>{1, -1, 1}}})),
              StatusCode::kInvalidInput, {"signs has 3 entries", "(4)"});
  ExpectError(InferOp(OpType::kHadamard, {Known({2, 4})},
                      Attrs({{"block", int64_t{4}}, {"signs", std::vector<int64_t>{1, -1, 0, 1}}})),
              StatusCode::kInvalidInput, {"signs[2] is 0"});
  ExpectError(InferOp(OpType::kHadamard, {Known({4}, DType::kInt32)}, Attrs({{"block", int64_t{4}}})),
              StatusCode::kInvalidInput, {"Hadamard 'n'"});
  // Evaluation checks against the concrete shape before the kernel runs.
  ExpectError(RunOp(OpType::kHadamard, {T_({2, 12}, Random(24, 1))}, Attrs({{"block", int64_t{8}}})),
              StatusCode::kInvalidInput, {"Hadamard 'n'", "block 8 does not divide the last dim 12"});
}

}  // namespace
}  // namespace squint::ir::testing
