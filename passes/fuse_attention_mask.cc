// Additive attention masks become a keep mask read by the Softmax (docs/algorithms.md, masks).
//
//   before:  a = f(m)  (m: a bool/integer value, e.g. the attention_mask input, after shape ops;
//                       f: Cast to float, then Add/Sub/Mul/Div by scalar constants)
//            p = Softmax(Add(s, a))                    Hugging Face: (1 − mask)·finfo(float32).min
//   or:      p = Softmax(Where(c, s, k))               k <= −1e4 a scalar (masked_fill)
//   after:   p = Softmax(s, keep = m)   or   Softmax(s, keep = c)
// A Softmax takes up to two keep masks, kept where both keep (HF GPT-2 writes the causal Where and
// then adds the padding mask: two rewrites of one Softmax).
//
//   softmax(s + a)_i = keep_i ? exp(s_i − max) / Σ_kept exp(s_j − max) : 0
// holds when f(1) = 0 and f(0) <= −1e4: exp(−1e4 + s) underflows to 0 in float32 against any
// kept logit within 1e4 of it, and the mask never enters the softmax's max or sum. Masks hold 0
// and 1 (as Hugging Face's do); a row with nothing kept gives zeros here (HF: uniform weights
// over padding, which no pooled output reads). m may come out of shape ops on the integer side
// (HF: mask[:, None, None, :]); they stay and run on the integer tensor. Shape ops after the
// Cast fail the match (the keep mask would need them cloned). Nothing of the mask's float values survives:
// calibration never sees ±3.4e38, and the integer SOFTMAX masks exactly.
#include <cmath>
#include <optional>

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

constexpr double kMaskedBelow = -1e4;

struct Match {
  int32_t softmax = -1;
  int32_t producer = -1;  // the Add or Where; erased when the Softmax is its only reader
  ValueId scores = ir::kNoValue, keep = ir::kNoValue;
};

// Walks a = f(m) back to m: returns m (after its shape ops) when f maps 1 → 0 and 0 → <= −1e4.
std::optional<ValueId> MaskSource(const Graph& g, const GraphIndex& index, ValueId a) {
  std::vector<const Node*> chain;  // from a back towards m
  ValueId v = a;
  for (int steps = 0; steps < 16; ++steps) {
    if (IsIntegerOrBool(g.value(v).dtype)) break;
    const Node* n = index.Producer(v);
    if (!n || n->outputs.size() != 1) return std::nullopt;
    if (n->op == OpType::kCast) {
      chain.push_back(n);
      v = n->input(0);
      continue;
    }
    if (n->op == OpType::kAdd || n->op == OpType::kSub || n->op == OpType::kMul || n->op == OpType::kDiv) {
      auto c = SplitScalarOperand(g, *n, /*commutative=*/true);
      if (!c) return std::nullopt;
      chain.push_back(n);
      v = c->other;
      continue;
    }
    return std::nullopt;  // shape ops on the float side, or anything else
  }
  if (!IsIntegerOrBool(g.value(v).dtype) || chain.empty() || chain.back()->op != OpType::kCast) return std::nullopt;
  // The float mask for m = 0 and m = 1, applying the chain from m forwards.
  double f[2] = {0, 1};
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    const Node& n = **it;
    if (n.op == OpType::kCast) continue;
    const auto c = SplitScalarOperand(g, n, true);
    for (double& x : f) {
      const double k = c->value;
      const bool left = c->const_index == 0;  // the constant is the first operand
      switch (n.op) {
        case OpType::kAdd: x = x + k; break;
        case OpType::kSub: x = left ? k - x : x - k; break;
        case OpType::kMul: x = x * k; break;
        default: x = left ? (x == 0 ? INFINITY : k / x) : x / k; break;
      }
    }
  }
  if (!(f[1] == 0.0 && f[0] <= kMaskedBelow)) return std::nullopt;
  return v;
}

std::optional<Match> MatchMaskedSoftmax(const Graph& g, const GraphIndex& index, int32_t i) {
  const Node& sm = g.nodes[static_cast<size_t>(i)];
  // A Softmax may already hold one keep mask (HF GPT-2: the causal Where, then the padding mask).
  if (sm.op != OpType::kSoftmax || sm.inputs.size() > 2) return std::nullopt;
  const ValueId in = sm.input(0);
  const Node* p = index.Producer(in);
  if (!p || index.IsGraphOutput(in)) return std::nullopt;
  Match m;
  m.softmax = i;
  if (index.SingleUse(in)) m.producer = index.IndexOf(p);
  if (p->op == OpType::kAdd && p->inputs.size() == 2) {
    for (int k = 0; k < 2; ++k) {
      if (auto src = MaskSource(g, index, p->input(static_cast<size_t>(k)))) {
        m.scores = p->input(static_cast<size_t>(1 - k));
        m.keep = *src;
        return m;
      }
    }
    return std::nullopt;
  }
  if (p->op == OpType::kWhere && p->inputs.size() == 3) {
    const auto k = ScalarConstant(g, p->input(2));
    if (!k || *k > kMaskedBelow || !IsIntegerOrBool(g.value(p->input(0)).dtype)) return std::nullopt;
    m.scores = p->input(1);
    m.keep = p->input(0);
    return m;
  }
  return std::nullopt;
}

Status Rewrite(GraphEditor& e, const Match& m) {
  Node fused = e.graph().nodes[static_cast<size_t>(m.softmax)];
  fused.inputs[0] = m.scores;
  fused.inputs.push_back(m.keep);
  std::vector<int32_t> others;
  if (m.producer >= 0) others.push_back(m.producer);
  e.ReplaceWithFused(m.softmax, std::move(fused), others);
  return Status::Ok();
}

class FuseAttentionMask : public Pass {
 public:
  std::string_view name() const override { return "fuse_attention_mask"; }
  Result<int> Run(Graph& g) override {
    return RewriteAll<Match>(g, {OpType::kSoftmax}, MatchMaskedSoftmax, Rewrite);
  }
};

}  // namespace

std::unique_ptr<Pass> MakeFuseAttentionMask() { return std::make_unique<FuseAttentionMask>(); }

}  // namespace squint::passes
