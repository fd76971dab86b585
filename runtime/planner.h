// Memory planner: lays every activation of a model into one arena by lifetime.
//
// Used twice: by the quantizer at export time (fills Tensor.arena_offset and MemoryPlan) and by
// the runtime's loader, which checks a stored plan (or plans a model that carries none).
//
// Lifetimes are in op steps. A tensor is live from the step that produces it (step 0 for model
// inputs) to the last step that reads it (the last step for model outputs), inclusive; an op's
// inputs and outputs are live at the same step, so kernels never run in place. A RESHAPE output
// may alias its input (same offset, same size): the two then form one block whose lifetime is the
// union of both.
//
// Plan: blocks sorted by size (largest first, ties by first use then index), each placed at the
// lowest 64-byte-aligned offset where it overlaps no already placed block whose lifetime
// intersects its own (first fit in address order). Lower bound: the largest sum of (64-byte
// rounded) block sizes live at any one step; no plan with aligned offsets can be smaller.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/memory.h"
#include "runtime/status.h"

namespace squint::rt {

// The planner's containers are temporaries (memory.h): on the heap for the quantizer, from the
// arena's temporary end in a heapless runtime's load.
constexpr int64_t kArenaAlignment = 64;

struct Lifetime {
  int32_t first = -1;  // -1: never live (unused tensor)
  int32_t last = -1;
  bool live() const { return first >= 0; }
  bool Intersects(const Lifetime& o) const {
    return live() && o.live() && first <= o.last && o.first <= last;
  }
};

// One contiguous region to place: a tensor, or a group of aliasing tensors.
struct ArenaBlock {
  int64_t size = 0;  // bytes (> 0)
  Lifetime lifetime;
  int64_t offset = -1;  // output of PlanBlocks
};

// Places `blocks` (fills offset); returns the arena size in bytes.
uint64_t PlanBlocks(TempVec<ArenaBlock>* blocks);
// The largest sum of 64-byte-rounded sizes of blocks live at one step.
uint64_t BlocksLowerBound(const TempVec<ArenaBlock>& blocks);
// Finds two blocks live at the same step whose byte ranges overlap; returns false if none.
bool FindOverlap(const TempVec<ArenaBlock>& blocks, size_t* a, size_t* b);

// A model, as far as the planner needs it.
struct PlanProblem {
  TempVec<int64_t> tensor_bytes;  // per tensor; < 0: not in the arena (a constant)
  TempVec<TempVec<int32_t>> op_inputs;   // per op: tensor indices, -1 for absent
  TempVec<TempVec<int32_t>> op_outputs;  // per op
  TempVec<bool> op_may_alias;  // per op (may be empty): output 0 may share input 0 (RESHAPE)
  TempVec<int32_t> model_inputs;
  TempVec<int32_t> model_outputs;
};

struct MemoryPlanResult {
  TempVec<int64_t> offsets;  // per tensor; -1 for constants and unused tensors
  uint64_t arena_size = 0;
  uint64_t lower_bound = 0;
};

// Lifetimes of all tensors (not-live for constants and unused ones). Fails on out-of-range
// indices, a tensor read before it is produced, or produced twice.
Status ComputeLifetimes(const PlanProblem& problem, TempVec<Lifetime>* lifetimes);

// Plans the arena. With `allow_alias`, RESHAPE outputs share their input's offset.
Status PlanMemory(const PlanProblem& problem, bool allow_alias, MemoryPlanResult* result);

// Checks a stored plan: every live tensor has an offset aligned to `alignment_of(tensor)` bytes
// (pass `alignments`, per tensor, or empty for 1), lies within arena_size, and no two tensors
// live at the same step overlap, except a RESHAPE output stored at its input's offset.
Status CheckMemoryPlan(const PlanProblem& problem, const TempVec<int64_t>& offsets,
                       const TempVec<int32_t>& alignments, uint64_t arena_size);

}  // namespace squint::rt
