// GELU from its elementwise decompositions.
//
//   erf form (torch `aten::gelu`, approximate="none", and HF `x*0.5*(1+erf(x/√2))`):
//     before:  Mul(Mul(x, Add(Erf(Div(x, 1.4142135)), 1)), 0.5)
//     after:   Gelu(x)                                  y = x/2 · (1 + erf(x/√2))
//   tanh form (torch approximate="tanh", HF NewGELU):
//     before:  Mul(0.5, Mul(x, Add(1, Tanh(Mul(0.7978845, Add(x, Mul(0.044715, Mul(x, Mul(x, x)))))))))
//     after:   Gelu(x; approximate="tanh")              y = x/2 · (1 + tanh(√(2/π)·(x + 0.044715·x³)))
//
// Matching works on products, not on operand orders: the root Mul's tree of single-use
// Mul nodes (plus Div by a constant and Pow by a constant 2 or 3) flattens to a constant
// coefficient times a list of factors. GELU is coefficient 0.5 times the factors {x, A}
// with A = Add(1, Erf(s)) or Add(1, Tanh(s)) (either order), where s flattens to
// 1/√2 · x (Div(x, √2) or Mul(x, 0.70710677)) for erf, and to √(2/π) · u with
// u = Add(x, t), t = 0.044715 · x·x·x (Mul chain or Pow(x, 3)) for tanh. Constants are
// compared within 1e-3 relative. Every intermediate value is read only inside the pattern.
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

// A product coef · Π leaves, and the nodes that computed it.
struct Product {
  double coef = 1;
  std::vector<ValueId> leaves;
  std::vector<int32_t> nodes;
};

constexpr int kMaxDepth = 8;

// Flattens v into p. The producer of v is absorbed when v is read only by the product
// (`owned`: the caller checked it, as for the root) or when v is single-use.
void Flatten(const Graph& g, const GraphIndex& index, ValueId v, bool owned, Product& p, int depth = 0) {
  if (auto c = ScalarConstant(g, v)) {
    p.coef *= *c;
    return;
  }
  const Node* n = index.Producer(v);
  if (!n || depth > kMaxDepth || !(owned || index.SingleUse(v)) || n->inputs.size() != 2) {
    p.leaves.push_back(v);
    return;
  }
  const int32_t ni = index.IndexOf(n);
  if (n->op == OpType::kMul) {
    p.nodes.push_back(ni);
    Flatten(g, index, n->inputs[0], false, p, depth + 1);
    Flatten(g, index, n->inputs[1], false, p, depth + 1);
    return;
  }
  const std::optional<double> c = ScalarConstant(g, n->inputs[1]);
  if (n->op == OpType::kDiv && c && *c != 0) {
    p.nodes.push_back(ni);
    p.coef /= *c;
    Flatten(g, index, n->inputs[0], false, p, depth + 1);
    return;
  }
  if (n->op == OpType::kPow && c && (*c == 2 || *c == 3)) {
    Product base;
    Flatten(g, index, n->inputs[0], false, base, depth + 1);
    p.nodes.push_back(ni);
    p.nodes.insert(p.nodes.end(), base.nodes.begin(), base.nodes.end());
    p.coef *= std::pow(base.coef, *c);
    for (int k = 0; k < static_cast<int>(*c); ++k)
      p.leaves.insert(p.leaves.end(), base.leaves.begin(), base.leaves.end());
    return;
  }
  p.leaves.push_back(v);
}

struct Match {
  int32_t root = -1;
  std::vector<int32_t> nodes;
  ValueId x = ir::kNoValue;
  bool tanh = false;
};

bool AllAre(const std::vector<ValueId>& leaves, ValueId x, size_t count) {
  if (leaves.size() != count) return false;
  for (ValueId l : leaves)
    if (l != x) return false;
  return true;
}

// s = 1/√2 · x.
bool MatchErfArgument(const Graph& g, const GraphIndex& index, ValueId s, ValueId x, Match& m) {
  Product p;
  Flatten(g, index, s, index.SingleUse(s), p);
  if (!AllAre(p.leaves, x, 1) || !Near(p.coef, 1.0 / std::sqrt(2.0))) return false;
  m.nodes.insert(m.nodes.end(), p.nodes.begin(), p.nodes.end());
  return true;
}

