// Writes the integer model as a .sqnt file (runtime/schema/squint.fbs).
#pragma once

#include <string>

#include "base/status.h"
#include "export/sqnt_compact.h"
#include "runtime/schema/squint_generated.h"

namespace squint::exporter {

// Serializes the model (given in either layout) in `version`'s layout (sqnt_compact.h): FlatBuffers
// with identifier "SQNT". The layouts are converted on the runtime's verified view of the model;
// a model the runtime refuses is written as it is (the runtime then reports why it refuses it).
// Deterministic: the same model gives the same bytes.
std::string SerializeSqnt(const fb::ModelT& model, SqntVersion version = SqntVersion::k1_1);

// The model without the names a runtime does not need (--strip-names): every tensor name but the
// model inputs' and outputs' and every op name become empty; the provenance stays. The file gets
// smaller and says less about the model; per-layer reports need the names (they match runtime
// tensors to float values by name), so keep an unstripped file for `squint report`.
void StripNames(fb::ModelT* model);

// Serializes and writes atomically (temporary file beside `path`, then rename).
Status WriteSqnt(const std::string& path, const fb::ModelT& model, SqntVersion version = SqntVersion::k1_1);

}  // namespace squint::exporter
