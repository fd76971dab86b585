// BatchNormalization folding into the producing Conv, ConvTranspose, Gemm or squint.Linear.
//
//   before:  x -> Conv(W, b) -> z -> BatchNormalization(γ, β, μ, σ²) -> y
//   after:   x -> Conv(W', b') -> y
//
// Inference BN is per-channel affine: y = s·z + (β − μ·s) with s = γ/√(σ²+ε). Per output
// channel c (Conv: dim 0 of W; Gemm/Linear: the output column n):
//   W'[c] = W[c]·s[c]          b'[c] = (b[c] − μ[c])·s[c] + β[c]      (b = 0 when absent)
// ConvTranspose (W [C_in, C_out/g, k...], group g): output channel c = g·(C_out/g) + j is
// column j of the rows of group g, so W'[i, j] = W[i, j]·s[(i / (C_in/g))·(C_out/g) + j].
// Gemm: Y = α·A·op(B) + β_g·C, so op(B)'s columns are scaled, C' = β_g·C·s + β − μ·s
// (C of one element or one row of N), and β_g becomes 1. squint.Linear folds only when
// its output is 2-D ([M, N]: BN's channel dim 1 is the Linear's output dim).
// Conditions: z has no reader other than the BN and is not a graph output (the unfolded
// z would otherwise be lost); BN is in inference mode (training_mode 0, extra outputs
// unused); weights and BN parameters are float constants. New weights are new constants
// (the old ones may be shared and are left to dead-code elimination). The BN output value
// y survives, so names of graph outputs are kept.
#include <cmath>

#include "passes/graph_edit.h"
#include "passes/pass.h"
#include "passes/pattern_pass.h"

