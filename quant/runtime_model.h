// A lowered model (fb::ModelT) on the runtime, for the quantizer's own uses of the integer
// kernels (block reconstruction's trial blocks, code-map fusion's tables): serialized into a
// 64-byte-aligned copy, loaded, prepared and given a zeroed arena.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "base/status.h"
#include "runtime/interpreter.h"
#include "runtime/schema/squint_generated.h"

namespace squint::quant {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBytes = std::unique_ptr<uint8_t, FreeDeleter>;

struct RuntimeModel {
  AlignedBytes bytes, arena;
  rt::Model model;
  rt::Interpreter interp;

  // `what` names the model in errors ("block reconstruction: ...").
  Status Init(const fb::ModelT& m, const std::string& what, rt::Isa isa = rt::Isa::kAuto);
};

}  // namespace squint::quant
