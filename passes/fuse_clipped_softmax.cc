// Clipped softmax (Bondarenko et al. 2023, docs/algorithms.md §5) as one Softmax node.
//
//   before:  p = Softmax(x);  y = Clip(Add(Mul(p, ζ−γ), γ), 0, 1)
//   after:   y = Softmax(x; zeta = ζ, gamma = γ)
//
//   y = clip((ζ − γ)·softmax(x) + γ, 0, 1)
// Accepted forms: Mul by the constant (either operand order) or Div by its inverse; Add of
// γ (either order) or Sub of −γ; the Mul may be absent (ζ − γ = 1) or the Add (γ = 0), but
// not both. ζ − γ arrives as one folded constant; ζ is recovered as that constant plus γ.
// Clip bounds: inputs min/max (opset >= 11) or attributes (older), within tolerance of
// exactly 0 and 1. Softmax keeps its axis (and its opset semantics); p and the
// intermediates must be read only inside the pattern, and the Softmax must not already be
// clipped.
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
  int32_t root = -1, softmax = -1;
  std::vector<int32_t> nodes;
  double scale = 1, gamma = 0;  // y = clip(scale·p + gamma, 0, 1)
};

// Clip's [lo, hi] when both are known constants.
std::optional<std::pair<double, double>> ClipBounds(const Graph& g, const Node& clip) {
  if (clip.attrs.has("min") || clip.attrs.has("max")) {
    if (!clip.attrs.has("min") || !clip.attrs.has("max")) return std::nullopt;
    return std::pair<double, double>{clip.attrs.GetFloat("min", 0), clip.attrs.GetFloat("max", 0)};
  }
  auto lo = ScalarConstant(g, clip.input(1)), hi = ScalarConstant(g, clip.input(2));
  if (!lo || !hi) return std::nullopt;
  return std::pair<double, double>{*lo, *hi};
}

std::optional<Match> MatchClippedSoftmax(const Graph& g, const GraphIndex& index, int32_t i) {
  const Node& clip = g.nodes[static_cast<size_t>(i)];
  if (clip.op != OpType::kClip || clip.outputs.size() != 1) return std::nullopt;
  auto bounds = ClipBounds(g, clip);
  if (!bounds || !Near(bounds->first, 0.0) || !Near(bounds->second, 1.0, 1e-6)) return std::nullopt;
  Match m;
  m.root = i;
  ValueId v = clip.input(0);
  bool shifted = false, scaled = false;
  if (const Node* n = index.Producer(v); n && index.SingleUse(v) && (n->op == OpType::kAdd || n->op == OpType::kSub)) {
    if (auto c = SplitScalarOperand(g, *n, n->op == OpType::kAdd)) {
      m.gamma = n->op == OpType::kAdd ? c->value : -c->value;
      m.nodes.push_back(index.IndexOf(n));
      v = c->other;
      shifted = true;
    }
  }
  if (const Node* n = index.Producer(v); n && index.SingleUse(v) && (n->op == OpType::kMul || n->op == OpType::kDiv)) {
    auto c = SplitScalarOperand(g, *n, n->op == OpType::kMul);
    if (c && c->value != 0) {
      m.scale = n->op == OpType::kMul ? c->value : 1.0 / c->value;
      m.nodes.push_back(index.IndexOf(n));
      v = c->other;
      scaled = true;
    }
  }
  if (!shifted && !scaled) return std::nullopt;
  const Node* sm = index.ProducerIs(v, OpType::kSoftmax);
  if (!sm || !index.SingleUse(v) || sm->attrs.has("zeta") || sm->attrs.has("gamma")) return std::nullopt;
  m.softmax = index.IndexOf(sm);
  m.nodes.push_back(m.softmax);
  return m;
}

Status Rewrite(GraphEditor& e, const Match& m) {
  Node fused = e.graph().nodes[static_cast<size_t>(m.softmax)];
  fused.attrs.set("zeta", static_cast<float>(m.scale + m.gamma));
  fused.attrs.set("gamma", static_cast<float>(m.gamma));
  e.ReplaceWithFused(m.root, std::move(fused), m.nodes);
  return Status::Ok();
}

class FuseClippedSoftmax : public Pass {
 public:
  std::string_view name() const override { return "fuse_clipped_softmax"; }
  Result<int> Run(Graph& g) override {
    return RewriteAll<Match>(g, {OpType::kClip}, MatchClippedSoftmax, Rewrite);
  }
};

}  // namespace

std::unique_ptr<Pass> MakeFuseClippedSoftmax() { return std::make_unique<FuseClippedSoftmax>(); }

}  // namespace squint::passes
