// squint.Linear from MatMul (+ Add) with constant weights, and from trivially
// convertible Gemm.
//
//   before:  y = Add(MatMul(x, W), b)        W constant [K, N], b constant with N values
//   after:   y = Linear(x, W, b)             y = x·W + b, x of any rank >= 1
//   before:  y = MatMul(x, W)                (no Add, or an Add that is not a bias)
//   after:   y = Linear(x, W)
//   before:  y = Add(Linear(x, W), b)        (a bias that became constant later)
//   after:   y = Linear(x, W, b)
//   before:  y = Gemm(a, B, C; α, β_g, transA = 0, transB)     B constant 2-D
//   after:   y = Linear(a, W, c)  W = α·op(B) (op: transpose when transB), c = β_g·C
//
// The bias b may be [N], a scalar, or [1, .., 1, N] of rank at most y's rank (so the Add
// broadcasts along the last dim only and never changes y's shape); it becomes [N].
// Gemm choice: every Gemm whose A is not transposed and whose B is constant becomes Linear
// (that is how torch exports nn.Linear on 2-D inputs, with transB = 1), so the quantizer
// sees one op for every dense layer. α and β_g are folded into the constants (exact up to
// float32 rounding). C must be absent, one element, or one row of N values ([N] or [1, N]);
// a Gemm with transA = 1, a non-constant B, or a full [M, N] C stays a Gemm.
// Weights and biases must be float32. MatMul's output is removed only when the Add is its
// sole reader.
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
  int32_t root = -1;               // node replaced by the Linear
  std::vector<int32_t> nodes;      // all nodes of the pattern
  ValueId x = ir::kNoValue;
  ValueId weight = ir::kNoValue;   // reused constant, or kNoValue when new_weight is set
  Tensor new_weight;
  Tensor bias;                     // empty when there is no bias
  std::string name;
};

// Rank of MatMul/Linear's output for an input x of known rank (W is 2-D).
std::optional<int64_t> OutputRank(const Graph& g, ValueId x) {
  auto r = KnownRank(g, x);
  if (!r || *r < 1) return std::nullopt;
  return *r;
}

// A bias constant equivalent to an [N] vector added along the last dim, as [N].
std::optional<Tensor> BiasVector(const Graph& g, ValueId b, int64_t n, std::optional<int64_t> out_rank,
                                 double scale = 1.0) {
  const Tensor* t = Float32Constant(g, b);
  if (!t) return std::nullopt;
  if (t->size() != 1 && t->size() != n) return std::nullopt;
  if (t->rank() > 1) {
    if (!out_rank || t->rank() > *out_rank) return std::nullopt;
    for (int64_t i = 0; i + 1 < t->rank(); ++i)
      if (t->dim(i) != 1) return std::nullopt;
  }
  if (t->rank() >= 1 && t->dim(t->rank() - 1) != t->size()) return std::nullopt;
  Tensor out(ir::DType::kFloat32, {n});
  const float* src = t->data<float>();
  for (int64_t i = 0; i < n; ++i) out.data<float>()[i] = static_cast<float>(scale * src[t->size() == 1 ? 0 : i]);
  return out;
}

// If the only reader of `y` is Add(y, bias) with an acceptable bias, extends the match.
void TryAbsorbBias(const Graph& g, const GraphIndex& index, ValueId y, int64_t n, Match& m) {
  const int32_t r = index.SoleReader(y);
  if (r < 0) return;
  const Node& add = g.nodes[static_cast<size_t>(r)];
  if (add.op != OpType::kAdd || add.inputs.size() != 2) return;
  const ValueId b = add.inputs[0] == y ? add.inputs[1] : add.inputs[0];
  auto bias = BiasVector(g, b, n, OutputRank(g, m.x));
  if (!bias) return;
  m.bias = std::move(*bias);
  m.root = r;
  m.nodes.push_back(r);
}

