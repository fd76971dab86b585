#include "runtime/memory.h"

#include <algorithm>
#include <new>

namespace squint::rt {
namespace {

thread_local ArenaSource* g_current = nullptr;

uint64_t AlignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

ArenaSource::ArenaSource(uint8_t* base, size_t size, uint64_t start)
    : base_(base), size_(base != nullptr ? size : 0), head_(start), peak_(start) {}

void* ArenaSource::Allocate(size_t bytes, size_t align, bool temp) {
  if (bytes == 0) bytes = 1;  // a distinct address inside the arena
  bool fits = false;
  uint64_t at = 0;
  if (temp) {
    // [size - tail', size - tail): the address base + size - tail' is aligned because size and
    // the base are multiples of kAlignment.
    tail_ = AlignUp(tail_ + bytes, align);
    fits = tail_ <= size_ && size_ - tail_ >= head_;
    at = size_ - tail_;
  } else {
    at = AlignUp(head_, align);
    head_ = at + bytes;
    fits = head_ <= size_ && tail_ <= size_ - head_;
  }
  peak_ = std::max(peak_, head_ + tail_);
  if (fits) return base_ + at;
  spilled_ = spilled_ || base_ != nullptr;  // measuring (no arena) takes everything from the heap
  return ::operator new(bytes, std::align_val_t(align));
}

void ArenaSource::Deallocate(void* p, size_t /*bytes*/, size_t align) {
  const auto* b = static_cast<const uint8_t*>(p);
  if (base_ != nullptr && b >= base_ && b < base_ + size_) return;  // arena memory: given back by the scopes
  ::operator delete(p, std::align_val_t(align));
}

ArenaSource* CurrentSource() { return g_current; }

SourceScope::SourceScope(ArenaSource* source) : previous_(g_current) { g_current = source; }
SourceScope::~SourceScope() { g_current = previous_; }

}  // namespace squint::rt