namespace squint::passes {
namespace {

using ir::Graph;
using ir::Node;
using ir::OpType;
using ir::Tensor;
using ir::ValueId;

struct Match {
  int32_t bn = -1, producer = -1;
  std::vector<double> scale, shift;  // y = scale·z + shift, per channel
};

// s = γ/√(σ²+ε), t = β − μ·s, when all BN parameters are float constants of `channels`.
bool BnAffine(const Graph& g, const Node& bn, Match& m) {
  std::optional<std::vector<float>> p[4];
  for (size_t i = 0; i < 4; ++i) {
    p[i] = FloatValues(g, bn.input(i + 1));
    if (!p[i] || p[i]->size() != p[0]->size() || p[i]->empty()) return false;
  }
  const double eps = bn.attrs.GetFloat("epsilon", 1e-5f);
  const size_t c = p[0]->size();
  m.scale.resize(c);
  m.shift.resize(c);
  for (size_t k = 0; k < c; ++k) {
    const double var = (*p[3])[k];
    if (!(var + eps > 0)) return false;
    m.scale[k] = (*p[0])[k] / std::sqrt(var + eps);
    m.shift[k] = (*p[1])[k] - (*p[2])[k] * m.scale[k];
  }
  return true;
}

// Output channel count of a producer the BN can fold into, 0 when it cannot.
int64_t FoldableChannels(const Graph& g, const Node& p) {
  switch (p.op) {
    case OpType::kConv: {
      if (!Float32Constant(g, p.input(1)) || g.constant(p.input(1))->rank() < 3) return 0;
      if (p.input(2) != ir::kNoValue && !Float32Constant(g, p.input(2))) return 0;
      return g.constant(p.input(1))->dim(0);
    }
    case OpType::kConvTranspose: {
      if (!Float32Constant(g, p.input(1)) || g.constant(p.input(1))->rank() < 3) return 0;
      if (p.input(2) != ir::kNoValue && !Float32Constant(g, p.input(2))) return 0;
      const Tensor& w = *g.constant(p.input(1));
      const int64_t group = p.attrs.GetInt("group", 1);
      if (group < 1 || w.dim(0) % group != 0) return 0;
      return w.dim(1) * group;
    }
    case OpType::kGemm: {
      if (!Float32Constant(g, p.input(1)) || g.constant(p.input(1))->rank() != 2) return 0;
      const int64_t n = g.constant(p.input(1))->dim(p.attrs.GetInt("transB", 0) ? 0 : 1);
      if (p.input(2) != ir::kNoValue) {
        const Tensor* c = Float32Constant(g, p.input(2));
        if (!c) return 0;
        const bool row = c->size() == n && (c->rank() == 1 || (c->rank() == 2 && c->dim(0) == 1));
        if (c->size() != 1 && !row) return 0;
      }
      return n;
    }
    case OpType::kLinear: {
      if (!Float32Constant(g, p.input(1)) || g.constant(p.input(1))->rank() != 2) return 0;
      if (p.input(2) != ir::kNoValue && !Float32Constant(g, p.input(2))) return 0;
      if (KnownRank(g, p.input(0)) != 2) return 0;  // BN's channel dim must be Linear's N
      return g.constant(p.input(1))->dim(1);
    }
    default: return 0;
  }
}

std::optional<Match> MatchBn(const Graph& g, const GraphIndex& index, int32_t i) {
  const Node& bn = g.nodes[static_cast<size_t>(i)];
  if (bn.op != OpType::kBatchNormalization || bn.inputs.size() != 5) return std::nullopt;
  if (bn.attrs.GetInt("training_mode", 0) != 0) return std::nullopt;
  for (size_t o = 1; o < bn.outputs.size(); ++o)
    if (bn.outputs[o] != ir::kNoValue && index.Uses(bn.outputs[o]) > 0) return std::nullopt;
  const ValueId z = bn.input(0);
  if (!index.SingleUse(z)) return std::nullopt;
  const int32_t pi = index.ProducerIndex(z);
  if (pi < 0) return std::nullopt;
  const Node& p = g.nodes[static_cast<size_t>(pi)];
  if (p.outputs.empty() || p.outputs[0] != z) return std::nullopt;
  Match m{i, pi, {}, {}};
  if (!BnAffine(g, bn, m)) return std::nullopt;
  const int64_t channels = FoldableChannels(g, p);
  if (channels <= 0 || static_cast<size_t>(channels) != m.scale.size()) return std::nullopt;
  return m;
}

// Multiplies the weight's slices along `axis` (0: rows / output channels, 1: columns).
Tensor ScaleWeight(const Tensor& w, int axis, const std::vector<double>& s) {
  Tensor out(ir::DType::kFloat32, w.dims());
  const float* src = w.data<float>();
  float* dst = out.data<float>();
  const int64_t rows = w.dim(0), cols = w.size() / std::max<int64_t>(rows, 1);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t k = r * cols + c;
      dst[k] = static_cast<float>(src[k] * s[static_cast<size_t>(axis == 0 ? r : c)]);
    }
  return out;
}

// ConvTranspose weight [C_in, C_out/g, k...]: element (i, j, ·) scaled by s of output channel
// (i / (C_in/g))·(C_out/g) + j.
Tensor ScaleConvTransposeWeight(const Tensor& w, int64_t group, const std::vector<double>& s) {
  Tensor out(ir::DType::kFloat32, w.dims());
  const float* src = w.data<float>();
  float* dst = out.data<float>();
  const int64_t cin = w.dim(0), cout_g = w.dim(1), cin_g = cin / group;
  const int64_t plane = cin > 0 && cout_g > 0 ? w.size() / (cin * cout_g) : 0;
  for (int64_t i = 0; i < cin; ++i)
    for (int64_t j = 0; j < cout_g; ++j) {
      const double f = s[static_cast<size_t>((i / cin_g) * cout_g + j)];
      for (int64_t k = 0; k < plane; ++k) {
        const int64_t e = (i * cout_g + j) * plane + k;
        dst[e] = static_cast<float>(src[e] * f);
      }
    }
  return out;
}

Status Rewrite(GraphEditor& e, const Match& m) {
  const Graph& g = e.graph();
  Node p = g.nodes[static_cast<size_t>(m.producer)];
  const Node& bn = g.nodes[static_cast<size_t>(m.bn)];
  const size_t c = m.scale.size();
  const Tensor& w = *g.constant(p.input(1));
  int axis = 0;
  if (p.op == OpType::kGemm) axis = p.attrs.GetInt("transB", 0) ? 0 : 1;
  if (p.op == OpType::kLinear) axis = 1;
  Tensor new_w = p.op == OpType::kConvTranspose
                     ? ScaleConvTransposeWeight(w, p.attrs.GetInt("group", 1), m.scale)
                     : ScaleWeight(w, axis, m.scale);

  // Old bias per channel (Gemm: β_g·C broadcast), then b' = b·s + t.
  std::vector<double> bias(c, 0.0);
  if (const Tensor* b = g.constant(p.input(2))) {
    const double beta_g = p.op == OpType::kGemm ? p.attrs.GetFloat("beta", 1.0f) : 1.0;
    const std::vector<float> bv = b->ToFloatVector();
    for (size_t k = 0; k < c; ++k) bias[k] = beta_g * bv[bv.size() == 1 ? 0 : k];
  }
  std::vector<float> new_b(c);
  for (size_t k = 0; k < c; ++k) new_b[k] = static_cast<float>(bias[k] * m.scale[k] + m.shift[k]);

  const std::string base = p.name.empty() ? g.value(p.outputs[0]).name : p.name;
  const ValueId w_id = e.AddConstant(base + "_bn_weight", std::move(new_w));
  const ValueId b_id =
      e.AddConstant(base + "_bn_bias", Tensor::FromVector<float>({static_cast<int64_t>(c)}, new_b));
  if (p.inputs.size() < 3) p.inputs.resize(3, ir::kNoValue);
  p.inputs[1] = w_id;
  p.inputs[2] = b_id;
  if (p.op == OpType::kGemm) p.attrs.set("beta", 1.0f);
  p.outputs[0] = bn.outputs[0];
  e.Erase(m.bn);
  e.SetNode(m.producer, std::move(p));
  return Status::Ok();
}

class FoldBatchNorm : public Pass {
 public:
  std::string_view name() const override { return "fold_batch_norm"; }
  Result<int> Run(Graph& g) override {
    return RewriteAll<Match>(g, {OpType::kBatchNormalization}, MatchBn, Rewrite);
  }
};

}  // namespace

std::unique_ptr<Pass> MakeFoldBatchNorm() { return std::make_unique<FoldBatchNorm>(); }

}  // namespace squint::passes
