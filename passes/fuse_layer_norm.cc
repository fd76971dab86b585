// LayerNormalization from the decomposition exporters emit below opset 17.
//
//   before (torch 1.13, opset 13, `aten::layer_norm`; axes = the last k dims):
//     m  = ReduceMean(x, axes)                 (keepdims 1; axes attribute, or input from opset 18)
//     d  = Sub(x, m)
//     d2 = Pow(d, 2)                           (d optionally through a no-op Cast to float)
//     v  = ReduceMean(d2, axes)
//     r  = Sqrt(Add(v, eps))                   (Add operands in either order)
//     n  = Div(d, r)                           (optionally followed by a no-op Cast)
//     y  = Add(Mul(n, γ), β)                   (Mul/Add operands in either order; each optional)
//   after:
//     y  = LayerNormalization(x, γ', β'; axis = −k, epsilon = eps)
//
//   y = (x − E[x]) / √(Var[x] + eps) · γ + β, moments over the last k dims.
// γ' and β' are γ and β broadcast to the normalized shape x.shape[−k:] (γ' = 1 when there
// is no Mul; no bias input when there is no Add), which must be known. γ and β must not
// broadcast the output beyond x's shape. Every intermediate value is read only inside the
// pattern (d by Pow/Cast and Div), so removing the chain loses nothing. The Casts are
// accepted only as float32 -> float32 (the form torch emits for float models).
#include <algorithm>

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
  int32_t root = -1;              // node whose output becomes the LayerNormalization output
  std::vector<int32_t> nodes;     // every node of the pattern
  ValueId x = ir::kNoValue;
  int64_t k = 0;                  // number of normalized (trailing) dims
  float epsilon = 0;
  ir::Dims normalized;            // x.shape[-k:]
  Tensor scale, bias;             // bias empty when the pattern has no Add
};

// ReduceMean axes (attribute, or constant input 1 from opset 18) as negative trailing
// axes -k..-1 of an input of `rank` (unknown rank: axes must already be negative);
// nullopt for anything else, keepdims 0 included.
std::optional<int64_t> TrailingAxesCount(const Graph& g, const Node& rm, std::optional<int64_t> rank) {
  if (rm.attrs.GetInt("keepdims", 1) != 1) return std::nullopt;
  std::vector<int64_t> axes;
  if (rm.attrs.has("axes")) {
    axes = rm.attrs.GetInts("axes");
  } else if (const Tensor* t = g.constant(rm.input(1))) {
    axes = t->ToInt64Vector();
  } else {
    return std::nullopt;  // all axes (or axes computed at run time)
  }
  if (axes.empty()) return std::nullopt;
  for (int64_t& a : axes) {
    if (a >= 0) {
      if (!rank || a >= *rank) return std::nullopt;
      a -= *rank;
    }
    if (rank && a < -*rank) return std::nullopt;
  }
  std::sort(axes.begin(), axes.end());
  const auto k = static_cast<int64_t>(axes.size());
  for (int64_t i = 0; i < k; ++i)
    if (axes[static_cast<size_t>(i)] != i - k) return std::nullopt;
  return k;
}

bool IsNoopFloatCast(const Graph& g, const Node* n) {
  return n && n->op == OpType::kCast && n->attrs.GetInt("to", 0) == ir::DTypeToOnnx(ir::DType::kFloat32) &&
         g.value(n->input(0)).dtype == ir::DType::kFloat32;
}

// `param` (a float constant) broadcast to `normalized`, or nullopt when it would
// broadcast the output beyond x's shape of rank `rank`.
std::optional<Tensor> BroadcastParam(const Graph& g, ValueId param, const ir::Dims& normalized, int64_t rank) {
  const Tensor* t = g.constant(param);
  if (!t || (t->dtype() != ir::DType::kFloat32 && t->dtype() != ir::DType::kFloat64)) return std::nullopt;
  const int64_t k = static_cast<int64_t>(normalized.size());
  if (t->rank() > rank) return std::nullopt;
  // Dims of param right-aligned with x: before the last k they must be 1; within, 1 or equal.
  ir::Dims pd(static_cast<size_t>(k), 1);
  for (int64_t i = 0; i < t->rank(); ++i) {
    const int64_t from_end = t->rank() - i;  // 1 for the last dim
    const int64_t d = t->dim(i);
    if (from_end > k) {
      if (d != 1) return std::nullopt;
    } else {
      const int64_t want = normalized[static_cast<size_t>(k - from_end)];
      if (d != 1 && d != want) return std::nullopt;
      pd[static_cast<size_t>(k - from_end)] = d;
    }
  }
  // Expand pd -> normalized.
  const std::vector<float> v = t->ToFloatVector();
  Tensor out(ir::DType::kFloat32, normalized);
  float* dst = out.data<float>();
  const int64_t total = out.size();
  for (int64_t o = 0; o < total; ++o) {
    int64_t rem = o, src = 0, stride = 1;
    for (int64_t i = k - 1; i >= 0; --i) {
      const int64_t n = normalized[static_cast<size_t>(i)], idx = rem % n;
      rem /= n;
      const int64_t p = pd[static_cast<size_t>(i)];
      src += (p == 1 ? 0 : idx) * stride;
      stride *= p;
    }
    dst[o] = v[static_cast<size_t>(src)];
  }
  return out;
}

