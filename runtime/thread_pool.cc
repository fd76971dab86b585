#include "runtime/thread_pool.h"

#include <chrono>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace squint::rt {

namespace {

void Relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Polls `done` for up to `micros`; true once it holds. The clock is read every 64 polls (a pause
// is 10 to 150 cycles, depending on the core).
template <typename Done>
bool SpinUntil(int64_t micros, Done done) {
  if (done() || micros <= 0) return done();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(micros);
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      Relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return done();
  }
}

}  // namespace

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true, std::memory_order_release);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

Status ThreadPool::Start(int32_t threads) {
  if (!workers_.empty()) return Status::Error(StatusCode::kFailedPrecondition, "thread pool already started");
  if (threads < 1 || threads > kMaxThreads)
    return Status::Error(StatusCode::kInvalidArgument, "thread count %d, expected in [1, %d]", threads, kMaxThreads);
  const unsigned hardware = std::thread::hardware_concurrency();  // 0: unknown
  spin_micros_ = hardware != 0 && static_cast<unsigned>(threads) > hardware ? 0 : kSpinMicros;
  workers_.reserve(static_cast<size_t>(threads - 1));
  for (int32_t i = 1; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  return Status::Ok();
}

void ThreadPool::Drain() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (next_ < count_) {
    const int32_t i = next_++;
    const Task task = task_;
    void* ctx = ctx_;
    lock.unlock();
    task(ctx, i);
    lock.lock();
    if (finished_.fetch_add(1, std::memory_order_acq_rel) + 1 == count_) done_.notify_all();
  }
}

void ThreadPool::Work() {
  uint64_t seen = 0;
  for (;;) {
    const auto woken = [&] {
      return stop_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen;
    };
    if (!SpinUntil(spin_micros_, woken)) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, woken);
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = generation_.load(std::memory_order_acquire);
    Drain();
  }
}

void ThreadPool::Run(Task task, void* ctx, int32_t n) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1) {
    for (int32_t i = 0; i < n; ++i) task(ctx, i);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = task;
    ctx_ = ctx;
    count_ = n;
    next_ = 0;
    finished_.store(0, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  wake_.notify_all();  // no system call when every worker is still polling
  Drain();
  const auto all_done = [&] { return finished_.load(std::memory_order_acquire) == n; };
  const bool done = SpinUntil(spin_micros_, all_done);
  std::unique_lock<std::mutex> lock(mutex_);
  if (!done) done_.wait(lock, all_done);
  count_ = 0;  // a late worker finds nothing left
}

}  // namespace squint::rt