std::optional<Match> MatchMatMul(const Graph& g, const GraphIndex& index, int32_t i) {
  const Node& n = g.nodes[static_cast<size_t>(i)];
  const Tensor* w = Float32Constant(g, n.input(1));
  if (!w || w->rank() != 2 || n.input(0) == ir::kNoValue || g.constant(n.input(0))) return std::nullopt;
  Match m;
  m.root = i;
  m.nodes = {i};
  m.x = n.input(0);
  m.weight = n.input(1);
  m.name = n.name;
  TryAbsorbBias(g, index, n.outputs[0], w->dim(1), m);
  if (n.op == OpType::kLinear && m.bias.empty_type()) return std::nullopt;  // nothing to do
  return m;
}

std::optional<Match> MatchGemm(const Graph& g, const GraphIndex& index, int32_t i) {
  const Node& n = g.nodes[static_cast<size_t>(i)];
  if (n.attrs.GetInt("transA", 0) != 0) return std::nullopt;
  const Tensor* b = Float32Constant(g, n.input(1));
  if (!b || b->rank() != 2 || n.input(0) == ir::kNoValue || g.constant(n.input(0))) return std::nullopt;
  const bool trans_b = n.attrs.GetInt("transB", 0) != 0;
  const double alpha = n.attrs.GetFloat("alpha", 1.0f), beta = n.attrs.GetFloat("beta", 1.0f);
  const int64_t k = b->dim(trans_b ? 1 : 0), cols = b->dim(trans_b ? 0 : 1);
  Match m;
  m.root = i;
  m.nodes = {i};
  m.x = n.input(0);
  m.name = n.name;
  if (n.input(2) != ir::kNoValue) {
    auto c = BiasVector(g, n.input(2), cols, /*out_rank=*/2, beta);
    if (!c) return std::nullopt;
    m.bias = std::move(*c);
  }
  if (!trans_b && alpha == 1.0) {
    m.weight = n.input(1);
    return m;
  }
  m.new_weight = Tensor(ir::DType::kFloat32, {k, cols});
  const float* src = b->data<float>();
  float* dst = m.new_weight.data<float>();
  for (int64_t r = 0; r < k; ++r)
    for (int64_t c = 0; c < cols; ++c)
      dst[r * cols + c] = static_cast<float>(alpha * (trans_b ? src[c * k + r] : src[r * cols + c]));
  return m;
}

std::optional<Match> MatchLinear(const Graph& g, const GraphIndex& index, int32_t i) {
  const Node& n = g.nodes[static_cast<size_t>(i)];
  switch (n.op) {
    case OpType::kMatMul: return MatchMatMul(g, index, i);
    case OpType::kLinear:
      if (n.input(2) != ir::kNoValue) return std::nullopt;
      return MatchMatMul(g, index, i);
    case OpType::kGemm: return MatchGemm(g, index, i);
    default: return std::nullopt;
  }
}

Status Rewrite(GraphEditor& e, const Match& m) {
  const Graph& g = e.graph();
  const std::string base = m.name.empty() ? g.value(g.nodes[static_cast<size_t>(m.root)].outputs[0]).name : m.name;
  Node linear;
  linear.op = OpType::kLinear;
  linear.name = m.name;
  const ValueId w = m.weight != ir::kNoValue ? m.weight : e.AddConstant(base + "_weight", m.new_weight);
  linear.inputs = {m.x, w};
  if (!m.bias.empty_type()) linear.inputs.push_back(e.AddConstant(base + "_bias", m.bias));
  e.ReplaceWithFused(m.root, std::move(linear), m.nodes);
  return Status::Ok();
}

class FuseLinear : public Pass {
 public:
  std::string_view name() const override { return "fuse_linear"; }
  Result<int> Run(Graph& g) override {
    return RewriteAll<Match>(g, {OpType::kMatMul, OpType::kLinear, OpType::kGemm}, MatchLinear, Rewrite);
  }
};

}  // namespace

std::unique_ptr<Pass> MakeFuseLinear() { return std::make_unique<FuseLinear>(); }

}  // namespace squint::passes
