// 64-byte-aligned heap blocks, the alignment the runtime wants for a model's bytes and its arena.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

namespace squint {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBytes = std::unique_ptr<uint8_t, FreeDeleter>;

// A zeroed 64-byte-aligned block of at least `bytes` (a whole number of 64-byte lines, at least
// one); null when out of memory.
inline AlignedBytes AlignedBlock(size_t bytes) {
  const size_t size = std::max<size_t>((bytes + 63) / 64 * 64, 64);
  AlignedBytes b(static_cast<uint8_t*>(std::aligned_alloc(64, size)));
  if (b) std::memset(b.get(), 0, size);
  return b;
}

// An aligned copy of `bytes` (zero-padded to the block's end); null when out of memory.
inline AlignedBytes AlignedCopy(std::string_view bytes) {
  AlignedBytes b = AlignedBlock(bytes.size());
  if (b && !bytes.empty()) std::memcpy(b.get(), bytes.data(), bytes.size());
  return b;
}

}  // namespace squint
