// The float reference evaluator: runs a graph on concrete inputs, op by op, in float32
// (plus int64/bool shape arithmetic). Calibration, pass tests and reports build on it.
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"

namespace squint::ir::eval {

// Called after each node with the node and its outputs (in node.outputs order; an
// absent optional output is an empty Tensor). Sees every intermediate tensor.
using NodeHook = std::function<void(const Node& node, std::span<const Tensor> outputs)>;

class Evaluator {
 public:
  explicit Evaluator(const Graph& g);

  // Runs the graph. `inputs` follow g.inputs order; each is checked against the input's
  // dtype and (possibly symbolic) shape: known dims must match and every use of one
  // symbol must bind to one size. Returns the graph outputs in g.outputs order.
  Result<std::vector<Tensor>> Run(std::span<const Tensor> inputs, const NodeHook& hook = {}) const;

 private:
  const Graph& g_;
  std::vector<int32_t> last_use_;  // per value: index of the last node reading it
};

// Checks one input tensor against a graph input value; error names the input, the
// expected and actual dtype or shape. `symbols` collects symbol bindings across inputs.
Status CheckInput(const Value& v, const Tensor& t, std::map<std::string, int64_t>& symbols);

}  // namespace squint::ir::eval
