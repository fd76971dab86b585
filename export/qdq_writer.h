// Writes the integer model as a QDQ ONNX model: the float graph with QuantizeLinear /
// DequantizeLinear pairs carrying the model's scales, zero points and weight codes, for ONNX
// Runtime and other QDQ consumers (docs/export.md says what each integer op becomes).
//
// It reads the same integer representation as the .sqnt writer (sqnt_writer.h): fb::ModelT, as
// quant::Lower makes it or as ParseSqnt (sqnt_reader.h) reads it back from a verified file.
#pragma once

#include <string>

#include "base/status.h"
#include "runtime/schema/squint_generated.h"

namespace squint::exporter {

// The serialized ONNX ModelProto. Deterministic: the same model gives the same bytes. The graph
// has the model's inputs and outputs by name and shape: quantized ones float32, integer ones
// (ids, masks) int32. Unsupported, naming the op and its output tensor, for what ONNX cannot
// express.
Result<std::string> SerializeQdq(const fb::ModelT& model);

// Serializes and writes atomically (temporary file beside `path`, then rename): on error no
// file is written.
Status WriteQdq(const std::string& path, const fb::ModelT& model);

}  // namespace squint::exporter
