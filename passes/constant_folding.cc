// Constant folding.
//
//   before:  c1, c2 constants;  y = Op(c1, c2)          s = Shape(x), x of known dims d
//   after:   y = constant Op(c1, c2)                    s = constant int64 d[start:end]
//
// Any node whose present inputs are all constant (nodes without inputs, such as Constant,
// included) is evaluated once with its ir/eval OpDef (Infer, then the kernel) and its
// outputs become constants; the node is removed. Shape of a value whose dims are all known
// becomes a constant too, which lets the shape subgraphs exporters emit (Shape -> Gather ->
// Unsqueeze -> Concat -> Reshape) collapse into a constant Reshape target.
//
// Guard: a node is not folded when its outputs would take more than kMaxFoldBytes (64 MiB)
// in total. Folding trades graph work for model size; 64 MiB is above any single weight of
// the models squint targets (edge-sized transformers and CNNs: ViT-Tiny has 5.7M params in
// all), yet stops a ConstantOfShape/Expand/Tile/Range of a big static shape from turning
// into a huge initializer. Nodes whose evaluation fails (an op not implemented, an input
// the op rejects) are left as they are: verification and shape inference report real errors.
//
// Folding visits nodes in topological order, so chains fold in one run.
#include <algorithm>

#include "ir/eval/op_def.h"
#include "passes/graph_edit.h"
#include "passes/pass.h"

namespace squint::passes {
namespace {

using ir::Graph;
using ir::Node;
using ir::Tensor;
using ir::ValueId;

constexpr size_t kMaxFoldBytes = size_t{64} << 20;

// What folding a node yields: one tensor per output slot (empty for absent outputs).
struct Folded {
  std::vector<Tensor> outputs;
};

// Shape(x) with x of fully known dims (opset 15 start/end attributes, clamped like ONNX).
std::optional<Folded> MatchStaticShape(const Graph& g, const Node& n) {
  if (n.op != ir::OpType::kShape || n.outputs.size() != 1 || n.input(0) == ir::kNoValue) return std::nullopt;
  std::optional<ir::Dims> dims = KnownDims(g, n.input(0));
  if (!dims) return std::nullopt;
  const auto rank = static_cast<int64_t>(dims->size());
  int64_t start = n.attrs.GetInt("start", 0), end = n.attrs.GetInt("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::max(start, std::clamp<int64_t>(end, 0, rank));
  std::vector<int64_t> v(dims->begin() + start, dims->begin() + end);
  return Folded{{Tensor::FromVector<int64_t>({end - start}, v)}};
}

// Evaluates a node whose present inputs are all constant.
std::optional<Folded> EvaluateConstantNode(const Graph& g, const Node& n) {
  for (ValueId i : n.inputs)
    if (i != ir::kNoValue && !g.constant(i)) return std::nullopt;
  std::vector<ir::eval::InputInfo> infos(n.inputs.size());
  std::vector<ir::Shape> shapes(n.inputs.size());
  std::vector<const Tensor*> ptrs(n.inputs.size(), nullptr);
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    const Tensor* t = g.constant(n.inputs[i]);
    if (!t) continue;
    shapes[i] = ir::ShapeFromDims(t->dims());
    infos[i] = ir::eval::InputInfo{true, t->dtype(), &shapes[i], t};
    ptrs[i] = t;
  }
  const ir::eval::OpDef& def = ir::eval::GetOpDef(n.op);
  ir::eval::InferContext ctx{n, infos, g.opset};
  auto types = def.infer(ctx);
  if (!types.ok()) return std::nullopt;
  Folded f;
  size_t total = 0;
  for (size_t o = 0; o < n.outputs.size(); ++o) {
    if (n.outputs[o] == ir::kNoValue || o >= types->size()) {
      f.outputs.emplace_back();
      continue;
    }
    const ir::eval::OutputType& t = (*types)[o];
    std::optional<ir::Dims> dims = t.shape ? ir::DimsFromShape(*t.shape) : std::nullopt;
    if (!dims || t.dtype == ir::DType::kUndefined) return std::nullopt;
    auto count = ir::CheckedElementCount(*dims);
    if (!count.ok()) return std::nullopt;
    total += static_cast<size_t>(*count) * ir::DTypeSize(t.dtype);
    if (total > kMaxFoldBytes) return std::nullopt;
    f.outputs.emplace_back(t.dtype, *dims);
  }
  if (!def.kernel(n, ptrs, f.outputs).ok()) return std::nullopt;
  return f;
}

std::optional<Folded> Match(const Graph& g, const Node& n) {
  if (auto f = MatchStaticShape(g, n)) return f;
  return EvaluateConstantNode(g, n);
}

// The node's outputs become constants (same values, same names); the node goes.
void Rewrite(Graph& g, const Node& n, Folded f) {
  for (size_t o = 0; o < n.outputs.size(); ++o) {
    if (n.outputs[o] == ir::kNoValue) continue;
    ir::Value& v = g.value(n.outputs[o]);
    v.dtype = f.outputs[o].dtype();
    v.shape = ir::ShapeFromDims(f.outputs[o].dims());
    v.constant = std::move(f.outputs[o]);
  }
}

class ConstantFolding : public Pass {
 public:
  std::string_view name() const override { return "constant_folding"; }
  Result<int> Run(Graph& g) override {
    std::vector<int32_t> folded;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      std::optional<Folded> f = Match(g, g.nodes[i]);
      if (!f) continue;
      Rewrite(g, g.nodes[i], std::move(*f));
      folded.push_back(static_cast<int32_t>(i));
    }
    EraseNodes(g, folded);
    return static_cast<int>(folded.size());
  }
};

}  // namespace

std::unique_ptr<Pass> MakeConstantFolding() { return std::make_unique<ConstantFolding>(); }

}  // namespace squint::passes
