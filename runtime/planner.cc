#include "runtime/planner.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <numeric>
#include <set>

namespace squint::rt {
namespace {

uint64_t AlignUp(uint64_t x) {
  return (x + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
}

// Union-find over tensor indices (alias groups).
class Groups {
 public:
  explicit Groups(size_t n) : parent_(n) { std::iota(parent_.begin(), parent_.end(), size_t{0}); }
  size_t Find(size_t x) {
    while (parent_[x] != x) x = parent_[x] = parent_[parent_[x]];
    return x;
  }
  void Union(size_t a, size_t b) {
    a = Find(a);
    b = Find(b);
    if (a != b) parent_[std::max(a, b)] = std::min(a, b);
  }

 private:
  TempVec<size_t> parent_;
};

bool InRange(int32_t index, size_t n) { return index >= 0 && static_cast<size_t>(index) < n; }

// Groups tensors into blocks; block_of[t] = block index or -1. `alias(op, in, out)` decides
// whether a may-alias op's output joins its input's block.
template <typename AliasFn>
void BuildBlocks(const PlanProblem& p, const TempVec<Lifetime>& lifetimes, AliasFn alias,
                 TempVec<ArenaBlock>* blocks, TempVec<int32_t>* block_of,
                 TempVec<int32_t>* block_tensor) {
  const size_t n = p.tensor_bytes.size();
  Groups groups(n);
  for (size_t i = 0; i < p.op_inputs.size(); ++i) {
    if (i >= p.op_may_alias.size() || !p.op_may_alias[i]) continue;
    if (p.op_inputs[i].empty() || p.op_outputs[i].empty()) continue;
    const int32_t in = p.op_inputs[i][0], out = p.op_outputs[i][0];
    if (!InRange(in, n) || !InRange(out, n)) continue;
    if (p.tensor_bytes[in] < 0 || p.tensor_bytes[out] != p.tensor_bytes[in]) continue;
    if (!lifetimes[in].live() || !lifetimes[out].live()) continue;
    if (alias(in, out)) groups.Union(in, out);
  }
  block_of->assign(n, -1);
  blocks->clear();
  block_tensor->clear();
  TempVec<int32_t> root_block(n, -1);
  for (size_t t = 0; t < n; ++t) {
    if (p.tensor_bytes[t] <= 0 || !lifetimes[t].live()) continue;
    const size_t root = groups.Find(t);
    if (root_block[root] < 0) {
      root_block[root] = static_cast<int32_t>(blocks->size());
      ArenaBlock b;
      b.size = p.tensor_bytes[t];
      b.lifetime = lifetimes[t];
      blocks->push_back(b);
      block_tensor->push_back(static_cast<int32_t>(t));
    } else {
      Lifetime& l = (*blocks)[root_block[root]].lifetime;
      l.first = std::min(l.first, lifetimes[t].first);
      l.last = std::max(l.last, lifetimes[t].last);
    }
    (*block_of)[t] = root_block[root];
  }
}

// Placed blocks, found by lifetime: those whose lifetime intersects a given one, in
// O(log steps + answers) rather than a scan of every placed block (quadratic over a model).
// [f, l] meets [a, b] iff a is in [f, l] (an ordered index by first step), or a < f <= b (the
// blocks covering step f: a segment tree over steps, each lifetime stored at O(log steps)
// nodes whose ranges it covers).
class LifetimeIndex {
 public:
  LifetimeIndex(const TempVec<ArenaBlock>& blocks, int32_t steps)
      : blocks_(blocks), leaves_(static_cast<size_t>(std::max(steps, 1))), cover_(2 * leaves_) {}

  void Add(size_t block) {
    const Lifetime& t = blocks_[block].lifetime;
    by_first_.emplace(t.first, block);
    for (size_t l = static_cast<size_t>(t.first) + leaves_, r = static_cast<size_t>(t.last) + leaves_ + 1; l < r;
         l >>= 1, r >>= 1) {
      if (l & 1) cover_[l++].push_back(block);
      if (r & 1) cover_[--r].push_back(block);
    }
  }

  void Intersecting(const Lifetime& t, TempVec<size_t>* out) const {
    for (auto it = by_first_.lower_bound(t.first); it != by_first_.end() && it->first <= t.last; ++it)
      out->push_back(it->second);
    for (size_t node = static_cast<size_t>(t.first) + leaves_; node >= 1; node >>= 1)
      for (size_t b : cover_[node])
        if (blocks_[b].lifetime.first < t.first) out->push_back(b);
  }

 private:
  const TempVec<ArenaBlock>& blocks_;
  size_t leaves_;
  TempVec<TempVec<size_t>> cover_;
  TempMultimap<int32_t, size_t> by_first_;
};

}  // namespace

uint64_t PlanBlocks(TempVec<ArenaBlock>* blocks) {
  TempVec<size_t> order(blocks->size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const ArenaBlock &x = (*blocks)[a], &y = (*blocks)[b];
    if (x.size != y.size) return x.size > y.size;
    if (x.lifetime.first != y.lifetime.first) return x.lifetime.first < y.lifetime.first;
    return a < b;
  });
  int32_t steps = 0;
  for (const ArenaBlock& b : *blocks)
    if (b.lifetime.live()) steps = std::max(steps, b.lifetime.last + 1);
  LifetimeIndex placed(*blocks, steps);
  TempVec<size_t> conflicts;
  uint64_t arena = 0;
  for (size_t i : order) {
    ArenaBlock& block = (*blocks)[i];
    if (block.size <= 0 || !block.lifetime.live()) {
      block.offset = 0;
      continue;
    }
    conflicts.clear();
    placed.Intersecting(block.lifetime, &conflicts);
    std::sort(conflicts.begin(), conflicts.end(),
              [&](size_t a, size_t b) { return (*blocks)[a].offset < (*blocks)[b].offset; });
    uint64_t candidate = 0;
    for (size_t j : conflicts) {
      const ArenaBlock& other = (*blocks)[j];
      const uint64_t begin = static_cast<uint64_t>(other.offset);
      const uint64_t end = begin + static_cast<uint64_t>(other.size);
      if (candidate + static_cast<uint64_t>(block.size) <= begin) break;
      candidate = std::max(candidate, AlignUp(end));
    }
    block.offset = static_cast<int64_t>(candidate);
    arena = std::max(arena, candidate + static_cast<uint64_t>(block.size));
    placed.Add(i);
  }
  return AlignUp(arena);
}

uint64_t BlocksLowerBound(const TempVec<ArenaBlock>& blocks) {
  // Sweep over steps: +size at first, -size after last.
  TempVec<std::pair<int64_t, int64_t>> events;  // (step*2 + kind, delta); kind 0 add, 1 remove
  for (const ArenaBlock& b : blocks) {
    if (b.size <= 0 || !b.lifetime.live()) continue;
    const int64_t size = static_cast<int64_t>(AlignUp(static_cast<uint64_t>(b.size)));
    events.push_back({int64_t{b.lifetime.first} * 2, size});
    events.push_back({int64_t{b.lifetime.last} * 2 + 1, -size});
  }
  std::sort(events.begin(), events.end());
  int64_t live = 0, best = 0;
  for (const auto& e : events) {
    live += e.second;
    best = std::max(best, live);
  }
  return static_cast<uint64_t>(best);
}

bool FindOverlap(const TempVec<ArenaBlock>& blocks, size_t* a, size_t* b) {
  // Sweep over steps, keeping the byte ranges of the blocks live at the current step ordered
  // by offset. They are disjoint until an overlap is found, so a new range overlaps one of
  // them iff it overlaps its neighbour on either side: O(n log n).
  TempVec<size_t> by_first;
  for (size_t i = 0; i < blocks.size(); ++i)
    if (blocks[i].size > 0 && blocks[i].lifetime.live()) by_first.push_back(i);
  std::sort(by_first.begin(), by_first.end(), [&](size_t x, size_t y) {
    return blocks[x].lifetime.first != blocks[y].lifetime.first ? blocks[x].lifetime.first < blocks[y].lifetime.first
                                                                : x < y;
  });
  auto end_of = [&](size_t i) { return static_cast<uint64_t>(blocks[i].offset) + static_cast<uint64_t>(blocks[i].size); };
  TempSet<std::pair<int64_t, size_t>> live;                 // (offset, block)
  TempMultimap<int32_t, std::pair<int64_t, size_t>> ends;   // last step -> entry of `live`
  for (size_t i : by_first) {
    const ArenaBlock& x = blocks[i];
    while (!ends.empty() && ends.begin()->first < x.lifetime.first) {  // no longer live
      live.erase(ends.begin()->second);
      ends.erase(ends.begin());
    }
    const auto it = live.emplace(x.offset, i).first;
    if (it != live.begin() && end_of(std::prev(it)->second) > static_cast<uint64_t>(x.offset)) {
      *a = std::prev(it)->second;
      *b = i;
      return true;
    }
    if (std::next(it) != live.end() && static_cast<uint64_t>(std::next(it)->first) < end_of(i)) {
      *a = i;
      *b = std::next(it)->second;
      return true;
    }
    ends.emplace(x.lifetime.last, *it);
  }
  return false;
}

Status ComputeLifetimes(const PlanProblem& p, TempVec<Lifetime>* lifetimes) {
  const size_t n = p.tensor_bytes.size();
  const size_t num_ops = p.op_inputs.size();
  if (p.op_outputs.size() != num_ops)
    return Status::Error(StatusCode::kInvalidArgument, "plan: %zu op input lists but %zu output lists",
                         num_ops, p.op_outputs.size());
  lifetimes->assign(n, Lifetime());
  TempVec<uint8_t> produced(n, 0);
  for (int32_t t : p.model_inputs) {
    if (!InRange(t, n))
      return Status::Error(StatusCode::kInvalidModel, "model input tensor index %d out of range [0, %zu)", t, n);
    if (p.tensor_bytes[t] < 0)
      return Status::Error(StatusCode::kInvalidModel, "model input tensor %d is a constant", t);
    if (produced[t])
      return Status::Error(StatusCode::kInvalidModel, "model input tensor %d is listed twice", t);
    produced[t] = 1;
    (*lifetimes)[t] = Lifetime{0, 0};
  }
  for (size_t i = 0; i < num_ops; ++i) {
    const int32_t step = static_cast<int32_t>(i);
    for (int32_t t : p.op_inputs[i]) {
      if (t == -1) continue;
      if (!InRange(t, n))
        return Status::Error(StatusCode::kInvalidModel, "op %zu: input tensor index %d out of range [0, %zu)", i, t, n);
      if (p.tensor_bytes[t] < 0) continue;  // constant
      if (!produced[t])
        return Status::Error(StatusCode::kInvalidModel,
                             "op %zu: reads tensor %d before any op produces it (and it is no model input)", i, t);
      (*lifetimes)[t].last = step;
    }
    for (int32_t t : p.op_outputs[i]) {
      if (!InRange(t, n))
        return Status::Error(StatusCode::kInvalidModel, "op %zu: output tensor index %d out of range [0, %zu)", i, t, n);
      if (p.tensor_bytes[t] < 0)
        return Status::Error(StatusCode::kInvalidModel, "op %zu: output tensor %d is a constant", i, t);
      if (produced[t])
        return Status::Error(StatusCode::kInvalidModel,
                             "op %zu: output tensor %d is already a model input or produced by an earlier op", i, t);
      produced[t] = 1;
      (*lifetimes)[t] = Lifetime{step, step};
    }
  }
  const int32_t end = num_ops == 0 ? 0 : static_cast<int32_t>(num_ops - 1);
  for (int32_t t : p.model_outputs) {
    if (!InRange(t, n))
      return Status::Error(StatusCode::kInvalidModel, "model output tensor index %d out of range [0, %zu)", t, n);
    if (p.tensor_bytes[t] < 0 || !produced[t])
      return Status::Error(StatusCode::kInvalidModel,
                           "model output tensor %d is neither a model input nor produced by an op", t);
    (*lifetimes)[t].last = end;
  }
  return Status::Ok();
}

Status PlanMemory(const PlanProblem& p, bool allow_alias, MemoryPlanResult* result) {
  TempVec<Lifetime> lifetimes;
  SQUINT_RT_RETURN_IF_ERROR(ComputeLifetimes(p, &lifetimes));
  TempVec<ArenaBlock> blocks;
  TempVec<int32_t> block_of, block_tensor;
  BuildBlocks(p, lifetimes, [&](int32_t, int32_t) { return allow_alias; }, &blocks, &block_of,
              &block_tensor);
  result->arena_size = PlanBlocks(&blocks);
  result->lower_bound = BlocksLowerBound(blocks);
  result->offsets.assign(p.tensor_bytes.size(), -1);
  for (size_t t = 0; t < p.tensor_bytes.size(); ++t) {
    if (block_of[t] >= 0) result->offsets[t] = blocks[block_of[t]].offset;
    else if (p.tensor_bytes[t] == 0 && lifetimes[t].live()) result->offsets[t] = 0;
  }
  return Status::Ok();
}

Status CheckMemoryPlan(const PlanProblem& p, const TempVec<int64_t>& offsets,
                       const TempVec<int32_t>& alignments, uint64_t arena_size) {
  const size_t n = p.tensor_bytes.size();
  if (offsets.size() != n)
    return Status::Error(StatusCode::kInvalidArgument, "plan: %zu offsets for %zu tensors", offsets.size(), n);
  TempVec<Lifetime> lifetimes;
  SQUINT_RT_RETURN_IF_ERROR(ComputeLifetimes(p, &lifetimes));
  for (size_t t = 0; t < n; ++t) {
    if (p.tensor_bytes[t] < 0 || !lifetimes[t].live()) continue;
    const int64_t offset = offsets[t];
    const uint64_t bytes = static_cast<uint64_t>(p.tensor_bytes[t]);
    if (offset < 0)
      return Status::Error(StatusCode::kInvalidModel, "tensor %zu: arena_offset %lld is negative but the tensor is live",
                           t, static_cast<long long>(offset));
    const int64_t align = t < alignments.size() && alignments[t] > 0 ? alignments[t] : 1;
    if (offset % align != 0)
      return Status::Error(StatusCode::kInvalidModel, "tensor %zu: arena_offset %lld is not a multiple of %lld bytes",
                           t, static_cast<long long>(offset), static_cast<long long>(align));
    if (static_cast<uint64_t>(offset) > arena_size || bytes > arena_size - static_cast<uint64_t>(offset))
      return Status::Error(StatusCode::kInvalidModel,
                           "tensor %zu: arena range [%lld, %llu) exceeds arena_size %llu", t,
                           static_cast<long long>(offset),
                           static_cast<unsigned long long>(static_cast<uint64_t>(offset) + bytes),
                           static_cast<unsigned long long>(arena_size));
  }
  TempVec<ArenaBlock> blocks;
  TempVec<int32_t> block_of, block_tensor;
  BuildBlocks(p, lifetimes, [&](int32_t in, int32_t out) { return offsets[in] == offsets[out]; },
              &blocks, &block_of, &block_tensor);
  for (size_t b = 0; b < blocks.size(); ++b) blocks[b].offset = offsets[block_tensor[b]];
  size_t a = 0, b = 0;
  if (FindOverlap(blocks, &a, &b)) {
    const int32_t ta = block_tensor[a], tb = block_tensor[b];
    return Status::Error(
        StatusCode::kInvalidModel,
        "memory plan: tensors %d (arena [%lld, +%lld), steps %d..%d) and %d (arena [%lld, +%lld), "
        "steps %d..%d) are live at the same step and overlap",
        ta, static_cast<long long>(blocks[a].offset), static_cast<long long>(blocks[a].size),
        blocks[a].lifetime.first, blocks[a].lifetime.last, tb, static_cast<long long>(blocks[b].offset),
        static_cast<long long>(blocks[b].size), blocks[b].lifetime.first, blocks[b].lifetime.last);
  }
  return Status::Ok();
}

}  // namespace squint::rt