// s = √(2/π) · (x + 0.044715 · x³).
bool MatchTanhArgument(const Graph& g, const GraphIndex& index, ValueId s, ValueId x, Match& m) {
  Product p;
  Flatten(g, index, s, index.SingleUse(s), p);
  if (p.leaves.size() != 1 || !Near(p.coef, std::sqrt(2.0 / M_PI))) return false;
  const ValueId u = p.leaves[0];
  const Node* add = index.ProducerIs(u, OpType::kAdd);
  if (!add || !index.SingleUse(u) || add->inputs.size() != 2) return false;
  for (int a = 0; a < 2; ++a) {
    if (add->inputs[static_cast<size_t>(a)] != x) continue;
    const ValueId t = add->inputs[static_cast<size_t>(1 - a)];
    Product cube;
    Flatten(g, index, t, index.SingleUse(t), cube);
    if (!AllAre(cube.leaves, x, 3) || !Near(cube.coef, 0.044715)) continue;
    m.nodes.insert(m.nodes.end(), p.nodes.begin(), p.nodes.end());
    m.nodes.push_back(index.IndexOf(add));
    m.nodes.insert(m.nodes.end(), cube.nodes.begin(), cube.nodes.end());
    return true;
  }
  return false;
}

// A = Add(1, Erf|Tanh(s)) with s matching x.
bool MatchOnePlus(const Graph& g, const GraphIndex& index, ValueId a, ValueId x, Match& m) {
  const Node* add = index.ProducerIs(a, OpType::kAdd);
  if (!add || !index.SingleUse(a)) return false;
  auto one = SplitScalarOperand(g, *add, /*commutative=*/true);
  if (!one || !Near(one->value, 1.0) || !index.SingleUse(one->other)) return false;
  const Node* f = index.Producer(one->other);
  if (!f || (f->op != OpType::kErf && f->op != OpType::kTanh)) return false;
  m.tanh = f->op == OpType::kTanh;
  const bool ok = m.tanh ? MatchTanhArgument(g, index, f->input(0), x, m)
                         : MatchErfArgument(g, index, f->input(0), x, m);
  if (!ok) return false;
  m.nodes.push_back(index.IndexOf(add));
  m.nodes.push_back(index.IndexOf(f));
  return true;
}

std::optional<Match> MatchGelu(const Graph& g, const GraphIndex& index, int32_t i) {
  const Node& root = g.nodes[static_cast<size_t>(i)];
  if (root.op != OpType::kMul || root.outputs.size() != 1) return std::nullopt;
  Product p;
  Flatten(g, index, root.outputs[0], /*owned=*/true, p);
  if (p.leaves.size() != 2 || !Near(p.coef, 0.5)) return std::nullopt;
  for (int a = 0; a < 2; ++a) {
    Match m;
    m.root = i;
    m.x = p.leaves[static_cast<size_t>(a)];
    if (g.constant(m.x)) continue;
    if (!MatchOnePlus(g, index, p.leaves[static_cast<size_t>(1 - a)], m.x, m)) continue;
    m.nodes.insert(m.nodes.end(), p.nodes.begin(), p.nodes.end());
    return m;
  }
  return std::nullopt;
}

Status Rewrite(GraphEditor& e, const Match& m) {
  const Node& root = e.graph().nodes[static_cast<size_t>(m.root)];
  Node gelu;
  gelu.op = OpType::kGelu;
  gelu.name = root.name;
  gelu.inputs = {m.x};
  if (m.tanh) gelu.attrs.set("approximate", std::string("tanh"));
  e.ReplaceWithFused(m.root, std::move(gelu), m.nodes);
  return Status::Ok();
}

class FuseGelu : public Pass {
 public:
  std::string_view name() const override { return "fuse_gelu"; }
  Result<int> Run(Graph& g) override { return RewriteAll<Match>(g, {OpType::kMul}, MatchGelu, Rewrite); }
};

}  // namespace

std::unique_ptr<Pass> MakeFuseGelu() { return std::make_unique<FuseGelu>(); }

}  // namespace squint::passes
