// Memory planner: random lifetimes never overlap, the arena is at least the lower bound, and
// simple chains reach the bound. The indexed first fit and overlap sweep agree with the plain
// O(n^2) forms of the rules in planner.h; a 200k-op chain plans and checks on a small stack.
#include "runtime/planner.h"

#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "tests/small_stack.h"

namespace squint::rt {
namespace {

// A chain x -> op0 -> t1 -> op1 -> t2 ... with the given tensor sizes.
PlanProblem Chain(const TempVec<int64_t>& sizes) {
  PlanProblem p;
  p.tensor_bytes = sizes;
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    p.op_inputs.push_back({static_cast<int32_t>(i)});
    p.op_outputs.push_back({static_cast<int32_t>(i + 1)});
  }
  p.model_inputs = {0};
  p.model_outputs = {static_cast<int32_t>(sizes.size() - 1)};
  return p;
}

void ExpectValid(const PlanProblem& p, const MemoryPlanResult& r) {
  TempVec<int32_t> align(p.tensor_bytes.size(), 64);
  Status s = CheckMemoryPlan(p, r.offsets, align, r.arena_size);
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_GE(r.arena_size, r.lower_bound);
  for (int64_t off : r.offsets) {
    if (off >= 0) {
      EXPECT_EQ(off % 64, 0);
    }
  }
}

TEST(Planner, ChainOfEqualSizesReachesLowerBound) {
  PlanProblem p = Chain({256, 256, 256, 256, 256});
  MemoryPlanResult r;
  ASSERT_TRUE(PlanMemory(p, false, &r).ok());
  ExpectValid(p, r);
  EXPECT_EQ(r.lower_bound, 512u);
  EXPECT_EQ(r.arena_size, r.lower_bound);
}

TEST(Planner, ChainOfMonotoneSizesReachesLowerBound) {
  for (bool increasing : {false, true}) {
    TempVec<int64_t> sizes = {1024, 640, 512, 200, 64, 10};
    if (increasing) std::reverse(sizes.begin(), sizes.end());
    PlanProblem p = Chain(sizes);
    MemoryPlanResult r;
    ASSERT_TRUE(PlanMemory(p, false, &r).ok());
    ExpectValid(p, r);
    EXPECT_EQ(r.arena_size, r.lower_bound) << increasing;
  }
}

TEST(Planner, LowerBoundUsesAlignedSizes) {
  PlanProblem p = Chain({10, 10});
  MemoryPlanResult r;
  ASSERT_TRUE(PlanMemory(p, false, &r).ok());
  EXPECT_EQ(r.lower_bound, 128u);
  EXPECT_EQ(r.arena_size, 128u);
}

TEST(Planner, ReshapeAliasSharesTheOffset) {
  PlanProblem p = Chain({256, 256, 256});
  p.op_may_alias = {true, false};
  MemoryPlanResult r;
  ASSERT_TRUE(PlanMemory(p, true, &r).ok());
  EXPECT_EQ(r.offsets[0], r.offsets[1]);
  EXPECT_EQ(r.arena_size, 512u);
  ExpectValid(p, r);
  // Without aliasing the same problem needs a distinct offset for the reshape output.
  ASSERT_TRUE(PlanMemory(p, false, &r).ok());
  EXPECT_NE(r.offsets[0], r.offsets[1]);
}

TEST(Planner, ConstantsAndUnusedTensorsAreNotPlanned) {
  PlanProblem p;
  p.tensor_bytes = {64, -1, 64, 64};  // 1: constant, 3: unused
  p.op_inputs = {{0, 1, -1}};
  p.op_outputs = {{2}};
  p.model_inputs = {0};
  p.model_outputs = {2};
  MemoryPlanResult r;
  ASSERT_TRUE(PlanMemory(p, false, &r).ok());
  EXPECT_EQ(r.offsets[1], -1);
  EXPECT_EQ(r.offsets[3], -1);
  EXPECT_EQ(r.arena_size, 128u);
}

TEST(Planner, RejectsBadDataflow) {
  PlanProblem p = Chain({64, 64});
  p.op_inputs[0] = {5};
  MemoryPlanResult r;
  EXPECT_FALSE(PlanMemory(p, false, &r).ok());
  p = Chain({64, 64});
  p.model_outputs = {7};
  EXPECT_FALSE(PlanMemory(p, false, &r).ok());
}

TEST(Planner, CheckerFindsOverlapAndOutOfArena) {
  PlanProblem p = Chain({64, 64, 64});
  TempVec<int64_t> offsets = {0, 0, 64};  // 0 and 1 live at step 0 at the same address
  EXPECT_FALSE(CheckMemoryPlan(p, offsets, {}, 128).ok());
  offsets = {0, 64, 0};  // valid: 0 and 2 never live together
  EXPECT_TRUE(CheckMemoryPlan(p, offsets, {}, 128).ok());
  EXPECT_FALSE(CheckMemoryPlan(p, offsets, {}, 127).ok());
  offsets = {0, 62, 0};
  EXPECT_FALSE(CheckMemoryPlan(p, offsets, {4, 4, 4}, 256).ok());  // misaligned
}

// Random DAGs: each op reads 1-3 earlier tensors and writes 1-2 new ones.
TEST(Planner, RandomGraphsNeverOverlapAndRespectTheBound) {
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 300; ++trial) {
    PlanProblem p;
    const int num_inputs = 1 + rng() % 3;
    for (int i = 0; i < num_inputs; ++i) {
      p.tensor_bytes.push_back(1 + rng() % 5000);
      p.model_inputs.push_back(i);
    }
    const int num_ops = 1 + rng() % 25;
    for (int op = 0; op < num_ops; ++op) {
      TempVec<int32_t> ins, outs;
      const int n_in = 1 + rng() % 3;
      for (int k = 0; k < n_in; ++k) ins.push_back(rng() % p.tensor_bytes.size());
      if (rng() % 4 == 0) {  // a constant input
        p.tensor_bytes.push_back(-1);
        ins.push_back(static_cast<int32_t>(p.tensor_bytes.size() - 1));
      }
      const int n_out = 1 + rng() % 2;
      for (int k = 0; k < n_out; ++k) {
        const int64_t size = (rng() % 8 == 0) ? p.tensor_bytes[ins[0]] : static_cast<int64_t>(rng() % 5000);
        p.tensor_bytes.push_back(size < 0 ? 64 : size);
        outs.push_back(static_cast<int32_t>(p.tensor_bytes.size() - 1));
      }
      p.op_inputs.push_back(ins);
      p.op_outputs.push_back(outs);
      p.op_may_alias.push_back(rng() % 3 == 0 && n_out == 1);
    }
    const int num_outputs = 1 + rng() % 2;
    for (int k = 0; k < num_outputs; ++k) {
      int32_t t;
      do t = rng() % p.tensor_bytes.size(); while (p.tensor_bytes[t] < 0);
      p.model_outputs.push_back(t);
    }
    for (bool alias : {false, true}) {
      MemoryPlanResult r;
      Status s = PlanMemory(p, alias, &r);
      ASSERT_TRUE(s.ok()) << s.message();
      ExpectValid(p, r);
      // Independent overlap check, pairwise, without alias groups when aliasing is off.
      if (!alias) {
        TempVec<Lifetime> life;
        ASSERT_TRUE(ComputeLifetimes(p, &life).ok());
        for (size_t a = 0; a < p.tensor_bytes.size(); ++a)
          for (size_t b = a + 1; b < p.tensor_bytes.size(); ++b) {
            if (p.tensor_bytes[a] <= 0 || p.tensor_bytes[b] <= 0 || !life[a].Intersects(life[b])) continue;
            const bool disjoint = r.offsets[a] + p.tensor_bytes[a] <= r.offsets[b] ||
                                  r.offsets[b] + p.tensor_bytes[b] <= r.offsets[a];
            EXPECT_TRUE(disjoint) << "trial " << trial << " tensors " << a << " " << b;
          }
      }
    }
  }
}

