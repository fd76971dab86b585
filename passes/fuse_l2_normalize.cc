// L2 normalization over the last axis as one squint.RMSNorm (torch F.normalize, sentence-
// transformers' Normalize).
//
//   before:  y = Div(x, [Expand](Clip(ReduceL2(x, axes = [last], keepdims = 1), min = e)))
//   after:   y = RMSNorm(x; epsilon = e²/n, scale = 1/√n)          n = the last dim
//
//   x / max(‖x‖, e)  vs  x/√n / √(‖x‖²/n + e²/n) = x / √(‖x‖² + e²):
// equal to float precision whenever ‖x‖ >> e (e = 1e-12 in torch), and finite at x = 0. No Clip:
// e = 0 (a zero row is 0/0 in float, 0 here). The Expand (back to x's shape) may be absent.
// In integers the norm never becomes an activation of its own: LAYER_NORM in rms mode computes it
// exactly from the codes of x.
#include <cmath>

#include "passes/graph_edit.h"
#include "passes/pass.h"
#include "passes/pattern_pass.h"

namespace squint::passes {
namespace {

using ir::Graph;
using ir::Node;
using ir::OpType;
using ir::ValueId;

struct Match {
  int32_t div = -1;
  ValueId x = ir::kNoValue;
  double eps = 0;
  int64_t n = 0;
};

std::optional<Match> MatchL2Normalize(const Graph& g, const GraphIndex& index, int32_t i) {
  const Node& div = g.nodes[static_cast<size_t>(i)];
  if (div.op != OpType::kDiv || div.inputs.size() != 2) return std::nullopt;
  Match m;
  m.div = i;
  m.x = div.input(0);
  const auto xd = KnownDims(g, m.x);
  if (!xd || xd->empty() || xd->back() < 1 || g.value(m.x).dtype != ir::DType::kFloat32) return std::nullopt;
  m.n = xd->back();
  const Node* d = index.Producer(div.input(1));
  if (d && d->op == OpType::kExpand) {
    // Expanded back to x's own shape (torch: Shape(x)), never to a larger one that would broadcast x.
    const Node* shape = index.ProducerIs(d->input(1), OpType::kShape);
    const ir::Tensor* dims = g.constant(d->input(1));
    const bool own = (shape && shape->input(0) == m.x) || (dims && dims->ToInt64Vector() == *xd);
    if (!own) return std::nullopt;
    d = index.Producer(d->input(0));
  }
  if (d && d->op == OpType::kClip) {
    const auto lo = ScalarConstant(g, d->input(1));
    if (!lo || *lo < 0 || (d->inputs.size() > 2 && d->input(2) != ir::kNoValue)) return std::nullopt;
    m.eps = *lo;
    d = index.Producer(d->input(0));
  }
  if (!d || d->op != OpType::kReduceL2 || d->input(0) != m.x || d->attrs.GetInt("keepdims", 1) != 1)
    return std::nullopt;
  const ir::Tensor* axes = d->inputs.size() > 1 ? g.constant(d->input(1)) : nullptr;
  if (!axes || axes->size() != 1) return std::nullopt;
  const int64_t a = axes->ToInt64Vector()[0];
  if (a != -1 && a != static_cast<int64_t>(xd->size()) - 1) return std::nullopt;
  return m;
}

Status Rewrite(GraphEditor& e, const Match& m) {
  const Node& div = e.graph().nodes[static_cast<size_t>(m.div)];
  Node rms;
  rms.op = OpType::kRMSNorm;
  rms.name = div.name;
  rms.inputs = {m.x};
  rms.outputs = div.outputs;
  const double n = static_cast<double>(m.n);
  rms.attrs.set("epsilon", static_cast<float>(m.eps * m.eps / n));
  rms.attrs.set("scale", static_cast<float>(1.0 / std::sqrt(n)));
  e.ReplaceWithFused(m.div, std::move(rms), {});
  return Status::Ok();
}

class FuseL2Normalize : public Pass {
 public:
  std::string_view name() const override { return "fuse_l2_normalize"; }
  Result<int> Run(Graph& g) override { return RewriteAll<Match>(g, {OpType::kDiv}, MatchL2Normalize, Rewrite); }
};

}  // namespace

std::unique_ptr<Pass> MakeFuseL2Normalize() { return std::make_unique<FuseL2Normalize>(); }

}  // namespace squint::passes