std::optional<Match> MatchLayerNorm(const Graph& g, const GraphIndex& index, int32_t i) {
  const Node& div = g.nodes[static_cast<size_t>(i)];
  if (div.op != OpType::kDiv || div.inputs.size() != 2) return std::nullopt;
  Match m;
  // Denominator: Sqrt(Add(ReduceMean(Pow(d, 2)), eps)).
  const Node* sqrt = index.ProducerIs(div.input(1), OpType::kSqrt);
  if (!sqrt || !index.SingleUse(div.input(1))) return std::nullopt;
  const Node* add_eps = index.ProducerIs(sqrt->input(0), OpType::kAdd);
  if (!add_eps || !index.SingleUse(sqrt->input(0))) return std::nullopt;
  auto eps = SplitScalarOperand(g, *add_eps, /*commutative=*/true);
  if (!eps || !(eps->value >= 0)) return std::nullopt;
  m.epsilon = static_cast<float>(eps->value);
  const Node* var = index.ProducerIs(eps->other, OpType::kReduceMean);
  if (!var || !index.SingleUse(eps->other)) return std::nullopt;
  const Node* pow = index.ProducerIs(var->input(0), OpType::kPow);
  if (!pow || !index.SingleUse(var->input(0))) return std::nullopt;
  auto two = ScalarConstant(g, pow->input(1));
  if (!two || !Near(*two, 2.0)) return std::nullopt;
  // Numerator d = Sub(x, ReduceMean(x)), read by Div and by Pow (directly or via Cast).
  const ValueId d = div.input(0);
  const Node* cast_in = index.ProducerIs(pow->input(0), OpType::kCast);
  if (cast_in) {
    if (!IsNoopFloatCast(g, cast_in) || cast_in->input(0) != d || !index.SingleUse(pow->input(0)))
      return std::nullopt;
  } else if (pow->input(0) != d) {
    return std::nullopt;
  }
  if (index.Uses(d) != 2 || index.IsGraphOutput(d)) return std::nullopt;
  const Node* sub = index.ProducerIs(d, OpType::kSub);
  if (!sub) return std::nullopt;
  m.x = sub->input(0);
  const Node* mean = index.ProducerIs(sub->input(1), OpType::kReduceMean);
  if (!mean || mean->input(0) != m.x || !index.SingleUse(sub->input(1))) return std::nullopt;
  if (g.value(m.x).dtype != ir::DType::kFloat32) return std::nullopt;
  const std::optional<int64_t> rank = KnownRank(g, m.x);
  if (!rank) return std::nullopt;
  auto k_mean = TrailingAxesCount(g, *mean, rank), k_var = TrailingAxesCount(g, *var, rank);
  if (!k_mean || k_mean != k_var) return std::nullopt;
  m.k = *k_mean;
  const auto& xs = *g.value(m.x).shape;
  for (int64_t a = *rank - m.k; a < *rank; ++a) {
    const ir::Dim& dim = xs[static_cast<size_t>(a)];
    if (!dim.known()) return std::nullopt;
    m.normalized.push_back(dim.value);
  }
  m.nodes = {index.IndexOf(mean), index.IndexOf(sub), index.IndexOf(pow), index.IndexOf(var),
             index.IndexOf(add_eps), index.IndexOf(sqrt), i};
  if (cast_in) m.nodes.push_back(index.IndexOf(cast_in));

  // Forward from Div: optional Cast, optional Mul(γ), optional Add(β).
  ValueId cur = div.outputs[0];
  m.root = i;
  auto next = [&](OpType op) -> const Node* {
    const int32_t r = index.SoleReader(cur);
    if (r < 0 || g.nodes[static_cast<size_t>(r)].op != op) return nullptr;
    return &g.nodes[static_cast<size_t>(r)];
  };
  auto advance = [&](const Node* n) {
    m.root = index.IndexOf(n);
    m.nodes.push_back(m.root);
    cur = n->outputs[0];
  };
  if (const Node* c = next(OpType::kCast); c && IsNoopFloatCast(g, c)) advance(c);
  if (const Node* mul = next(OpType::kMul)) {
    const ValueId gamma = mul->input(0) == cur ? mul->input(1) : mul->input(0);
    if (auto s = BroadcastParam(g, gamma, m.normalized, *rank)) {
      m.scale = std::move(*s);
      advance(mul);
    }
  }
  if (const Node* add = next(OpType::kAdd)) {
    const ValueId beta = add->input(0) == cur ? add->input(1) : add->input(0);
    if (auto b = BroadcastParam(g, beta, m.normalized, *rank)) {
      m.bias = std::move(*b);
      advance(add);
    }
  }
  if (m.scale.empty_type()) {
    m.scale = Tensor(ir::DType::kFloat32, m.normalized);
    for (float& f : m.scale.span<float>()) f = 1.0f;
  }
  return m;
}

Status Rewrite(GraphEditor& e, const Match& m) {
  const Graph& g = e.graph();
  const Node& root = g.nodes[static_cast<size_t>(m.root)];
  const std::string base = root.name.empty() ? g.value(root.outputs[0]).name : root.name;
  Node ln;
  ln.op = OpType::kLayerNormalization;
  ln.name = base;
  ln.attrs.set("axis", -m.k);
  ln.attrs.set("epsilon", m.epsilon);
  const ValueId x = m.x;
  const ValueId scale = e.AddConstant(base + "_scale", m.scale);
  ln.inputs = {x, scale};
  if (!m.bias.empty_type()) ln.inputs.push_back(e.AddConstant(base + "_bias", m.bias));
  e.ReplaceWithFused(m.root, std::move(ln), m.nodes);
  return Status::Ok();
}

class FuseLayerNorm : public Pass {
 public:
  std::string_view name() const override { return "fuse_layer_norm"; }
  Result<int> Run(Graph& g) override { return RewriteAll<Match>(g, {OpType::kDiv}, MatchLayerNorm, Rewrite); }
};

}  // namespace

std::unique_ptr<Pass> MakeFuseLayerNorm() { return std::make_unique<FuseLayerNorm>(); }

}  // namespace squint::passes
