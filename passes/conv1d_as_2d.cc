// A 1-D convolution (audio, time series: Conv over [N, C, L]) as the 2-D convolution the integer
// runtime runs, over a height of 1:
//
//   before:  y = Conv(x, W, b)                          x [N, C, L], W [M, C/g, k] constant
//   after:   y = Squeeze(Conv(Unsqueeze(x, 2), W', b), 2)
//            W' = W as [M, C/g, 1, k]; kernel_shape [1, k], strides [1, s], dilations [1, d],
//            pads [0, p_begin, 0, p_end]; group and auto_pad kept (a height-1 kernel pads nothing)
//
// Exact in float: the same products in the same order. The node keeps its name, so options that
// name it (--a16 NODE) still apply. A Conv whose weight is not a constant stays as it is.
#include "passes/graph_edit.h"
#include "passes/pass.h"

namespace squint::passes {
namespace {

class Conv1dAs2d : public Pass {
 public:
  std::string_view name() const override { return "conv1d_as_2d"; }

  Result<int> Run(ir::Graph& g) override {
    int count = 0;
    std::vector<ir::Node> nodes;
    std::optional<ir::ValueNames> names;
    for (ir::Node& n : g.nodes) {
      const ir::Tensor* w = n.op == ir::OpType::kConv ? Float32Constant(g, n.input(1)) : nullptr;
      const auto& xs = n.op == ir::OpType::kConv ? g.value(n.input(0)).shape : std::nullopt;
      if (!w || w->rank() != 3 || !xs || xs->size() != 3 || n.outputs.size() != 1) {
        nodes.push_back(std::move(n));
        continue;
      }
      if (!names) names.emplace(g);
      ir::Tensor w2 = w->Reshaped({w->dim(0), w->dim(1), 1, w->dim(2)});
      const ir::DType dtype = g.value(n.input(0)).dtype;
      auto value = [&](const std::string& base) {
        ir::Value v;
        v.name = names->Make(base);
        v.dtype = dtype;
        return g.AddValue(std::move(v));
      };
      const ir::ValueId axes = g.AddConstant(names->Make(n.name + "/height_axis"),
                                             ir::Tensor::FromVector<int64_t>({1}, std::vector<int64_t>{2}));
      const ir::ValueId x2 = value(n.name + "/x_2d"), y2 = value(n.name + "/y_2d");
      const ir::ValueId y = n.outputs[0];
      ir::Node up;
      up.op = ir::OpType::kUnsqueeze;
      up.name = n.name + "/to_2d";
      up.inputs = {n.input(0), axes};
      up.outputs = {x2};
      ir::Node down;
      down.op = ir::OpType::kSqueeze;
      down.name = n.name + "/to_1d";
      down.inputs = {y2, axes};
      down.outputs = {y};
      n.inputs[0] = x2;
      n.inputs[1] = g.AddConstant(names->Make(g.value(n.input(1)).name + "_2d"), std::move(w2));
      n.outputs = {y2};
      auto widen = [&](const char* attr, int64_t one) {  // [v] -> [one, v]; pads [b, e] -> [0, b, 0, e]
        if (!n.attrs.has(attr)) return;
        const std::vector<int64_t> v = n.attrs.GetInts(attr);
        n.attrs.set(attr, v.size() == 2 && std::string(attr) == "pads" ? std::vector<int64_t>{0, v[0], 0, v[1]}
                          : v.size() == 1                             ? std::vector<int64_t>{one, v[0]}
                                                                      : v);
      };
      widen("kernel_shape", 1);
      widen("strides", 1);
      widen("dilations", 1);
      widen("pads", 0);
      nodes.push_back(std::move(up));
      nodes.push_back(std::move(n));
      nodes.push_back(std::move(down));
      ++count;
    }
    g.nodes = std::move(nodes);
    return count;
  }
};

}  // namespace

std::unique_ptr<Pass> MakeConv1dAs2d() { return std::make_unique<Conv1dAs2d>(); }

}  // namespace squint::passes
