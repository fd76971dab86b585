// A lowered model (fb::ModelT) on the runtime, for the quantizer's own uses of the integer
// kernels (block reconstruction's trial blocks, code-map fusion's tables): serialized into a
// 64-byte-aligned copy, loaded, prepared and given a zeroed arena. Header-only: its two users
// (block_recon.cc, fuse_code_maps.cc) include these headers anyway, and a translation unit of its
// own costs the CI builds seconds for a few lines.
#pragma once

#include <cstdint>
#include <string>

#include <flatbuffers/flatbuffers.h>

#include "base/aligned.h"
#include "base/status.h"
#include "runtime/interpreter.h"
#include "runtime/schema/squint_generated.h"

namespace squint::quant {

struct RuntimeModel {
  AlignedBytes bytes, arena;
  rt::Model model;
  rt::Interpreter interp;

  // `what` names the model in errors ("block reconstruction: ...").
  Status Init(const fb::ModelT& m, const std::string& what, rt::Isa isa = rt::Isa::kAuto) {
    flatbuffers::FlatBufferBuilder fbb(1 << 16);
    fb::FinishModelBuffer(fbb, fb::Model::Pack(fbb, &m));
    bytes = AlignedCopy({reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize()});
    if (!bytes) return Internal("{}: out of memory for a {}-byte model", what, fbb.GetSize());
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
};

}  // namespace squint::quant
