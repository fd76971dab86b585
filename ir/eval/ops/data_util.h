// Helpers for the data movement and shape ops (ir/eval/ops/shape_ops.cc, data_movement.cc,
// compare.cc, resize.cc, cast.cc): type-agnostic copies on bytes and reading of integer
// shape-like inputs (Reshape's shape, Slice's starts, Pad's pads, ...).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "ir/eval/ops/common.h"

namespace squint::ir::eval {

// For every index (i_0, .., i_{n-1}) of `dims`:
//   dst[sum_k i_k * dst_strides[k]] = src[sum_k i_k * src_strides[k]]
// on elements of elem_size bytes. Strides count elements; source strides may be 0
// (broadcast) or negative (reversed slices; `src` then points at the first element read).
// Contiguous runs become memcpy, and a permutation that moves the unit-stride source dim
// away from the innermost position (transposes) is copied in cache-sized tiles.
void StridedCopy(void* dst, const void* src, size_t elem_size, const Dims& dims,
                 std::span<const int64_t> dst_strides, std::span<const int64_t> src_strides);

// Copies `src` of src_dims, broadcast numpy-style (right-aligned) into dst of dst_dims.
void BroadcastCopy(void* dst, const Dims& dst_dims, const void* src, const Dims& src_dims, size_t elem_size);

// Fills a dense dst of `out_dims` where, per dim k, maps[k][i] is the source element offset
// contributed by index i of that dim (an index times a source stride), or -1 for "outside
// the source": such elements get `fill` (elem_size bytes). Used by Pad and nearest Resize.
void IndexMapCopy(void* dst, const void* src, size_t elem_size, const Dims& out_dims,
                  const std::vector<std::vector<int64_t>>& maps, const void* fill);

// Fills count elements at dst with copies of the elem_size bytes at value.
void FillElements(void* dst, const void* value, size_t elem_size, int64_t count);

// An integer shape-like input (int32 or int64, rank 0 or 1) read as int64s when its value
// is known; nullopt when it is absent or its value is not known (static inference).
// Error naming the node when its type or rank is wrong.
Result<std::optional<std::vector<int64_t>>> IntsInput(const InferContext& ctx, size_t i, const char* what);

// Length of a rank-1 input when its shape says it (the number of values it will carry).
std::optional<int64_t> KnownLength(const InferContext& ctx, size_t i);

// Values of an integer tensor as int64 (empty for a null pointer): kernels re-read the
// shape-like inputs that Infer already validated.
std::vector<int64_t> IntsOf(const Tensor* t);

// Product of dims: known when all are known, the one symbol when the others are known
// 1s, unknown otherwise (or on overflow past kMaxElements).
Dim ProductDim(std::span<const Dim> dims);

// Known dims' product with overflow guard; error naming the node for absurd shapes.
Result<int64_t> KnownProduct(const Node& node, std::span<const Dim> dims);

// "[1, -1, 3]" for messages.
std::string IntsToString(std::span<const int64_t> v);

}  // namespace squint::ir::eval
