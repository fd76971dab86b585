// Where the runtime's containers get their memory (heap mode or heapless mode).
//
// Heap mode (the default, and the quantizer's use of the runtime): every container allocates with
// operator new, as std::allocator does.
//
// Heapless mode (squint_rt_create_heapless): everything create needs comes from one caller-owned
// arena, in the manner of TensorFlow Lite Micro's single-arena allocator (docs/memory_management.md
// of tflite-micro: persistent allocations at the arena's tail, the activations at its head, scoped
// temporaries between, and arena_used_bytes() to learn the size). Here the ends are swapped: an
// ArenaSource hands out persistent memory (the model's tensor table, the prepared ops, packed
// weights) from the head upwards, never freed before the handle goes, and the activations follow
// it once create knows where it ends; temporary memory (the memory planner's work, a weight copy
// reordered before packing) comes from the tail downwards, all of it given back at once when the
// TempScope that took it ends (so create's temporaries share bytes with the later activations). Offsets are
// counted from a 64-byte aligned base, so the bytes needed depend only on the model and the
// options, never on the arena's address: a source with no arena (measuring) counts the same
// offsets while taking every block from the heap, which is how squint_rt_heapless_arena_size
// finds the exact size. A block that does not fit in the arena comes from the heap and marks the
// source as spilled; create then fails with the size it needed (so a too-small arena is an error,
// never a crash; only a successful heapless create is free of heap allocations).
//
// The source is ambient: a SourceScope makes one current on this thread, and every container of
// the types below constructed while it is current takes its memory from it (and gives it back to
// it, whatever is current then). Containers built with no current source use the heap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <type_traits>
#include <vector>

namespace squint::rt {

class ArenaSource {
 public:
  static constexpr size_t kAlignment = 64;  // of the arena's base; every block's alignment divides it

  // `base` (kAlignment-aligned, or null with size 0 to measure), `size` usable bytes (a multiple
  // of kAlignment), `start`: bytes at the base already taken (a multiple of kAlignment).
  ArenaSource(uint8_t* base, size_t size, uint64_t start);
  ArenaSource(const ArenaSource&) = delete;
  ArenaSource& operator=(const ArenaSource&) = delete;

  void* Allocate(size_t bytes, size_t align, bool temp);
  void Deallocate(void* p, size_t bytes, size_t align);

  uint64_t head() const { return head_; }
  uint64_t tail() const { return tail_; }
  void ResetTail(uint64_t mark) { tail_ = mark; }
  // The most bytes in use at once (head plus tail): what the arena must hold.
  uint64_t peak() const { return peak_; }
  bool spilled() const { return spilled_; }
  uint8_t* base() const { return base_; }
  size_t size() const { return size_; }

 private:
  uint8_t* base_;
  size_t size_;
  uint64_t head_;
  uint64_t tail_ = 0;
  uint64_t peak_;
  bool spilled_ = false;
};

// The current source of this thread (null: the heap).
ArenaSource* CurrentSource();

// Makes `source` current on this thread until the scope ends (nests).
class SourceScope {
 public:
  explicit SourceScope(ArenaSource* source);
  ~SourceScope();
  SourceScope(const SourceScope&) = delete;
  SourceScope& operator=(const SourceScope&) = delete;

 private:
  ArenaSource* previous_;
};

// Gives back, when it ends, every temporary block taken from the current source since it began.
// Every TempVec (and TempMap, TempSet) built inside must be gone by then. No effect on the heap.
class TempScope {
 public:
  TempScope() : source_(CurrentSource()), mark_(source_ != nullptr ? source_->tail() : 0) {}
  ~TempScope() {
    if (source_ != nullptr) source_->ResetTail(mark_);
  }
  TempScope(const TempScope&) = delete;
  TempScope& operator=(const TempScope&) = delete;

 private:
  ArenaSource* source_;
  uint64_t mark_;
};

// A standard allocator over the current source (persistent or temporary end), else the heap.
template <typename T, bool kTemp>
class Alloc {
 public:
  using value_type = T;
  using propagate_on_container_copy_assignment = std::true_type;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  template <typename U>
  struct rebind {
    using other = Alloc<U, kTemp>;
  };
  static constexpr size_t kAlign = alignof(T) > 8 ? alignof(T) : 8;
  static_assert(ArenaSource::kAlignment % kAlign == 0, "arena blocks are at most 64-byte aligned");

  Alloc() noexcept : source_(CurrentSource()) {}
  template <typename U>
  Alloc(const Alloc<U, kTemp>& other) noexcept : source_(other.source()) {}  // NOLINT: rebinding

  T* allocate(size_t n) {
    if (source_ == nullptr) return std::allocator<T>().allocate(n);
    return static_cast<T*>(source_->Allocate(n * sizeof(T), kAlign, kTemp));
  }
  void deallocate(T* p, size_t n) {
    if (source_ == nullptr) {
      std::allocator<T>().deallocate(p, n);
    } else {
      source_->Deallocate(p, n * sizeof(T), kAlign);
    }
  }
  // A copy takes its memory where new containers do now, not where the original lives.
  Alloc select_on_container_copy_construction() const { return Alloc(); }
  ArenaSource* source() const { return source_; }
  friend bool operator==(const Alloc& a, const Alloc& b) { return a.source_ == b.source_; }
  friend bool operator!=(const Alloc& a, const Alloc& b) { return a.source_ != b.source_; }

 private:
  ArenaSource* source_;
};

// Containers of the runtime: persistent (live as long as the model or interpreter) and temporary
// (inside a TempScope; the memory planner's types, which the quantizer also uses on the heap).
template <typename T>
using Vec = std::vector<T, Alloc<T, false>>;
template <typename T>
using TempVec = std::vector<T, Alloc<T, true>>;
template <typename K, typename V>
using TempMultimap = std::multimap<K, V, std::less<K>, Alloc<std::pair<const K, V>, true>>;
template <typename K>
using TempSet = std::set<K, std::less<K>, Alloc<K, true>>;

}  // namespace squint::rt
