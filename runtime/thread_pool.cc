#include "runtime/thread_pool.h"

namespace squint::rt {

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

Status ThreadPool::Start(int32_t threads) {
  if (!workers_.empty()) return Status::Error(StatusCode::kFailedPrecondition, "thread pool already started");
  if (threads < 1 || threads > kMaxThreads)
    return Status::Error(StatusCode::kInvalidArgument, "thread count %d, expected in [1, %d]", threads, kMaxThreads);
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
    if (++finished_ == count_) done_.notify_all();
  }
}

void ThreadPool::Work() {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
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
    finished_ = 0;
    ++generation_;
  }
  wake_.notify_all();
  Drain();
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return finished_ == count_; });
  count_ = 0;  // a late worker finds nothing left
}

}  // namespace squint::rt
