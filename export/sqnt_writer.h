// Writes the integer model as a .sqnt file (runtime/schema/squint.fbs).
#pragma once

#include <string>

#include "base/status.h"
#include "runtime/schema/squint_generated.h"

namespace squint::exporter {

// Serializes the model: FlatBuffers with identifier "SQNT", constant buffers 64-byte aligned.
// Deterministic: the same model gives the same bytes.
std::string SerializeSqnt(const fb::ModelT& model);

// Serializes and writes atomically (temporary file beside `path`, then rename).
Status WriteSqnt(const std::string& path, const fb::ModelT& model);

}  // namespace squint::exporter
