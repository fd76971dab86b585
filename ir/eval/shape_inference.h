// Static type and shape inference over a whole graph, driven by each op's Infer function.
#pragma once

#include <map>
#include <string>

#include "base/status.h"
#include "ir/graph.h"

namespace squint::ir::eval {

// Fills dtype and shape of every node output, in topological order. Values whose shapes
// are already known keep the more specific of the two. Constants' values are given to the
// Infer functions, so shape arithmetic on constants resolves (Reshape with a constant
// shape, Range with constant bounds, ...).
Status InferShapes(Graph& g);

// Binds symbolic or unknown dims of graph inputs to sizes ("input" -> 1x1x28x28) and
// re-runs inference. Error when a binding names no input, has the wrong rank or
// contradicts a known dim.
Status BindInputShapes(Graph& g, const std::map<std::string, Dims>& shapes);

// Parses "name=1x1x28x28" into (name, dims); error explains the expected form.
Result<std::pair<std::string, Dims>> ParseInputShape(const std::string& spec);

}  // namespace squint::ir::eval
