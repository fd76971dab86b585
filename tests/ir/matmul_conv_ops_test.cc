// MatMul, Gemm, Linear, Conv, ConvTranspose and pooling: hand-computed values, naive
// reference loops for the many-parameter ops, inference errors and symbolic dims.
#include <cmath>
#include <random>

#include "tests/ir/op_test_util.h"

namespace squint::ir::testing {
namespace {

std::vector<float> Iota(size_t n, float start = 0) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + static_cast<float>(i);
  return v;
}
std::vector<double> ToDouble(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// ---- MatMul ----

TEST(MatMul, TwoDAndVectors) {
  Tensor a = T_({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = T_({3, 2}, {1, 0, 0, 1, 1, 1});
  auto r = RunOp(OpType::kMatMul, {a, b});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {2, 2}, {4, 5, 10, 11});
  r = RunOp(OpType::kMatMul, {T_({3}, {1, 2, 3}), b});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2}, {4, 5});
  r = RunOp(OpType::kMatMul, {a, T_({3}, {1, 1, 1})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2}, {6, 15});
  r = RunOp(OpType::kMatMul, {T_({3}, {1, 2, 3}), T_({3}, {1, 1, 1})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {}, {6});
}

TEST(MatMul, BatchedBroadcast) {
  // [2,1,2,3] x [3,3,2] -> [2,3,2,2]
  std::vector<float> a = Random(12, 1), b = Random(18, 2);
  auto r = RunOp(OpType::kMatMul, {T_({2, 1, 2, 3}, a), T_({3, 3, 2}, b)});
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::vector<double> want;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int m = 0; m < 2; ++m)
        for (int n = 0; n < 2; ++n) {
          double s = 0;
          for (int k = 0; k < 3; ++k) s += a[i * 6 + m * 3 + k] * b[j * 6 + k * 2 + n];
          want.push_back(s);
        }
  ExpectTensor((*r)[0], {2, 3, 2, 2}, want);
  // 1-D A against batched B: [2] x [3,2,2] -> [3,2]
  r = RunOp(OpType::kMatMul, {T_({2}, {1, 2}), T_({3, 2, 2}, Iota(12))});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {3, 2}, {4, 7, 16, 19, 28, 31});
  // batched A against 1-D B: [2,2,3] x [3] -> [2,2]
  r = RunOp(OpType::kMatMul, {T_({2, 2, 3}, Iota(12)), T_({3}, {1, 0, 1})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2, 2}, {2, 8, 14, 20});
}

