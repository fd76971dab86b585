// Mean pooling over a mask (sentence-transformers' Pooling, mean tokens) as one ReduceMean with
// a keep mask (docs/algorithms.md, masks).
//
//   before:  f = Cast(e)               e: bool/integer mask, often Expand(Unsqueeze(attention_mask))
//            y = ReduceSum(x·f, A) / Clip(ReduceSum(f, A), min = c)      0 <= c <= 1 (c: 1e-9)
//   after:   y = ReduceMean(x, A, keep = u)      u: e, or the value e expanded when it broadcasts
//
//   Σ_A x·f / max(Σ_A f, c) = mean of x over the kept positions when f ∈ {0, 1}: the count is
// an integer >= 1 unless nothing is kept, where both sides are 0. The Clip may be absent (then
// nothing kept gives 0/0 in float and 0 here). Same axes and keepdims in both sums; the Mul in
// either operand order. The sums and the float mask are left to dead-code elimination.
// In integers the mask never becomes an activation: MEAN counts the kept positions exactly.
#include "passes/graph_edit.h"
#include "passes/pass.h"
#include "passes/pattern_pass.h"

namespace squint::passes {
namespace {

using ir::DType;
using ir::Graph;
using ir::Node;
using ir::OpType;
using ir::ValueId;

struct Match {
  int32_t div = -1;
  ValueId x = ir::kNoValue, axes = ir::kNoValue, keep = ir::kNoValue;
  int64_t keepdims = 1;
};

// The integer value a float 0/1 mask `f` is cast from.
std::optional<ValueId> CastSource(const Graph& g, const GraphIndex& index, ValueId f) {
  const Node* c = index.ProducerIs(f, OpType::kCast);
  if (!c || !IsIntegerOrBool(g.value(c->input(0)).dtype)) return std::nullopt;
  return c->input(0);
}

bool SameAxes(const Graph& g, const Node& a, const Node& b) {
  if (a.attrs.GetInt("keepdims", 1) != b.attrs.GetInt("keepdims", 1)) return false;
  if (a.inputs.size() < 2 || b.inputs.size() < 2) return a.inputs.size() == b.inputs.size();
  const ir::Tensor* ta = g.constant(a.input(1));
  const ir::Tensor* tb = g.constant(b.input(1));
  return ta && tb && ta->ToInt64Vector() == tb->ToInt64Vector();
}

std::optional<Match> MatchMaskedMean(const Graph& g, const GraphIndex& index, int32_t i) {
  const Node& div = g.nodes[static_cast<size_t>(i)];
  if (div.op != OpType::kDiv || div.inputs.size() != 2) return std::nullopt;
  const Node* num = index.ProducerIs(div.input(0), OpType::kReduceSum);
  if (!num || num->inputs.size() < 2 || !g.constant(num->input(1))) return std::nullopt;
  const Node* den = index.Producer(div.input(1));
  if (den && den->op == OpType::kClip) {
    const auto lo = ScalarConstant(g, den->input(1));
    if (!lo || *lo < 0 || *lo > 1 || (den->inputs.size() > 2 && den->input(2) != ir::kNoValue)) return std::nullopt;
    den = index.Producer(den->input(0));
  }
  if (!den || den->op != OpType::kReduceSum || !SameAxes(g, *num, *den)) return std::nullopt;
  const Node* mul = index.ProducerIs(num->input(0), OpType::kMul);
  if (!mul || mul->inputs.size() != 2) return std::nullopt;
  const auto mask = CastSource(g, index, den->input(0));
  if (!mask) return std::nullopt;
  for (int k = 0; k < 2; ++k) {
    const auto src = CastSource(g, index, mul->input(static_cast<size_t>(k)));
    if (!src || *src != *mask) continue;
    Match m;
    m.div = i;
    m.x = mul->input(static_cast<size_t>(1 - k));
    if (g.value(m.x).dtype != DType::kFloat32) return std::nullopt;
    m.axes = num->input(1);
    m.keepdims = num->attrs.GetInt("keepdims", 1);
    m.keep = *mask;
    // Read the mask before an Expand when it broadcasts to x as it is (the Expand would only
    // replicate it).
    if (const Node* e = index.ProducerIs(m.keep, OpType::kExpand)) {
      const auto xd = KnownDims(g, m.x), ud = KnownDims(g, e->input(0));
      if (!xd || !ud) return std::nullopt;  // shapes not inferred yet (a fresh fused value): next round
      if (ud->size() <= xd->size()) {
        bool ok = true;
        for (size_t d = 0; d < ud->size(); ++d) {
          const int64_t u = (*ud)[ud->size() - 1 - d], xv = (*xd)[xd->size() - 1 - d];
          ok = ok && (u == 1 || u == xv);
        }
        if (ok) m.keep = e->input(0);
      }
    }
    return m;
  }
  return std::nullopt;
}

Status Rewrite(GraphEditor& e, const Match& m) {
  const Node& div = e.graph().nodes[static_cast<size_t>(m.div)];
  Node mean;
  mean.op = OpType::kReduceMean;
  mean.name = div.name;
  mean.inputs = {m.x, m.axes, m.keep};
  mean.outputs = div.outputs;
  mean.attrs.set("keepdims", m.keepdims);
  e.ReplaceWithFused(m.div, std::move(mean), {});
  return Status::Ok();
}

class FuseMaskedMean : public Pass {
 public:
  std::string_view name() const override { return "fuse_masked_mean"; }
  Result<int> Run(Graph& g) override { return RewriteAll<Match>(g, {OpType::kDiv}, MatchMaskedMean, Rewrite); }
};

}  // namespace

std::unique_ptr<Pass> MakeFuseMaskedMean() { return std::make_unique<FuseMaskedMean>(); }

}  // namespace squint::passes
