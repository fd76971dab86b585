// One definition per operator: how its output types follow from its inputs (shape
// inference, symbolic dims included), and how it computes in float32 (plus the int64/bool
// arithmetic exporters emit for shapes). The same Infer function gives the static types of
// a graph and the output shapes the evaluator allocates, so the shape rules live once.
#pragma once

#include <span>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"

namespace squint::ir::eval {

// What is known about one input of a node: its type, its shape (symbolic dims allowed,
// nullopt when even the rank is unknown) and, when it is constant or being evaluated,
// its value. An absent optional input has dtype kUndefined and present == false.
struct InputInfo {
  bool present = false;
  DType dtype = DType::kUndefined;
  const Shape* shape = nullptr;   // nullptr: rank unknown
  const Tensor* value = nullptr;  // known value, or nullptr
};

struct OutputType {
  DType dtype = DType::kUndefined;
  std::optional<Shape> shape;  // nullopt: rank unknown
};

struct InferContext {
  const Node& node;
  std::span<const InputInfo> inputs;
  int64_t opset;  // default-domain opset of the model
  const InputInfo& in(size_t i) const {
    static const InputInfo kAbsent;
    return i < inputs.size() ? inputs[i] : kAbsent;
  }
};

// Infers every output's type. Returns an error naming the node for invalid inputs
// (wrong rank, mismatched dims, bad attribute), so that a graph that passes inference
// can be evaluated without further checks beyond what depends on runtime values.
using InferFn = Result<std::vector<OutputType>> (*)(const InferContext& ctx);

// Computes outputs. `outputs` are allocated by the evaluator from the inferred
// (concrete) shapes; the kernel fills them. Inputs are all present-or-null pointers.
using KernelFn = Status (*)(const Node& node, std::span<const Tensor* const> inputs,
                            std::span<Tensor> outputs);

struct OpDef {
  InferFn infer = nullptr;
  KernelFn kernel = nullptr;
};

// The definition of op; both functions are non-null for every op in ir/ops.inc.
const OpDef& GetOpDef(OpType op);

}  // namespace squint::ir::eval
