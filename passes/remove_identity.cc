// Identity and inference-mode Dropout removal.
//
//   before:  x -> Identity|Dropout -> y -> consumers
//   after:   x -> consumers                          (y is not a graph output)
//   or:      P -> y -> consumers(x and y)            (y is a graph output, x = P's output)
//
// y = x exactly (Dropout at inference is the identity). Graph output names are part of the
// model's interface, so when y is a graph output the surviving value is y: x's producer P
// writes y directly and x's readers read y. When y is a graph output and x is a graph input,
// a constant or itself a graph output, the node stays (two interface names for one value).
// Dropout is removed only when its mask output is unused and training_mode is absent or a
// constant false.
#include "passes/graph_edit.h"
#include "passes/pass.h"
#include "passes/pattern_pass.h"

namespace squint::passes {
namespace {

using ir::Graph;
using ir::Node;
using ir::ValueId;

struct Match {
  int32_t node = -1;
  ValueId x = ir::kNoValue, y = ir::kNoValue;
  bool keep_y = false;   // y is a graph output: x's producer takes it over
  int32_t x_producer = -1;
};

bool IsInferenceDropout(const Graph& g, const GraphIndex& index, const Node& n) {
  for (size_t o = 1; o < n.outputs.size(); ++o)
    if (n.outputs[o] != ir::kNoValue && index.Uses(n.outputs[o]) > 0) return false;
  if (n.input(2) != ir::kNoValue) {
    std::optional<double> training = ScalarConstant(g, n.input(2));
    if (!training || *training != 0) return false;
  }
  return g.opset >= 7 || n.attrs.GetInt("is_test", 0) != 0;  // before opset 7, is_test selects inference
}

std::optional<Match> MatchIdentity(const Graph& g, const GraphIndex& index, int32_t i) {
  const Node& n = g.nodes[static_cast<size_t>(i)];
  if (n.op != ir::OpType::kIdentity && n.op != ir::OpType::kDropout) return std::nullopt;
  if (n.op == ir::OpType::kDropout && !IsInferenceDropout(g, index, n)) return std::nullopt;
  if (n.outputs.empty() || n.input(0) == ir::kNoValue || n.outputs[0] == ir::kNoValue) return std::nullopt;
  Match m{i, n.input(0), n.outputs[0]};
  if (!index.IsGraphOutput(m.y)) return m;
  m.keep_y = true;
  m.x_producer = index.ProducerIndex(m.x);
  if (m.x_producer < 0 || index.IsGraphOutput(m.x)) return std::nullopt;
  return m;
}

Status Rewrite(GraphEditor& e, const Match& m) {
  e.Erase(m.node);
  if (!m.keep_y) {
    e.ReplaceUses(m.y, m.x);
  } else {
    Node p = e.graph().nodes[static_cast<size_t>(m.x_producer)];
    for (ValueId& o : p.outputs)
      if (o == m.x) o = m.y;
    e.SetNode(m.x_producer, std::move(p));
    e.ReplaceUses(m.x, m.y);
  }
  return Status::Ok();
}

class RemoveIdentity : public Pass {
 public:
  std::string_view name() const override { return "remove_identity"; }
  Result<int> Run(Graph& g) override {
    return RewriteAll<Match>(g, {ir::OpType::kIdentity, ir::OpType::kDropout}, MatchIdentity, Rewrite);
  }
};

}  // namespace

std::unique_ptr<Pass> MakeRemoveIdentity() { return std::make_unique<RemoveIdentity>(); }

}  // namespace squint::passes