TempVec<ArenaBlock> RandomBlocks(std::mt19937& rng, size_t n, int32_t steps) {
  TempVec<ArenaBlock> blocks(n);
  for (ArenaBlock& b : blocks) {
    b.size = static_cast<int64_t>(rng() % 4) == 0 ? 64 : 1 + static_cast<int64_t>(rng() % 700);
    b.lifetime.first = static_cast<int32_t>(rng() % static_cast<uint32_t>(steps));
    b.lifetime.last = b.lifetime.first + static_cast<int32_t>(rng() % 6);
    if (rng() % 10 == 0) b.lifetime = Lifetime();  // never live
  }
  return blocks;
}

// The rule of planner.h, by brute force: largest first (ties: first use, then index), each at
// the lowest 64-aligned offset clear of every placed block whose lifetime meets its own.
TempVec<int64_t> FirstFitByScan(TempVec<ArenaBlock> blocks) {
  TempVec<size_t> order(blocks.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (blocks[a].size != blocks[b].size) return blocks[a].size > blocks[b].size;
    if (blocks[a].lifetime.first != blocks[b].lifetime.first) return blocks[a].lifetime.first < blocks[b].lifetime.first;
    return a < b;
  });
  TempVec<size_t> placed;
  TempVec<int64_t> offsets(blocks.size(), 0);
  for (size_t i : order) {
    if (!blocks[i].lifetime.live()) continue;
    for (int64_t candidate = 0;; candidate += kArenaAlignment) {
      bool clear = true;
      for (size_t j : placed)
        if (blocks[j].lifetime.Intersects(blocks[i].lifetime) && candidate < offsets[j] + blocks[j].size &&
            offsets[j] < candidate + blocks[i].size)
          clear = false;
      if (clear) {
        offsets[i] = candidate;
        break;
      }
    }
    placed.push_back(i);
  }
  return offsets;
}

