#include "quant/value_tap.h"

#include <algorithm>
#include <set>

#include "ir/eval/evaluator.h"

namespace squint::quant {

Status TapValues(const ir::Graph& g, const CalibData& data, int64_t max_samples, const std::vector<ir::ValueId>& wanted,
                 const SampleValuesFn& fn) {
  const std::set<ir::ValueId> want(wanted.begin(), wanted.end());
  std::map<ir::ValueId, ir::Tensor> seen;
  ir::eval::Evaluator evaluator(g);
  auto hook = [&](const ir::Node& node, std::span<const ir::Tensor> outs) {
    for (size_t k = 0; k < node.outputs.size(); ++k)
      if (want.count(node.outputs[k])) seen[node.outputs[k]] = outs[k];
  };
  const int64_t n = max_samples > 0 ? std::min(max_samples, data.num_samples) : data.num_samples;
  for (int64_t s = 0; s < n; ++s) {
    seen.clear();
    SQ_ASSIGN_OR_RETURN(std::vector<ir::Tensor> inputs, data.Samples(s, 1));
    for (size_t i = 0; i < g.inputs.size() && i < inputs.size(); ++i)
      if (want.count(g.inputs[i])) seen[g.inputs[i]] = inputs[i];
    SQ_RETURN_IF_ERROR(evaluator.Run(inputs, hook).status());
    for (ir::ValueId v : want) {
      auto it = seen.find(v);
      if (it == seen.end() || it->second.dtype() != ir::DType::kFloat32)
        return Internal("the float value '{}' was not produced by the evaluator", g.value(v).name);
    }
    SQ_RETURN_IF_ERROR(fn(seen));
  }
  return Status::Ok();
}

}  // namespace squint::quant
