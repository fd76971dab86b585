// Reads a .sqnt file back into the integer representation both writers take (fb::ModelT, the
// FlatBuffers object model of runtime/schema/squint.fbs): the bytes are untrusted, so they pass
// the runtime's own checks first — the loader (structure, indices, shapes, buffers, plan) and
// prepare on the reference kernels (every op's types, shapes and options) — and only then are
// unpacked, in the 1.0 layout (sqnt_compact.h: derived requantization filled in, every constant
// its own buffer), whatever the file's.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "runtime/schema/squint_generated.h"

namespace squint::exporter {

// InvalidInput naming `what` (the file) and the runtime's message when a check fails.
Result<std::unique_ptr<fb::ModelT>> ParseSqnt(const std::string& bytes, const std::string& what);

// ReadFile + ParseSqnt.
Result<std::unique_ptr<fb::ModelT>> ReadSqnt(const std::string& path);

}  // namespace squint::exporter
