#include "quant/runtime_model.h"

#include <algorithm>
#include <cstring>

#include <flatbuffers/flatbuffers.h>

namespace squint::quant {
namespace {
// A zeroed 64-byte-aligned block of at least `bytes` (the runtime's alignment for models and arenas).
AlignedBytes AlignedBlock(size_t bytes) {
  const size_t size = std::max<size_t>((bytes + 63) / 64 * 64, 64);
  AlignedBytes b(static_cast<uint8_t*>(std::aligned_alloc(64, size)));
  if (b) std::memset(b.get(), 0, size);
  return b;
}
}  // namespace

Status RuntimeModel::Init(const fb::ModelT& m, const std::string& what, rt::Isa isa) {
  flatbuffers::FlatBufferBuilder fbb(1 << 16);
  fb::FinishModelBuffer(fbb, fb::Model::Pack(fbb, &m));
  bytes = AlignedBlock(fbb.GetSize());
  if (!bytes) return Internal("{}: out of memory for a {}-byte model", what, fbb.GetSize());
  std::memcpy(bytes.get(), fbb.GetBufferPointer(), fbb.GetSize());
  if (rt::Status s = model.Load(bytes.get(), fbb.GetSize()); !s.ok())
    return Internal("{}: the runtime rejects the model: {}", what, s.message());
  if (rt::Status s = interp.Prepare(&model, isa); !s.ok())
    return Internal("{}: the runtime cannot prepare the model: {}", what, s.message());
  arena = AlignedBlock(static_cast<size_t>(interp.arena_size()));
  if (!arena) return Internal("{}: out of memory for a {}-byte arena", what, interp.arena_size());
  if (rt::Status s = interp.SetArena(arena.get(), static_cast<size_t>(interp.arena_size())); !s.ok())
    return Internal("{}: arena: {}", what, s.message());
  return Status::Ok();
}

}  // namespace squint::quant