TEST(MatMul, IntegersAndEmptyInnerDim) {
  auto r = RunOp(OpType::kMatMul, {T_<int64_t>({2, 2}, {1, 2, 3, 4}), T_<int64_t>({2, 1}, {5, 6})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dtype(), DType::kInt64);
  ExpectTensor((*r)[0], {2, 1}, {17, 39});
  r = RunOp(OpType::kMatMul, {T_({2, 0}, {}), T_({0, 3}, {})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {2, 3}, {0, 0, 0, 0, 0, 0});
  r = RunOp(OpType::kMatMul, {T_({0, 4}, {}), T_({4, 3}, Iota(12))});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {0, 3}, {});
}

TEST(MatMul, Infer) {
  auto r = InferOp(OpType::kMatMul, {Spec{DType::kFloat32, Sym({"batch", "50", "64"})}, Known({64, 128})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "batchx50x128");
  r = InferOp(OpType::kMatMul, {Spec{DType::kFloat32, Sym({"b", "4", "50", "16"})},
                                Spec{DType::kFloat32, Sym({"b", "4", "16", "50"})}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "bx4x50x50");
  r = InferOp(OpType::kMatMul, {Known({64}), Known({3, 64, 8})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "3x8");
  ExpectError(InferOp(OpType::kMatMul, {Known({2, 3}), Known({4, 5})}), StatusCode::kInvalidInput,
              {"MatMul 'n'", "2x3", "4x5", "3 vs 4"});
  ExpectError(InferOp(OpType::kMatMul, {Known({2, 2, 3}), Known({3, 3, 2})}), StatusCode::kInvalidInput,
              {"cannot be broadcast"});
  ExpectError(InferOp(OpType::kMatMul, {Known({}), Known({3})}), StatusCode::kInvalidInput, {"scalar"});
}

// ---- Gemm and Linear ----

TEST(Gemm, AttributesAndBiasForms) {
  Tensor a = T_({2, 3}, {1, 2, 3, 4, 5, 6});  // A
  Tensor at = T_({3, 2}, {1, 4, 2, 5, 3, 6});  // Aᵀ
  Tensor b = T_({3, 2}, {1, 0, 0, 1, 1, 1});
  Tensor bt = T_({2, 3}, {1, 0, 1, 0, 1, 1});
  // A·B = [[4,5],[10,11]]
  auto r = RunOp(OpType::kGemm, {a, b});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {2, 2}, {4, 5, 10, 11});
  r = RunOp(OpType::kGemm, {at, bt, T_({2}, {1, 2})},
            Attrs({{"transA", int64_t{1}}, {"transB", int64_t{1}}, {"alpha", 2.0f}, {"beta", 0.5f}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2, 2}, {8.5, 11, 20.5, 23});
  r = RunOp(OpType::kGemm, {a, b, T_({2, 1}, {100, 200})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2, 2}, {104, 105, 210, 211});
  r = RunOp(OpType::kGemm, {a, b, T_({}, {1})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2, 2}, {5, 6, 11, 12});
  r = RunOp(OpType::kGemm, {a, b, T_({2, 2}, {1, 2, 3, 4})}, Attrs({{"beta", 0.0f}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2, 2}, {4, 5, 10, 11});
  ExpectError(InferOp(OpType::kGemm, {Known({2, 3}), Known({2, 3})}), StatusCode::kInvalidInput,
              {"Gemm 'n'", "inner dims differ (3 vs 2)"});
  ExpectError(InferOp(OpType::kGemm, {Known({2, 3}), Known({3, 4}), Known({3})}), StatusCode::kInvalidInput,
              {"C has shape 3"});
  ExpectError(InferOp(OpType::kGemm, {Known({2, 3, 1}), Known({3, 4})}), StatusCode::kInvalidInput,
              {"expected 2 dims"});
  auto inf = InferOp(OpType::kGemm, {Spec{DType::kFloat32, Sym({"batch", "64"})}, Known({10, 64})},
                     Attrs({{"transB", int64_t{1}}}));
  ASSERT_TRUE(inf.ok());
  EXPECT_EQ(ShapeToString(*(*inf)[0].shape), "batchx10");
}

TEST(Linear, AnyRankWithBias) {
  // X [2,1,3], W [3,2], B [2]
  auto r = RunOp(OpType::kLinear, {T_({2, 1, 3}, {1, 2, 3, 4, 5, 6}), T_({3, 2}, {1, 0, 0, 1, 1, 1}),
                                   T_({2}, {10, 20})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {2, 1, 2}, {14, 25, 20, 31});
  r = RunOp(OpType::kLinear, {T_({3}, {1, 2, 3}), T_({3, 2}, {1, 0, 0, 1, 1, 1})});
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {2}, {4, 5});
  auto inf = InferOp(OpType::kLinear, {Spec{DType::kFloat32, Sym({"batch", "50", "64"})}, Known({64, 256}),
                                       Known({256})});
  ASSERT_TRUE(inf.ok());
  EXPECT_EQ(ShapeToString(*(*inf)[0].shape), "batchx50x256");
  ExpectError(InferOp(OpType::kLinear, {Known({2, 64}), Known({32, 8})}), StatusCode::kInvalidInput,
              {"Linear 'n'", "64 vs 32"});
  ExpectError(InferOp(OpType::kLinear, {Known({2, 64}), Known({64, 8}), Known({4})}), StatusCode::kInvalidInput,
              {"B has shape 4, expected [8]"});
  ExpectError(InferOp(OpType::kLinear, {Known({2, 64}), Known({64})}), StatusCode::kInvalidInput,
              {"W has shape 64, expected 2 dims"});
}

TEST(Linear, GroupsMatchBlockDiagonalDense) {
  // groups = 2: X [2, 4], W [2, 6] is the block-diagonal dense W_d [4, 6] with blocks
  // W_d[0:2, 0:3] = W[:, 0:3] and W_d[2:4, 3:6] = W[:, 3:6].
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> x(8), w(12), b(6), dense(24, 0.0f);
  for (float& v : x) v = u(rng);
  for (float& v : w) v = u(rng);
  for (float& v : b) v = u(rng);
  for (int i = 0; i < 2; ++i)
    for (int n = 0; n < 6; ++n) dense[static_cast<size_t>((n / 3 * 2 + i) * 6 + n)] = w[static_cast<size_t>(i * 6 + n)];
  auto grouped = RunOp(OpType::kLinear, {T_({2, 4}, x), T_({2, 6}, w), T_({6}, b)}, Attrs({{"groups", int64_t{2}}}));
  ASSERT_TRUE(grouped.ok()) << grouped.status().message();
  auto full = RunOp(OpType::kLinear, {T_({2, 4}, x), T_({4, 6}, dense), T_({6}, b)});
  ASSERT_TRUE(full.ok());
  ASSERT_EQ((*grouped)[0].dims(), (Dims{2, 6}));
  for (int64_t i = 0; i < 12; ++i)
    EXPECT_NEAR((*grouped)[0].data<float>()[i], (*full)[0].data<float>()[i], 1e-6) << i;
  auto inf = InferOp(OpType::kLinear, {Known({5, 64}), Known({16, 8})}, Attrs({{"groups", int64_t{4}}}));
  ASSERT_TRUE(inf.ok()) << inf.status().message();
  EXPECT_EQ(ShapeToString(*(*inf)[0].shape), "5x8");
  ExpectError(InferOp(OpType::kLinear, {Known({5, 64}), Known({16, 8})}, Attrs({{"groups", int64_t{2}}})),
              StatusCode::kInvalidInput, {"Linear 'n'", "(groups 2)", "64 vs 32"});
  ExpectError(InferOp(OpType::kLinear, {Known({5, 48}), Known({16, 8})}, Attrs({{"groups", int64_t{3}}})),
              StatusCode::kInvalidInput, {"groups = 3 does not divide the 8 output columns"});
  ExpectError(InferOp(OpType::kLinear, {Known({5, 64}), Known({64, 8})}, Attrs({{"groups", int64_t{0}}})),
              StatusCode::kInvalidInput, {"groups = 0, expected >= 1"});
}

// ---- Conv ----

struct ConvCase {
  Dims x, w;
  int64_t group = 1;
  std::vector<int64_t> strides, dilations, pads;
};

// Direct definition of ONNX Conv on 1-D..3-D (dims padded to 3-D), with bias.
std::vector<double> RefConv(const ConvCase& c, const std::vector<float>& x, const std::vector<float>& w,
                            const std::vector<float>& b, Dims* out_dims) {
  const size_t r = c.x.size() - 2, off = 3 - r;
  int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, p[3] = {0, 0, 0},
          pe[3] = {0, 0, 0}, o[3] = {1, 1, 1};
  for (size_t i = 0; i < r; ++i) {
    in[off + i] = c.x[2 + i];
    k[off + i] = c.w[2 + i];
    if (!c.strides.empty()) s[off + i] = c.strides[i];
    if (!c.dilations.empty()) d[off + i] = c.dilations[i];
    if (!c.pads.empty()) p[off + i] = c.pads[i], pe[off + i] = c.pads[r + i];
  }
  for (int i = 0; i < 3; ++i) o[i] = (in[i] + p[i] + pe[i] - (k[i] - 1) * d[i] - 1) / s[i] + 1;
  const int64_t n = c.x[0], ch = c.x[1], m = c.w[0], cg = ch / c.group, mg = m / c.group;
  *out_dims = {n, m};
  for (size_t i = 0; i < r; ++i) out_dims->push_back(o[off + i]);
  std::vector<double> y;
  for (int64_t bi = 0; bi < n; ++bi)
    for (int64_t mi = 0; mi < m; ++mi)
      for (int64_t z = 0; z < o[0]; ++z)
        for (int64_t yy = 0; yy < o[1]; ++yy)
          for (int64_t xx = 0; xx < o[2]; ++xx) {
            double acc = b.empty() ? 0 : b[mi];
            for (int64_t ci = 0; ci < cg; ++ci)
              for (int64_t a = 0; a < k[0]; ++a)
                for (int64_t e = 0; e < k[1]; ++e)
                  for (int64_t f = 0; f < k[2]; ++f) {
                    const int64_t iz = z * s[0] - p[0] + a * d[0], iy = yy * s[1] - p[1] + e * d[1],
                                  ix = xx * s[2] - p[2] + f * d[2];
                    if (iz < 0 || iz >= in[0] || iy < 0 || iy >= in[1] || ix < 0 || ix >= in[2]) continue;
                    const int64_t c_in = (mi / mg) * cg + ci;
                    acc += x[(((bi * ch + c_in) * in[0] + iz) * in[1] + iy) * in[2] + ix] *
                           w[(((mi * cg + ci) * k[0] + a) * k[1] + e) * k[2] + f];
                  }
            y.push_back(acc);
          }
  return y;
}

void CheckConv(const ConvCase& c, uint32_t seed) {
  const std::vector<float> x = Random(ElementCount(c.x), seed), w = Random(ElementCount(c.w), seed + 1),
                           b = Random(static_cast<size_t>(c.w[0]), seed + 2);
  Attributes attrs;
  attrs.set("group", c.group);
  if (!c.strides.empty()) attrs.set("strides", c.strides);
  if (!c.dilations.empty()) attrs.set("dilations", c.dilations);
  if (!c.pads.empty()) attrs.set("pads", c.pads);
  auto r = RunOp(OpType::kConv, {T_(c.x, x), T_(c.w, w), T_({c.w[0]}, b)}, attrs);
  ASSERT_TRUE(r.ok()) << r.status().message();
  Dims want_dims;
  std::vector<double> want = RefConv(c, x, w, b, &want_dims);
  ExpectTensor((*r)[0], want_dims, want, 1e-5, 1e-4);
}

TEST(Conv, OnnxBasicExample) {
  Tensor x = T_({1, 1, 5, 5}, Iota(25));
  Tensor w = T_({1, 1, 3, 3}, std::vector<float>(9, 1.0f));
  auto r = RunOp(OpType::kConv, {x, w});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {1, 1, 3, 3}, {54, 63, 72, 99, 108, 117, 144, 153, 162});
  r = RunOp(OpType::kConv, {x, w}, Attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {1, 1, 5, 5}, {12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108, 117, 81,
                                       93, 144, 153, 162, 111, 72, 111, 117, 123, 84});
}

TEST(Conv, MatchesDirectDefinition) {
  CheckConv({{2, 3, 7, 6}, {4, 3, 3, 2}, 1, {2, 1}, {1, 2}, {1, 0, 2, 1}}, 10);  // strides, dilations, asym pads
  CheckConv({{1, 4, 5, 5}, {6, 2, 3, 3}, 2, {1, 1}, {}, {1, 1, 1, 1}}, 20);      // groups
  CheckConv({{1, 3, 6, 6}, {6, 1, 3, 3}, 3, {2, 2}, {}, {1, 1, 1, 1}}, 30);      // depthwise, multiplier 2
  CheckConv({{1, 4, 5, 5}, {4, 1, 3, 3}, 4, {1, 1}, {2, 2}, {2, 2, 2, 2}}, 35);  // depthwise, dilated
  CheckConv({{2, 5, 4, 3}, {7, 5, 1, 1}, 1, {}, {}, {}}, 40);                    // pointwise
  CheckConv({{1, 2, 9}, {3, 2, 4}, 1, {3}, {}, {2, 1}}, 50);                     // 1-D
  CheckConv({{1, 2, 4, 4, 3}, {2, 2, 2, 3, 2}, 1, {1, 2, 1}, {}, {0, 1, 1, 1, 0, 0}}, 60);  // 3-D
  CheckConv({{1, 1, 3, 3}, {2, 1, 3, 3}, 1, {}, {}, {5, 5, 5, 5}}, 70);          // pads wider than input
}

TEST(Conv, AutoPad) {
  // 5x5, k3 s2 SAME_UPPER -> 3x3 with pads 1,1 (equal to explicit pads 1).
  const std::vector<float> x = Random(25, 3), w = Random(9, 4);
  auto same = RunOp(OpType::kConv, {T_({1, 1, 5, 5}, x), T_({1, 1, 3, 3}, w)},
                    Attrs({{"auto_pad", std::string("SAME_UPPER")}, {"strides", std::vector<int64_t>{2, 2}}}));
  auto expl = RunOp(OpType::kConv, {T_({1, 1, 5, 5}, x), T_({1, 1, 3, 3}, w)},
                    Attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}, {"strides", std::vector<int64_t>{2, 2}}}));
  ASSERT_TRUE(same.ok() && expl.ok());
  ExpectTensor((*same)[0], {1, 1, 3, 3}, ToDouble((*expl)[0].ToFloatVector()));
  // k2 s1: one pad, at the end for SAME_UPPER, at the start for SAME_LOWER.
  for (auto [mode, pads] : {std::pair{"SAME_UPPER", std::vector<int64_t>{0, 0, 1, 1}},
                            std::pair{"SAME_LOWER", std::vector<int64_t>{1, 1, 0, 0}}}) {
    auto a = RunOp(OpType::kConv, {T_({1, 1, 5, 5}, x), T_({1, 1, 2, 2}, {1, 2, 3, 4})},
                   Attrs({{"auto_pad", std::string(mode)}}));
    auto b = RunOp(OpType::kConv, {T_({1, 1, 5, 5}, x), T_({1, 1, 2, 2}, {1, 2, 3, 4})}, Attrs({{"pads", pads}}));
    ASSERT_TRUE(a.ok() && b.ok()) << mode;
    ExpectTensor((*a)[0], {1, 1, 5, 5}, ToDouble((*b)[0].ToFloatVector()));
  }
  auto v = RunOp(OpType::kConv, {T_({1, 1, 5, 5}, x), T_({1, 1, 3, 3}, w)}, Attrs({{"auto_pad", std::string("VALID")}}));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(DimsToString((*v)[0].dims()), "1x1x3x3");
}

TEST(Conv, InferShapesAndErrors) {
  auto r = InferOp(OpType::kConv, {Spec{DType::kFloat32, Sym({"batch", "3", "224", "224"})}, Known({64, 3, 7, 7})},
                   Attrs({{"strides", std::vector<int64_t>{2, 2}}, {"pads", std::vector<int64_t>{3, 3, 3, 3}}}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "batchx64x112x112");
  r = InferOp(OpType::kConv, {Spec{DType::kFloat32, Sym({"N", "3", "H", "W"})}, Known({8, 3, 3, 3})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "Nx8x?x?");
  ExpectError(InferOp(OpType::kConv, {Known({1, 3, 8, 8}), Known({8, 3, 3})}), StatusCode::kInvalidInput,
              {"Conv 'n': weight has 3 dims, expected 4"});
  ExpectError(InferOp(OpType::kConv, {Known({1, 4, 8, 8}), Known({8, 3, 3, 3})}), StatusCode::kInvalidInput,
              {"Conv 'n'", "4 channels", "3 per group"});
  ExpectError(InferOp(OpType::kConv, {Known({1, 4, 8, 8}), Known({6, 1, 3, 3})}, Attrs({{"group", int64_t{4}}})),
              StatusCode::kInvalidInput, {"6 output channels, not divisible by group 4"});
  ExpectError(InferOp(OpType::kConv, {Known({1, 3, 8, 8}), Known({8, 3, 3, 3}), Known({4})}),
              StatusCode::kInvalidInput, {"bias has shape 4, expected [8]"});
  ExpectError(InferOp(OpType::kConv, {Known({1, 3, 8, 8}), Known({8, 3, 3, 3})},
                      Attrs({{"pads", std::vector<int64_t>{1, 1}}})),
              StatusCode::kInvalidInput, {"pads has 2 values", "expected 4"});
  ExpectError(InferOp(OpType::kConv, {Known({1, 3, 8, 8}), Known({8, 3, 3, 3})},
                      Attrs({{"strides", std::vector<int64_t>{0, 1}}})),
              StatusCode::kInvalidInput, {"strides has value 0"});
  ExpectError(InferOp(OpType::kConv, {Known({1, 3, 8, 8}), Known({8, 3, 3, 3})},
                      Attrs({{"auto_pad", std::string("SAME")}})),
              StatusCode::kInvalidInput, {"auto_pad is 'SAME'"});
  ExpectError(InferOp(OpType::kConv, {Known({1, 3, 2, 8}), Known({8, 3, 3, 3})}), StatusCode::kInvalidInput,
              {"spatial dim 0 has size 2", "kernel window 3"});
  ExpectError(InferOp(OpType::kConv, {Known({1, 3, 8, 8}), Known({8, 3, 3, 3})},
                      Attrs({{"kernel_shape", std::vector<int64_t>{2, 2}}})),
              StatusCode::kInvalidInput, {"kernel_shape is 2x2", "3x3"});
}

TEST(Conv, ZeroBatch) {
  auto r = RunOp(OpType::kConv, {T_({0, 2, 4, 4}, {}), T_({3, 2, 3, 3}, Random(54, 5))});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(DimsToString((*r)[0].dims()), "0x3x2x2");
}

// ---- ConvTranspose ----

struct ConvTCase {
  Dims x, w;
  int64_t group = 1;
  std::vector<int64_t> strides, dilations, pads, output_padding;
};

// y[n, m, i·s - p + k·d] += x[n, c, i]·w[c, m', k] over 1-D/2-D, with bias.
void CheckConvTranspose(const ConvTCase& c, uint32_t seed) {
  const size_t r = c.x.size() - 2;
  const int64_t n = c.x[0], ch = c.x[1], mg = c.w[1], m = mg * c.group, cg = ch / c.group;
  std::vector<int64_t> s(r, 1), d(r, 1), p(2 * r, 0), op(r, 0), out(r);
  if (!c.strides.empty()) s = c.strides;
  if (!c.dilations.empty()) d = c.dilations;
  if (!c.pads.empty()) p = c.pads;
  if (!c.output_padding.empty()) op = c.output_padding;
  for (size_t i = 0; i < r; ++i) out[i] = s[i] * (c.x[2 + i] - 1) + op[i] + (c.w[2 + i] - 1) * d[i] + 1 - p[i] - p[r + i];
  const std::vector<float> x = Random(ElementCount(c.x), seed), w = Random(ElementCount(c.w), seed + 1),
                           b = Random(static_cast<size_t>(m), seed + 2);
  const int64_t ih = r == 2 ? c.x[2] : 1, iw = c.x[1 + r], kh = r == 2 ? c.w[2] : 1, kw = c.w[1 + r];
  const int64_t oh = r == 2 ? out[0] : 1, ow = out[r - 1];
  const int64_t sh = r == 2 ? s[0] : 1, sw = s[r - 1], dh = r == 2 ? d[0] : 1, dw = d[r - 1];
  const int64_t ph = r == 2 ? p[0] : 0, pw = p[r - 1];
  std::vector<double> y(static_cast<size_t>(n * m * oh * ow));
  for (int64_t bi = 0; bi < n; ++bi)
    for (int64_t mi = 0; mi < m; ++mi)
      for (int64_t i = 0; i < oh * ow; ++i) y[(bi * m + mi) * oh * ow + i] = b[mi];
  for (int64_t bi = 0; bi < n; ++bi)
    for (int64_t ci = 0; ci < ch; ++ci)
      for (int64_t mj = 0; mj < mg; ++mj)
        for (int64_t a = 0; a < ih; ++a)
          for (int64_t e = 0; e < iw; ++e)
            for (int64_t ka = 0; ka < kh; ++ka)
              for (int64_t ke = 0; ke < kw; ++ke) {
                const int64_t ya = a * sh - ph + ka * dh, ye = e * sw - pw + ke * dw;
                if (ya < 0 || ya >= oh || ye < 0 || ye >= ow) continue;
                const int64_t mi = (ci / cg) * mg + mj;
                y[((bi * m + mi) * oh + ya) * ow + ye] +=
                    x[((bi * ch + ci) * ih + a) * iw + e] * w[((ci * mg + mj) * kh + ka) * kw + ke];
              }
  Attributes attrs;
  attrs.set("group", c.group);
  if (!c.strides.empty()) attrs.set("strides", c.strides);
  if (!c.dilations.empty()) attrs.set("dilations", c.dilations);
  if (!c.pads.empty()) attrs.set("pads", c.pads);
  if (!c.output_padding.empty()) attrs.set("output_padding", c.output_padding);
  auto res = RunOp(OpType::kConvTranspose, {T_(c.x, x), T_(c.w, w), T_({m}, b)}, attrs);
  ASSERT_TRUE(res.ok()) << res.status().message();
  Dims want{n, m};
  want.insert(want.end(), out.begin(), out.end());
  ExpectTensor((*res)[0], want, y, 1e-5, 1e-4);
}

TEST(ConvTranspose, OnnxExample) {
  auto r = RunOp(OpType::kConvTranspose, {T_({1, 1, 3, 3}, Iota(9)), T_({1, 2, 3, 3}, std::vector<float>(18, 1))});
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::vector<double> plane = {0, 1, 3, 3, 2, 3, 8, 15, 12, 7, 9, 21, 36, 27, 15, 9, 20, 33, 24, 13, 6, 13, 21, 15, 8};
  std::vector<double> want = plane;
  want.insert(want.end(), plane.begin(), plane.end());
  ExpectTensor((*r)[0], {1, 2, 5, 5}, want);
}

TEST(ConvTranspose, MatchesDirectDefinition) {
  CheckConvTranspose({{1, 2, 3, 4}, {2, 3, 3, 2}, 1, {2, 3}, {}, {1, 0, 1, 1}, {1, 2}}, 100);
  CheckConvTranspose({{2, 4, 3, 3}, {4, 1, 2, 2}, 2, {1, 1}, {2, 1}, {}, {}}, 110);
  CheckConvTranspose({{1, 2, 5}, {2, 2, 3}, 1, {2}, {}, {1, 1}, {1}}, 120);
}

TEST(ConvTranspose, OutputShapeAndAutoPad) {
  // x 3x3, k3, s2: full size 7; output_shape 6 -> total pad 1, begin 1 (NOTSET), end 0.
  const std::vector<float> x = Random(9, 7), w = Random(9, 8);
  auto a = RunOp(OpType::kConvTranspose, {T_({1, 1, 3, 3}, x), T_({1, 1, 3, 3}, w)},
                 Attrs({{"strides", std::vector<int64_t>{2, 2}}, {"output_shape", std::vector<int64_t>{6, 6}}}));
  auto b = RunOp(OpType::kConvTranspose, {T_({1, 1, 3, 3}, x), T_({1, 1, 3, 3}, w)},
                 Attrs({{"strides", std::vector<int64_t>{2, 2}}, {"pads", std::vector<int64_t>{1, 1, 0, 0}}}));
  ASSERT_TRUE(a.ok() && b.ok()) << a.status().message();
  ExpectTensor((*a)[0], {1, 1, 6, 6}, ToDouble((*b)[0].ToFloatVector()));
  // SAME_UPPER: output in·stride = 6, the extra pad at the end.
  auto c = RunOp(OpType::kConvTranspose, {T_({1, 1, 3, 3}, x), T_({1, 1, 3, 3}, w)},
                 Attrs({{"strides", std::vector<int64_t>{2, 2}}, {"auto_pad", std::string("SAME_UPPER")}}));
  auto d = RunOp(OpType::kConvTranspose, {T_({1, 1, 3, 3}, x), T_({1, 1, 3, 3}, w)},
                 Attrs({{"strides", std::vector<int64_t>{2, 2}}, {"pads", std::vector<int64_t>{0, 0, 1, 1}}}));
  ASSERT_TRUE(c.ok() && d.ok());
  ExpectTensor((*c)[0], {1, 1, 6, 6}, ToDouble((*d)[0].ToFloatVector()));
}

TEST(ConvTranspose, InferErrors) {
  auto r = InferOp(OpType::kConvTranspose, {Spec{DType::kFloat32, Sym({"N", "8", "16", "16"})}, Known({8, 4, 2, 2})},
                   Attrs({{"strides", std::vector<int64_t>{2, 2}}, {"group", int64_t{2}}}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "Nx8x32x32");
  ExpectError(InferOp(OpType::kConvTranspose, {Known({1, 3, 4, 4}), Known({4, 2, 3, 3})}), StatusCode::kInvalidInput,
              {"ConvTranspose 'n'", "3 channels", "weight has 4"});
  ExpectError(InferOp(OpType::kConvTranspose, {Known({1, 3, 4, 4}), Known({3, 2, 3, 3})},
                      Attrs({{"output_padding", std::vector<int64_t>{1, 1}}})),
              StatusCode::kInvalidInput, {"output_padding 1 is out of range"});
  // output_shape beyond the full transposed size (6) extends the output, as ONNX allows.
  auto big = InferOp(OpType::kConvTranspose, {Known({1, 3, 4, 4}), Known({3, 2, 3, 3})},
                     Attrs({{"output_shape", std::vector<int64_t>{20, 20}}}));
  ASSERT_TRUE(big.ok()) << big.status().message();
  EXPECT_EQ(ShapeToString(*(*big)[0].shape), "1x2x20x20");
}

// ---- pooling ----

TEST(Pool, MaxPoolWithIndices) {
  Tensor x = T_({1, 1, 4, 4}, Iota(16, 1));
  auto r = RunOp(OpType::kMaxPool, {x},
                 Attrs({{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}}), 2);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {1, 1, 2, 2}, {6, 8, 14, 16});
  ExpectTensor((*r)[1], {1, 1, 2, 2}, {5, 7, 13, 15});
  EXPECT_EQ((*r)[1].dtype(), DType::kInt64);
  r = RunOp(OpType::kMaxPool, {T_({1, 2, 2, 2}, {1, 2, 3, 4, 8, 7, 6, 5})},
            Attrs({{"kernel_shape", std::vector<int64_t>{2, 2}}, {"storage_order", int64_t{1}}}), 2);
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {1, 2, 1, 1}, {4, 8});
  ExpectTensor((*r)[1], {1, 2, 1, 1}, {3, 4});  // (1,1) -> 1 + 1·2; channel 1 (0,0) -> 4 + 0
}

TEST(Pool, MaxPoolCeilDilationsPadsAndUint8) {
  auto r = RunOp(OpType::kMaxPool, {T_({1, 1, 4, 4}, Iota(16, 1))},
                 Attrs({{"kernel_shape", std::vector<int64_t>{3, 3}}, {"strides", std::vector<int64_t>{2, 2}},
                        {"ceil_mode", int64_t{1}}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {1, 1, 2, 2}, {11, 12, 15, 16});
  r = RunOp(OpType::kMaxPool, {T_({1, 1, 5}, {1, 3, 2, 5, 4})},
            Attrs({{"kernel_shape", std::vector<int64_t>{2}}, {"dilations", std::vector<int64_t>{2}}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {1, 1, 3}, {2, 5, 4});
  r = RunOp(OpType::kMaxPool, {T_({1, 1, 3}, {-1, -2, -3})},
            Attrs({{"kernel_shape", std::vector<int64_t>{2}}, {"pads", std::vector<int64_t>{1, 1}}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {1, 1, 4}, {-1, -1, -2, -3});  // padding never wins
  r = RunOp(OpType::kMaxPool, {T_<uint8_t>({1, 1, 4}, {1, 200, 3, 4})}, Attrs({{"kernel_shape", std::vector<int64_t>{2}}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {1, 1, 3}, {200, 200, 4});
}

TEST(Pool, AveragePoolPadsAndCeil) {
  Tensor x = T_({1, 1, 3, 3}, Iota(9, 1));
  Attributes a = Attrs({{"kernel_shape", std::vector<int64_t>{3, 3}}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  auto r = RunOp(OpType::kAveragePool, {x}, a);
  ASSERT_TRUE(r.ok()) << r.status().message();
  // corner: (1+2+4+5)/4; edge: (1+2+3+4+5+6)/6; center: 45/9
  ExpectTensor((*r)[0], {1, 1, 3, 3}, {3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7});
  a.set("count_include_pad", int64_t{1});
  r = RunOp(OpType::kAveragePool, {x}, a);
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {1, 1, 3, 3}, {12 / 9.0, 21 / 9.0, 16 / 9.0, 27 / 9.0, 5, 33 / 9.0, 24 / 9.0, 39 / 9.0, 28 / 9.0});
  // ceil_mode: the last window is cut by the input end and averages what it covers.
  r = RunOp(OpType::kAveragePool, {T_({1, 1, 5}, {1, 2, 3, 4, 5})},
            Attrs({{"kernel_shape", std::vector<int64_t>{2}}, {"strides", std::vector<int64_t>{2}},
                   {"ceil_mode", int64_t{1}}, {"count_include_pad", int64_t{1}}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {1, 1, 3}, {1.5, 3.5, 5});
  r = RunOp(OpType::kAveragePool, {T_({1, 1, 5}, {1, 2, 3, 4, 5})},
            Attrs({{"kernel_shape", std::vector<int64_t>{2}}, {"auto_pad", std::string("SAME_UPPER")},
                   {"strides", std::vector<int64_t>{2}}}));
  ASSERT_TRUE(r.ok());
  ExpectTensor((*r)[0], {1, 1, 3}, {1.5, 3.5, 5});
}

TEST(Pool, GlobalAveragePool) {
  auto r = RunOp(OpType::kGlobalAveragePool, {T_({1, 2, 2, 2}, {1, 2, 3, 4, 10, 20, 30, 40})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectTensor((*r)[0], {1, 2, 1, 1}, {2.5, 25});
  auto inf = InferOp(OpType::kGlobalAveragePool, {Spec{DType::kFloat32, Sym({"N", "C", "H", "W"})}});
  ASSERT_TRUE(inf.ok());
  EXPECT_EQ(ShapeToString(*(*inf)[0].shape), "NxCx1x1");
  ExpectError(InferOp(OpType::kGlobalAveragePool, {Known({2, 3})}), StatusCode::kInvalidInput,
              {"GlobalAveragePool 'n'", "at least 3 dims"});
}

TEST(Pool, InferShapesAndErrors) {
  auto r = InferOp(OpType::kMaxPool, {Spec{DType::kFloat32, Sym({"N", "64", "112", "112"})}},
                   Attrs({{"kernel_shape", std::vector<int64_t>{3, 3}}, {"strides", std::vector<int64_t>{2, 2}},
                          {"pads", std::vector<int64_t>{1, 1, 1, 1}}}),
                   2);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(ShapeToString(*(*r)[0].shape), "Nx64x56x56");
  EXPECT_EQ((*r)[1].dtype, DType::kInt64);
  ExpectError(InferOp(OpType::kMaxPool, {Known({1, 1, 4, 4})}), StatusCode::kInvalidInput,
              {"MaxPool 'n'", "kernel_shape is missing"});
  ExpectError(InferOp(OpType::kAveragePool, {Known({1, 1, 4, 4})}, Attrs({{"kernel_shape", std::vector<int64_t>{2}}})),
              StatusCode::kInvalidInput, {"AveragePool 'n'", "kernel_shape has 1 values", "expected 2"});
  ExpectError(InferOp(OpType::kAveragePool, {Known({1, 1, 4, 4}, DType::kInt32)},
                      Attrs({{"kernel_shape", std::vector<int64_t>{2, 2}}})),
              StatusCode::kInvalidInput, {"int32"});
}

}  // namespace
}  // namespace squint::ir::testing
