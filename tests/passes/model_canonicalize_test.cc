// Canonicalization of the bundled test models (tests/data/models, made by
// tools/models/train.py): every decomposition the exporters emit is fused, the op counts
// follow the architecture in meta.json, and outputs are unchanged on validation samples.
#include <fstream>
#include <iostream>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "importers/onnx/onnx_importer.h"
#include "ir/npy.h"
#include "passes/online_hadamard.h"
#include "passes/pipeline.h"
#include "passes/rotate_residual.h"
#include "tests/passes/pass_test_util.h"

namespace squint::passes::testing {
namespace {

const std::string kModels = std::string(SQUINT_SOURCE_DIR) + "/tests/data/models/";
constexpr int64_t kSamples = 4;

struct ModelCase {
  std::string family;  // folder and meta.json
  std::string file;    // .onnx inside it
  std::string data;    // folder holding val_x.npy
};

std::ostream& operator<<(std::ostream& os, const ModelCase& c) { return os << c.file; }

std::map<OpType, int> OpCounts(const Graph& g) {
  std::map<OpType, int> c;
  for (const ir::Node& n : g.nodes) ++c[n.op];
  return c;
}

// First kSamples rows of val_x.npy.
Result<Tensor> ValidationBatch(const std::string& data) {
  SQ_ASSIGN_OR_RETURN(Tensor all, ir::ReadNpy(kModels + data + "/val_x.npy"));
  Dims dims = all.dims();
  dims[0] = std::min<int64_t>(dims[0], kSamples);
  Tensor out(all.dtype(), dims);
  std::memcpy(out.raw(), all.raw(), out.bytes());
  return out;
}

// `after` computes what `before` computes on the first validation samples (1e-4 relative).
void ExpectSameOutputs(const Graph& before, const Graph& after, const std::string& data) {
  auto x = ValidationBatch(data);
  ASSERT_TRUE(x.ok()) << x.status().message();
  std::vector<Tensor> in = {*x};
  auto want = ir::eval::Evaluator(before).Run(in);
  ASSERT_TRUE(want.ok()) << want.status().message();
  auto got = ir::eval::Evaluator(after).Run(in);
  ASSERT_TRUE(got.ok()) << got.status().message();
  ASSERT_EQ(got->size(), want->size());
  for (size_t o = 0; o < want->size(); ++o) ExpectClose((*got)[o], (*want)[o], 1e-4, fmt::format("output {}", o));
}

class ModelCanonicalize : public ::testing::TestWithParam<ModelCase> {};

// The bundled model of c, imported and canonicalized.
Result<Graph> CanonicalModel(const ModelCase& c) {
  SQ_ASSIGN_OR_RETURN(Graph g, importers::ImportOnnxFile(kModels + c.family + "/" + c.file));
  SQ_RETURN_IF_ERROR(Canonicalize(g).status());
  return g;
}

TEST_P(ModelCanonicalize, FusesAndKeepsOutputs) {
  const ModelCase& c = GetParam();
  const std::string path = kModels + c.family + "/" + c.file;
  ASSERT_TRUE(std::ifstream(path).good()) << path << " is missing: the bundled models are part of the tree";
  std::ifstream meta_file(kModels + c.family + "/meta.json");
  ASSERT_TRUE(meta_file.good());
  const nlohmann::json meta = nlohmann::json::parse(meta_file);

  auto imported = importers::ImportOnnxFile(path);
  ASSERT_TRUE(imported.ok()) << imported.status().message();
  Graph g = std::move(imported).value();
  const Graph before = g;
  auto report = Canonicalize(g);
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_TRUE(report->converged);
  ExpectSameOutputs(before, g, c.data);
  std::string fired;
  for (const auto& [name, count] : report->fired) fired += fmt::format(" {}={}", name, count);
  SCOPED_TRACE("fired:" + fired);

  std::map<OpType, int> ops = OpCounts(g);
  // Nothing the quantizer cannot see as one op is left.
  for (OpType op : {OpType::kIdentity, OpType::kDropout, OpType::kBatchNormalization, OpType::kErf, OpType::kPow,
                    OpType::kReduceMean, OpType::kSqrt, OpType::kClip, OpType::kGemm, OpType::kConstant})
    EXPECT_EQ(ops[op], 0) << ir::OpName(op);

  if (meta.contains("architecture") && meta["architecture"].contains("depth")) {
    // Transformers (pre-LN): two LayerNorms per block and a final one; one GELU per block;
    // four dense layers per block (qkv, out projection, fc1, fc2) and the head.
    const int depth = meta["architecture"]["depth"].get<int>();
    EXPECT_EQ(ops[OpType::kLayerNormalization], 2 * depth + 1);
    EXPECT_EQ(ops[OpType::kGelu], depth);
    EXPECT_EQ(ops[OpType::kLinear], 4 * depth + 1);
    EXPECT_EQ(ops[OpType::kSoftmax], depth);
    EXPECT_EQ(ops[OpType::kMatMul], 2 * depth);  // Q·Kᵀ and P·V: activations on both sides
    for (const ir::Node& n : g.nodes) {
      if (n.op != OpType::kSoftmax) continue;
      if (meta.contains("clipped_softmax")) {
        EXPECT_NEAR(n.attrs.GetFloat("zeta", 0), meta["clipped_softmax"]["zeta"].get<double>(), 1e-6) << n.name;
        EXPECT_NEAR(n.attrs.GetFloat("gamma", 0), meta["clipped_softmax"]["gamma"].get<double>(), 1e-6) << n.name;
      } else {
        EXPECT_FALSE(n.attrs.has("zeta")) << n.name;
      }
    }
  } else {
    // cnn_small: 6 Conv (+ BN folded in the _bn export), Gemm head as Linear.
    EXPECT_EQ(ops[OpType::kConv], 6);
    EXPECT_EQ(ops[OpType::kLinear], 1);
  }
}

// The online Hadamard rotation (passes/online_hadamard.h) on the canonical model: every
// Linear of these models has a block >= 8, outputs unchanged within 1e-4 relative.
TEST_P(ModelCanonicalize, OnlineHadamardKeepsOutputs) {
  const ModelCase& c = GetParam();
  auto canonical = CanonicalModel(c);
  ASSERT_TRUE(canonical.ok()) << canonical.status().message();
  Graph g = std::move(canonical).value();
  const Graph before = g;
  for (bool signs : {false, true}) {
    g = before;
    OnlineHadamardOptions opts;
    opts.random_signs = signs;
    auto report = OnlineHadamard(g, opts);
    ASSERT_TRUE(report.ok()) << report.status().message();
    ASSERT_TRUE(ir::Verify(g).ok()) << ir::Verify(g).message();
    std::string skipped;
    for (const auto& s : report->skipped) skipped += fmt::format(" {}: {};", s.linear, s.reason);
    EXPECT_EQ(report->linears(), CountOps(g, OpType::kLinear)) << "skipped:" << skipped;
    EXPECT_EQ(CountOps(g, OpType::kHadamard), static_cast<int>(report->transformed.size()));
    ExpectSameOutputs(before, g, c.data);
  }
}

// The residual-stream rotation (passes/rotate_residual.h): every transformer's stream is found
// whole (all its LayerNorms become RMSNorms) and the outputs stay within 1e-4 relative; the CNN
// has no LayerNorm and is left alone.
TEST_P(ModelCanonicalize, RotateResidualKeepsOutputs) {
  const ModelCase& c = GetParam();
  auto canonical = CanonicalModel(c);
  ASSERT_TRUE(canonical.ok()) << canonical.status().message();
  Graph g = std::move(canonical).value();
  const Graph before = g;
  const int norms = CountOps(g, OpType::kLayerNormalization);
  auto report = RotateResidual(g);
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_TRUE(ir::Verify(g).ok()) << ir::Verify(g).message();
  std::string rejected;
  for (const std::string& r : report->rejected) rejected += " " + r;
  if (norms == 0) {
    EXPECT_TRUE(report->rotated.empty());
  } else {
    ASSERT_EQ(report->rotated.size(), 1u) << "rejected:" << rejected;
    EXPECT_EQ(report->rotated[0].norms, norms);
    EXPECT_EQ(CountOps(g, OpType::kRMSNorm), norms);
  }
  ExpectSameOutputs(before, g, c.data);
}

// The purpose of the rotation: the activations entering the Linears lose their outliers. Over
// all rotated values of the model, the mean peak-to-RMS ratio max|x| / rms(x) (per tensor, on
// the validation samples) drops. With random signs, as squint quantize uses it: without them
// the all-ones row of H gathers the mean of a non-negative input (cnn_small's pooled ReLU
// features) into one channel, and the ratio rises (3.11 -> 7.12).
TEST_P(ModelCanonicalize, OnlineHadamardFlattensLinearInputs) {
  const ModelCase& c = GetParam();
  auto canonical = CanonicalModel(c);
  ASSERT_TRUE(canonical.ok()) << canonical.status().message();
  Graph g = std::move(canonical).value();
  OnlineHadamardOptions opts;
  opts.random_signs = true;
  auto report = OnlineHadamard(g, opts);
  ASSERT_TRUE(report.ok()) << report.status().message();
  for (const ir::Node& n : g.nodes)
    if (n.op == OpType::kHadamard) g.outputs.insert(g.outputs.end(), {n.inputs[0], n.outputs[0]});
  auto x = ValidationBatch(c.data);
  ASSERT_TRUE(x.ok()) << x.status().message();
  const std::vector<Tensor> in = {*x};
  auto out = ir::eval::Evaluator(g).Run(in);
  ASSERT_TRUE(out.ok()) << out.status().message();
  auto peak_to_rms = [](const Tensor& t) {
    double peak = 0, sq = 0;
    for (float v : t.ToFloatVector()) peak = std::max(peak, std::abs(double{v})), sq += double{v} * v;
    return peak / std::sqrt(sq / static_cast<double>(t.size()));
  };
  const size_t first = out->size() - 2 * report->transformed.size();
  double before = 0, after = 0;
  for (size_t i = first; i < out->size(); i += 2) {
    before += peak_to_rms((*out)[i]);
    after += peak_to_rms((*out)[i + 1]);
  }
  const double n = static_cast<double>(report->transformed.size());
  std::cout << fmt::format("{}: {} rotated values, mean max|x|/rms(x) {:.2f} -> {:.2f}\n", c.file, n, before / n,
                           after / n);
  EXPECT_LT(after, before);
}

INSTANTIATE_TEST_SUITE_P(
    Zoo, ModelCanonicalize,
    ::testing::Values(ModelCase{"vit_tiny", "vit_tiny_op13.onnx", "fashion_mnist"},
                      ModelCase{"vit_tiny", "vit_tiny_op17.onnx", "fashion_mnist"},
                      ModelCase{"vit_tiny_clipped", "vit_tiny_clipped_op13.onnx", "fashion_mnist"},
                      ModelCase{"vit_tiny_clipped", "vit_tiny_clipped_op17.onnx", "fashion_mnist"},
                      ModelCase{"gpt_tiny", "gpt_tiny_op13.onnx", "gpt_tiny"},
                      ModelCase{"gpt_tiny", "gpt_tiny_op17.onnx", "gpt_tiny"},
                      ModelCase{"cnn_small", "cnn_small_op13.onnx", "fashion_mnist"},
                      ModelCase{"cnn_small", "cnn_small_op17.onnx", "fashion_mnist"},
                      ModelCase{"cnn_small", "cnn_small_bn_op13.onnx", "fashion_mnist"}),
    [](const ::testing::TestParamInfo<ModelCase>& info) {
      std::string n = info.param.file.substr(0, info.param.file.find('.'));
      return n;
    });

}  // namespace
}  // namespace squint::passes::testing
