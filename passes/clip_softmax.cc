#include "passes/clip_softmax.h"

#include <cmath>

namespace squint::passes {

Result<int> ClipSoftmax(ir::Graph& g, double alpha) {
  if (!std::isfinite(alpha) || alpha < 0)
    return InvalidInput("--clip-softmax {}: ALPHA must be a finite number >= 0 (gamma = -ALPHA/T)", alpha);
  int clipped = 0;
  for (ir::Node& n : g.nodes) {
    if (n.op != ir::OpType::kSoftmax) continue;
    if (n.attrs.has("zeta") || n.attrs.has("gamma"))
      return InvalidInput("--clip-softmax: {} is already a clipped softmax (zeta {}, gamma {}): the model was trained "
                          "with it",
                          n.Label(), n.attrs.GetFloat("zeta", 1.0f), n.attrs.GetFloat("gamma", 0.0f));
    const ir::Value& x = g.value(n.inputs.at(0));
    std::optional<ir::Dims> dims = x.shape ? ir::DimsFromShape(*x.shape) : std::nullopt;
    const int64_t rank = dims ? static_cast<int64_t>(dims->size()) : 0;
    int64_t axis = n.attrs.GetInt("axis", -1);
    if (axis < 0) axis += rank;
    if (!dims || axis < 0 || axis >= rank || (*dims)[static_cast<size_t>(axis)] <= 0)
      return InvalidInput("--clip-softmax: {}: the length of its axis is unknown (bind the input shapes with "
                          "--input-shape)",
                          n.Label());
    const double t = static_cast<double>((*dims)[static_cast<size_t>(axis)]);
    n.attrs.set("zeta", 1.0f);
    n.attrs.set("gamma", static_cast<float>(-alpha / t));
    ++clipped;
  }
  if (clipped == 0) return InvalidInput("--clip-softmax: the model has no Softmax node");
  return clipped;
}

}  // namespace squint::passes
