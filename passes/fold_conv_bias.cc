// A per-channel constant Add after a Conv or ConvTranspose becomes the layer's bias.
//
//   before:  x -> Conv(W, b) -> z -> Add(z, c) -> y        (or Add(c, z); Paddle exports
//                                                           ConvTranspose's bias this way)
//   after:   x -> Conv(W, b') -> y,   b'[k] = b[k] + c[k]  (b = 0 when absent)
//
// c is a float constant that varies at most along the output's channel axis 1: after
// NumPy alignment to the output rank r (= weight rank), every dim is 1 except dim 1, which is
// 1 or C ([C, 1, 1], [1, C, 1, 1], a scalar, ...), and c does not widen the output (rank <= r).
// Conditions: z has no other reader and is not a graph output; W (and b) are float constants,
// so fold_batch_norm can then fold a following BatchNormalization into the same layer.
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
  int32_t add = -1, producer = -1;
  std::vector<float> bias;  // b' per output channel
};

// Output channels of a Conv / ConvTranspose with constant float weight (and bias), else 0.
int64_t Channels(const Graph& g, const Node& p) {
  if (p.op != OpType::kConv && p.op != OpType::kConvTranspose) return 0;
  if (!Float32Constant(g, p.input(1)) || g.constant(p.input(1))->rank() < 3) return 0;
  if (p.input(2) != ir::kNoValue && !Float32Constant(g, p.input(2))) return 0;
  const Tensor& w = *g.constant(p.input(1));
  if (p.op == OpType::kConv) return w.dim(0);
  const int64_t group = p.attrs.GetInt("group", 1);
  return group >= 1 ? w.dim(1) * group : 0;
}

// c's value per channel (c broadcast along the output's dim 1 of `rank` dims), or nullopt.
std::optional<std::vector<float>> PerChannel(const Tensor& c, int64_t rank, int64_t channels) {
  if (c.dtype() != ir::DType::kFloat32 || c.rank() > rank) return std::nullopt;
  const int64_t offset = rank - c.rank();  // c's dim k aligns with the output's dim offset + k
  for (int64_t k = 0; k < c.rank(); ++k) {
    const int64_t d = c.dim(k);
    if (offset + k == 1 ? (d != 1 && d != channels) : d != 1) return std::nullopt;
  }
  const std::vector<float> v = c.ToFloatVector();
  if (v.size() == static_cast<size_t>(channels)) return v;
  if (v.size() == 1) return std::vector<float>(static_cast<size_t>(channels), v[0]);
  return std::nullopt;
}

std::optional<Match> MatchAdd(const Graph& g, const GraphIndex& index, int32_t i) {
  const Node& add = g.nodes[static_cast<size_t>(i)];
  if (add.op != OpType::kAdd || add.inputs.size() != 2 || add.outputs.size() != 1) return std::nullopt;
  for (int side = 0; side < 2; ++side) {
    const ValueId z = add.input(static_cast<size_t>(side)), c = add.input(static_cast<size_t>(1 - side));
    const Tensor* ct = g.constant(c);
    if (!ct || g.constant(z) || !index.SingleUse(z)) continue;
    const int32_t pi = index.ProducerIndex(z);
    if (pi < 0) continue;
    const Node& p = g.nodes[static_cast<size_t>(pi)];
    if (p.outputs.empty() || p.outputs[0] != z) continue;
    const int64_t channels = Channels(g, p);
    if (channels <= 0) continue;
    std::optional<std::vector<float>> v = PerChannel(*ct, g.constant(p.input(1))->rank(), channels);
    if (!v) continue;
    if (const Tensor* b = g.constant(p.input(2))) {
      const std::vector<float> bv = b->ToFloatVector();
      if (bv.size() != v->size()) continue;
      for (size_t k = 0; k < bv.size(); ++k) (*v)[k] += bv[k];
    }
    return Match{i, pi, std::move(*v)};
  }
  return std::nullopt;
}

Status Rewrite(GraphEditor& e, const Match& m) {
  const Graph& g = e.graph();
  Node p = g.nodes[static_cast<size_t>(m.producer)];
  const Node& add = g.nodes[static_cast<size_t>(m.add)];
  const std::string base = p.name.empty() ? g.value(p.outputs[0]).name : p.name;
  const ValueId b_id =
      e.AddConstant(base + "_bias", Tensor::FromVector<float>({static_cast<int64_t>(m.bias.size())}, m.bias));
  if (p.inputs.size() < 3) p.inputs.resize(3, ir::kNoValue);
  p.inputs[2] = b_id;
  p.outputs[0] = add.outputs[0];
  e.Erase(m.add);
  e.SetNode(m.producer, std::move(p));
  return Status::Ok();
}

class FoldConvBias : public Pass {
 public:
  std::string_view name() const override { return "fold_conv_bias"; }
  Result<int> Run(Graph& g) override { return RewriteAll<Match>(g, {OpType::kAdd}, MatchAdd, Rewrite); }
};

}  // namespace

std::unique_ptr<Pass> MakeFoldConvBias() { return std::make_unique<FoldConvBias>(); }

}  // namespace squint::passes