TEST(Planner, IndexedFirstFitEqualsTheScan) {
  std::mt19937 rng(99);
  for (int trial = 0; trial < 200; ++trial) {
    TempVec<ArenaBlock> blocks = RandomBlocks(rng, 1 + rng() % 60, 1 + static_cast<int32_t>(rng() % 30));
    const TempVec<int64_t> want = FirstFitByScan(blocks);
    PlanBlocks(&blocks);
    for (size_t i = 0; i < blocks.size(); ++i)
      if (blocks[i].lifetime.live()) {
        ASSERT_EQ(blocks[i].offset, want[i]) << "trial " << trial << " block " << i;
      }
  }
}

TEST(Planner, OverlapSweepAgreesWithPairwiseCheck) {
  std::mt19937 rng(5);
  int found = 0;
  for (int trial = 0; trial < 500; ++trial) {
    TempVec<ArenaBlock> blocks = RandomBlocks(rng, 1 + rng() % 40, 1 + static_cast<int32_t>(rng() % 40));
    for (ArenaBlock& b : blocks) b.offset = static_cast<int64_t>(rng() % 40) * 64;
    auto overlap = [&](size_t a, size_t b) {
      return blocks[a].lifetime.Intersects(blocks[b].lifetime) && blocks[a].offset < blocks[b].offset + blocks[b].size &&
             blocks[b].offset < blocks[a].offset + blocks[a].size;
    };
    bool any = false;
    for (size_t a = 0; a < blocks.size(); ++a)
      for (size_t b = a + 1; b < blocks.size(); ++b) any = any || overlap(a, b);
    size_t a = 0, b = 0;
    ASSERT_EQ(FindOverlap(blocks, &a, &b), any) << "trial " << trial;
    if (any) {
      EXPECT_NE(a, b);
      EXPECT_TRUE(overlap(a, b)) << "trial " << trial << " blocks " << a << " " << b;
      ++found;
    }
  }
  EXPECT_GT(found, 50);  // the random cases exercise both answers
}

TEST(Planner, PlansAndChecksA200kOpChain) {
  testing::RunOnSmallStack([] {
    TempVec<int64_t> sizes(200001);
    for (size_t i = 0; i < sizes.size(); ++i) sizes[i] = i % 3 == 0 ? 256 : 100;
    const PlanProblem p = Chain(sizes);
    MemoryPlanResult r;
    ASSERT_TRUE(PlanMemory(p, false, &r).ok());
    EXPECT_GE(r.arena_size, r.lower_bound);
    EXPECT_LE(r.arena_size, 2 * r.lower_bound);  // a few tensors live at a time, however long the chain
    const Status s = CheckMemoryPlan(p, r.offsets, TempVec<int32_t>(sizes.size(), 64), r.arena_size);
    EXPECT_TRUE(s.ok()) << s.message();
    TempVec<int64_t> clash = r.offsets;
    clash[100001] = clash[100000];  // the input and output of op 100000 at one address
    EXPECT_FALSE(CheckMemoryPlan(p, clash, {}, r.arena_size).ok());
  });
}

}  // namespace
}  // namespace squint::rt
