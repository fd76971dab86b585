// The interpreter: prepare once, invoke many times.
//
//   Model model;            SQUINT_RT_RETURN_IF_ERROR(model.Load(data, size));
//   Interpreter interp;     SQUINT_RT_RETURN_IF_ERROR(interp.Prepare(&model));
//   std::vector<uint8_t> ... arena of interp.arena_size() bytes, 64-byte aligned, caller-owned
//   interp.SetArena(arena, size);
//   write inputs at interp.tensor_data(model.inputs()[i]); interp.Invoke(); read outputs.
//
// Prepare validates every op against its kernel's preconditions and converts the options into
// kernel parameter structs (allocation happens here, once, from the current memory source of
// memory.h: the heap, or a heapless handle's arena). Invoke runs the ops in order on the
// arena: no allocation, no logging, no validation ("prepare validates; invoke runs blind").
// The observer, if set, is called after each op with views of its outputs; unset, it costs one
// predictable branch per op.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/dispatch.h"
#include "runtime/model.h"
#include "runtime/prepared_op.h"
#include "runtime/status.h"
#include "runtime/thread_pool.h"

namespace squint::rt {

struct TensorView {
  int32_t index = -1;                // tensor index in the model
  const TensorDesc* desc = nullptr;  // name, type, shape, quantization
  const void* data = nullptr;        // the op's output codes (in the arena)
};

using OpObserver = void (*)(void* user, int32_t op_index, const TensorView* outputs, int32_t num_outputs);

class Interpreter {
 public:
  Interpreter() = default;
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // `model` must be loaded and outlive the interpreter. `isa` picks the optimized kernels
  // (dispatch.h: kAuto = SQUINT_ISA, else the best this CPU has); a set the CPU lacks is an error.
  // `threads` > 1 starts a pool of threads − 1 workers here, which the optimized GEMMs split
  // their rows over (qs8_gemm.h: Qs8Parallel), and the ops with independent items
  // (PreparedOp::run_items: LAYER_NORM and SOFTMAX rows, BATCH_MATMUL products, LUT and
  // ADD/SUB/MUL elements) their items, when each thread gets at least kMinPartPicoseconds of
  // estimated work; the reference kernels stay single-threaded; outputs do not change.
  Status Prepare(const Model* model, Isa isa = Isa::kAuto, int32_t threads = 1);
  // 3 µs: on the 2-vCPU machine of docs/benchmarks.md ("Two threads"), ops of 6 µs and more got
  // faster split in two, and gpt_tiny's 1–3 µs LUTs and batched products got slower.
  static constexpr int64_t kMinPartPicoseconds = 3'000'000;
  int32_t threads() const { return pool_ ? pool_->threads() : 1; }
  // The instruction set chosen at prepare (kReference before it).
  Isa isa() const { return pools_.isa; }
  bool prepared() const { return model_ != nullptr; }
  const Model& model() const { return *model_; }

  // Bytes prepare made for the optimized kernels: constants repacked (weight panels, tables) and
  // the shared scratch (0 on the reference kernels, which read the model's constants in place).
  size_t prepared_bytes() const {
    size_t bytes = pools_.scratch_words * sizeof(int32_t);
    for (const auto& block : pools_.packed) bytes += block.size() * sizeof(PreparePools::Line);
    return bytes;
  }
  // Bytes of arena the model needs (64-byte aligned base required).
  uint64_t arena_size() const { return model_ ? model_->arena_size() : 0; }
  // Caller-owned arena; must stay alive while the interpreter runs. Aligned to kArenaAlignment.
  Status SetArena(void* arena, size_t size);

  // Data of tensor t: constants point into the model buffer, activations into the arena
  // (null before SetArena). Only model inputs should be written by the caller.
  const void* tensor_data(int32_t t) const;
  void* mutable_tensor_data(int32_t t) const;

  Status Invoke();
  // Runs op `op_index` alone on the arena as it is (no observer call): for hosts that write an
  // op's inputs themselves, e.g. to measure one layer's own error. Invoke is the normal path.
  Status InvokeOp(int32_t op_index);
  void SetObserver(OpObserver observer, void* user) {
    observer_ = observer;
    observer_user_ = user;
  }

 private:
  Status CheckReady(const char* what) const;  // Prepare and SetArena done
  void RunOp(size_t i) const;                 // runs op i on the arena
  const Model* model_ = nullptr;
  // Containers from the current memory source (memory.h) when the interpreter was constructed.
  Vec<PreparedOp> ops_;
  PreparePools pools_;
  std::unique_ptr<ThreadPool> pool_;  // threads > 1 only (a heap allocation; heapless handles run on one thread)
  Vec<size_t> in_at_, out_at_, view_at_;  // per op: start in the pointer/view pools
  Vec<const void*> in_ptrs_;
  Vec<void*> out_ptrs_;
  Vec<TensorView> views_;
  uint8_t* arena_ = nullptr;
  OpObserver observer_ = nullptr;
  void* observer_user_ = nullptr;
};

}  // namespace squint::rt
