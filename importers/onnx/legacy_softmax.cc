#include "importers/onnx/legacy_softmax.h"

#include <fmt/format.h>

#include "ir/eval/shape_inference.h"

namespace squint::importers::onnx_detail {
namespace {

bool IsSoftmax(const ir::Node& n) { return n.op == ir::OpType::kSoftmax || n.op == ir::OpType::kLogSoftmax; }

// The coerced axis of softmax node n when it is not x's last axis, else -1 (also when x's rank is
// unknown or the axis is out of range: shape inference reports that).
int64_t AxisToRewrite(const ir::Graph& g, const ir::Node& n) {
  const auto& shape = g.value(n.input(0)).shape;
  if (!shape) return -1;
  const auto rank = static_cast<int64_t>(shape->size());
  int64_t a = n.attrs.GetInt("axis", 1);
  if (a < 0) a += rank;
  if (a < 0 || a >= rank - 1) return -1;
  return a;
}

void Rewrite(ir::Graph& g, size_t index, int64_t axis) {
  const ir::Node old = g.nodes[index];
  const ir::ValueId x = old.input(0), y = old.outputs[0];
  const ir::DType dtype = g.value(x).dtype;
  auto add = [&](const std::string& base, ir::DType t) {
    ir::Value v;
    v.name = g.UniqueValueName(base);
    v.dtype = t;
    return g.AddValue(std::move(v));
  };
  const ir::ValueId flat = add(g.value(x).name + "_2d", dtype);
  const ir::ValueId soft = add(g.value(y).name + "_2d", dtype);
  const ir::ValueId dims = add(g.value(x).name + "_shape", ir::DType::kInt64);
  ir::Node flatten;
  flatten.op = ir::OpType::kFlatten;
  flatten.name = old.name + "_flatten";
  flatten.inputs = {x};
  flatten.outputs = {flat};
  flatten.attrs.set("axis", axis);
  ir::Node shape;
  shape.op = ir::OpType::kShape;
  shape.name = old.name + "_shape";
  shape.inputs = {x};
  shape.outputs = {dims};
  ir::Node reshape;
  reshape.op = ir::OpType::kReshape;
  reshape.name = old.name + "_reshape";
  reshape.inputs = {soft, dims};
  reshape.outputs = {y};
  ir::Node& n = g.nodes[index];
  n.inputs = {flat};
  n.outputs = {soft};
  n.attrs.set("axis", int64_t{1});  // the last axis of the 2-D input: same under both opsets' rules
  g.nodes.push_back(std::move(flatten));
  g.nodes.push_back(std::move(shape));
  g.nodes.push_back(std::move(reshape));
}

}  // namespace

Status RewriteLegacySoftmax(ir::Graph& g) {
  // Each round infers further (inference stops at the first node it cannot type, e.g. such a
  // softmax); every rewrite makes one softmax typeable, so rounds <= softmax count + 1.
  size_t softmaxes = 0;
  for (const ir::Node& n : g.nodes) softmaxes += IsSoftmax(n);
  for (size_t round = 0;; ++round) {
    const Status inferred = ir::eval::InferShapes(g);
    bool changed = false;
    const size_t count = g.nodes.size();
    for (size_t i = 0; i < count; ++i) {
      if (!IsSoftmax(g.nodes[i])) continue;
      const int64_t axis = AxisToRewrite(g, g.nodes[i]);
      if (axis < 0) continue;
      Rewrite(g, i, axis);
      changed = true;
    }
    if (!changed) return inferred;
    if (round > softmaxes) return Internal("legacy softmax rewrite did not converge after {} rounds", round);
    SQ_RETURN_IF_ERROR(ir::TopologicalSort(g));
  }
}

}  // namespace squint::importers::onnx_detail
