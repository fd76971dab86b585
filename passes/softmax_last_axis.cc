// A Softmax over an axis other than the last one, between two Transposes, over the last axis: the
// integer runtime's SOFTMAX (and its keep masks, log grids and fast rows) works on the last axis.
//
//   before:  y = Softmax(x, axis = k)                          x of rank r, k != r − 1
//   after:   t = Transpose(x, perm = [0..k−1, k+1..r−1, k])
//            s = Softmax(t, axis = −1)                         (the same node name and attributes)
//            y = Transpose(s, perm⁻¹)
//
// Exact in float: the transposes only move elements. YOLOv8's distribution-focal-loss head
// (`softmax(1)` of [b, 16, 4, anchors]) is the case met in the wild. A Softmax with extra
// inputs (masks fused by earlier passes) or of unknown rank is left alone.
#include "passes/graph_edit.h"
#include "passes/pass.h"

namespace squint::passes {
namespace {

class SoftmaxLastAxis : public Pass {
 public:
  std::string_view name() const override { return "softmax_last_axis"; }

  Result<int> Run(ir::Graph& g) override {
    int count = 0;
    std::vector<ir::Node> nodes;
    std::optional<ir::ValueNames> names;
    for (ir::Node& n : g.nodes) {
      const std::optional<ir::Dims> dims = n.op == ir::OpType::kSoftmax && n.inputs.size() == 1 && n.outputs.size() == 1
                                               ? KnownDims(g, n.input(0))
                                               : std::nullopt;
      const int64_t rank = dims ? static_cast<int64_t>(dims->size()) : 0;
      int64_t axis = n.attrs.GetInt("axis", -1);
      if (axis < 0) axis += rank;
      if (!dims || axis < 0 || axis >= rank - 1) {
        nodes.push_back(std::move(n));
        continue;
      }
      if (!names) names.emplace(g);
      std::vector<int64_t> perm, inverse(static_cast<size_t>(rank));
      for (int64_t d = 0; d < rank; ++d)
        if (d != axis) perm.push_back(d);
      perm.push_back(axis);
      ir::Dims moved;
      for (size_t d = 0; d < perm.size(); ++d) {
        inverse[static_cast<size_t>(perm[d])] = static_cast<int64_t>(d);
        moved.push_back((*dims)[static_cast<size_t>(perm[d])]);
      }
      auto value = [&](const std::string& base) {
        ir::Value v;
        v.name = names->Make(base);
        v.dtype = g.value(n.outputs[0]).dtype;
        v.shape = ir::ShapeFromDims(moved);
        return g.AddValue(std::move(v));
      };
      const ir::ValueId t = value(n.name + "/last_axis_in"), s = value(n.name + "/last_axis_out");
      auto transpose = [&](const std::string& suffix, ir::ValueId in, ir::ValueId out, std::vector<int64_t> p) {
        ir::Node tr;
        tr.op = ir::OpType::kTranspose;
        tr.name = n.name + suffix;
        tr.inputs = {in};
        tr.outputs = {out};
        tr.attrs.set("perm", std::move(p));
        return tr;
      };
      ir::Node to_last = transpose("/to_last_axis", n.input(0), t, perm);
      ir::Node back = transpose("/from_last_axis", s, n.outputs[0], inverse);
      n.inputs = {t};
      n.outputs = {s};
      n.attrs.set("axis", int64_t{-1});
      nodes.push_back(std::move(to_last));
      nodes.push_back(std::move(n));
      nodes.push_back(std::move(back));
      ++count;
    }
    g.nodes = std::move(nodes);
    return count;
  }
};

}  // namespace

std::unique_ptr<Pass> MakeSoftmaxLastAxis() { return std::make_unique<SoftmaxLastAxis>(); }

}  // namespace squint::passes
