// A fixed pool of worker threads for splitting one kernel call (GEMM units) across cores.
//
// Created at prepare with the interpreter's thread count; invoke only hands it a task function
// and a count: Run(task, ctx, n) calls task(ctx, i) for every i in [0, n), spread over the
// workers and the calling thread, and returns when all have finished. No allocation, no
// exceptions in Run (the std::thread objects are made once, in Start). Tasks of one Run must
// be independent (they write disjoint outputs), so the result does not depend on the split.
//
// Waiting spins before it sleeps. Waking a sleeping thread through the kernel costs tens of
// microseconds, about 100 µs on a virtual machine whose idle vCPU the host has descheduled
// (measured: docs/benchmarks.md, "Two threads"), as long as a whole 197×768×768 GEMM on AMX.
// So a worker that finished a job polls for the next one for up to kSpinMicros before it
// blocks on the condition variable, and Run polls for the workers' last task the same way:
// the ops of one invoke come back to back, so the workers stay awake through an inference and
// fall asleep within kSpinMicros after it. A pool with more threads than the machine has
// hardware threads does not poll (a polling thread would hold the core another one needs).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/status.h"

namespace squint::rt {

class ThreadPool {
 public:
  using Task = void (*)(void* ctx, int32_t index);

  ThreadPool() = default;
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool();

  // Starts threads − 1 workers (threads in [1, kMaxThreads]); call once.
  Status Start(int32_t threads);
  int32_t threads() const { return static_cast<int32_t>(workers_.size()) + 1; }
  void Run(Task task, void* ctx, int32_t n);

  // The shape the x86 GEMM takes (qs8_gemm.h: Qs8Parallel): `pool` is a ThreadPool*.
  static void RunOn(void* pool, Task task, void* ctx, int32_t n) { static_cast<ThreadPool*>(pool)->Run(task, ctx, n); }

  static constexpr int32_t kMaxThreads = 256;
  // How long a waiting thread polls before it sleeps.
  static constexpr int64_t kSpinMicros = 1000;

 private:
  void Work();
  void Drain();  // runs tasks of the current job until none is left

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  // The current job (written under mutex_; generation_ and finished_ are also polled without it).
  Task task_ = nullptr;
  void* ctx_ = nullptr;
  int32_t count_ = 0, next_ = 0;
  int64_t spin_micros_ = kSpinMicros;  // 0 when oversubscribed
  std::atomic<int32_t> finished_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace squint::rt
