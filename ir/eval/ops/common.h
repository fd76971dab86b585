// Helpers shared by the op definitions in ir/eval/ops/: shape rules (broadcasting, axes)
// and typed dispatch. Every helper that reads a node reports errors with node.Label().
#pragma once

#include <cmath>
#include <optional>
#include <span>
#include <vector>

#include "base/status.h"
#include "ir/eval/op_def.h"

namespace squint::ir::eval {

// Numpy-style multidirectional broadcasting of two shapes (symbolic dims allowed:
// a symbol broadcast with 1 stays the symbol; two different unknowns give unknown).
Result<Shape> BroadcastShapes(const Node& node, const Shape& a, const Shape& b);
// Broadcast across all present inputs with known rank; nullopt when any rank is unknown.
Result<std::optional<Shape>> BroadcastInputs(const InferContext& ctx);

// Axis in [-rank, rank) -> [0, rank); error naming the node and attribute otherwise.
Result<int64_t> NormalizeAxis(const Node& node, int64_t axis, int64_t rank, const char* what = "axis");

// Requires input i to be present; error "Conv 'c': input 1 (weight) is missing".
Status RequireInput(const InferContext& ctx, size_t i, const char* what);
// Requires input i's rank to be known and returns its shape.
Result<const Shape*> RequireShape(const InferContext& ctx, size_t i, const char* what);
// Requires input i's value to be known (a constant, or evaluated) and returns it.
Result<const Tensor*> RequireValue(const InferContext& ctx, size_t i, const char* what);

// Strides of a row-major tensor with these dims.
std::vector<int64_t> Strides(const Dims& dims);

// Maps a linear index of `out_dims` to the linear index of a tensor broadcast into it
// (`in_dims` right-aligned); used by elementwise kernels on non-trivially broadcast inputs.
class BroadcastIndexer {
 public:
  BroadcastIndexer(const Dims& in_dims, const Dims& out_dims);
  int64_t operator()(int64_t out_index) const;
  bool identity() const { return identity_; }

 private:
  std::vector<int64_t> out_strides_, in_strides_;
  bool identity_ = false;
};

// Output type with the same dtype and shape as input i.
inline OutputType SameAsInput(const InferContext& ctx, size_t i) {
  const InputInfo& in = ctx.in(i);
  OutputType t;
  t.dtype = in.dtype;
  if (in.shape) t.shape = *in.shape;
  return t;
}

// A C++ element type as a value, for typed dispatch: f(TypeTag<T>{}) then typename decltype(tag)::type.
template <typename T>
struct TypeTag {
  using type = T;
};

// Calls f(TypeTag<T>{}) for the C++ type of dtype; an error naming the node for kUndefined.
template <typename F>
Status VisitDType(const Node& node, DType dtype, F&& f) {
  switch (dtype) {
#define SQ_X(e, t, n, o) \
  case DType::e: return f(TypeTag<t>{});
    SQUINT_DTYPES(SQ_X)
#undef SQ_X
    case DType::kUndefined: break;
  }
  return Internal("{}: undefined element type", node.Label());
}

// One output of `dtype` and shape `shape`.
inline Result<std::vector<OutputType>> One(DType dtype, std::optional<Shape> shape) {
  return std::vector<OutputType>{OutputType{dtype, std::move(shape)}};
}

}  // namespace squint::ir::eval
