// Runs a test body on a thread with a small stack, so that a recursion whose depth grows with
// the input (a graph of 10^5 nodes) overflows and crashes the test instead of passing on the
// main thread's 8 MiB. Sanitizers enlarge frames (and ASan may move them off the stack), so
// the size is multiplied under them; a recursion over 10^5 nodes still needs far more.
#pragma once

#include <pthread.h>

#include <cstddef>
#include <functional>

#include <gtest/gtest.h>

namespace squint::testing {

inline constexpr size_t kSmallStackBytes = size_t{256} << 10;

inline size_t SanitizerStackFactor() {
#if defined(__SANITIZE_ADDRESS__)
  return 8;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return 8;
#else
  return 1;
#endif
#else
  return 1;
#endif
}

inline void RunOnSmallStack(const std::function<void()>& body, size_t bytes = kSmallStackBytes) {
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, bytes * SanitizerStackFactor()), 0);
  pthread_t thread;
  auto trampoline = [](void* f) -> void* {
    (*static_cast<const std::function<void()>*>(f))();
    return nullptr;
  };
  const int created = pthread_create(&thread, &attr, trampoline, const_cast<std::function<void()>*>(&body));
  pthread_attr_destroy(&attr);
  ASSERT_EQ(created, 0);
  ASSERT_EQ(pthread_join(thread, nullptr), 0);
}

}  // namespace squint::testing
