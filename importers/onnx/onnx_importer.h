// ONNX importer: an .onnx file (protobuf, weights inline or in external data files) -> ir::Graph.
//
// Every input is untrusted: sizes are checked before anything is allocated, exceptions from
// protobuf and libonnx are caught here, and every error is a Status (kInvalidInput for a bad
// file, kUnsupported for a valid model squint does not handle) whose one-line message names
// the file, node or tensor, the bad value and the rule.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "ir/graph.h"
#include "ir/tensor.h"

namespace squint::importers {

struct ImportOptions {
  // Run ir::eval::InferShapes as the final import step (its errors are the import's errors).
  bool infer_shapes = true;
  // Run libonnx's onnx::checker::check_model for models of opset <= 17 (the newest opset
  // Debian's libonnx 1.12 knows); newer models rely on squint's own checks.
  bool run_onnx_checker = true;
};

// Default-domain opsets the importer accepts.
inline constexpr int64_t kMinOpset = 11;
inline constexpr int64_t kMaxOpset = 21;

// Reads a model file. External data locations are resolved relative to the model's folder
// and must stay inside it.
Result<ir::Graph> ImportOnnxFile(const std::string& path, const ImportOptions& opts = {});

// Parses a serialized ModelProto held in memory (the fuzzer's entry point). External data is
// resolved relative to `model_dir`; with an empty `model_dir`, tensors that use external data
// are rejected (nothing is read from disk).
Result<ir::Graph> ImportOnnxBytes(std::string_view bytes, const ImportOptions& opts = {},
                                  const std::string& model_dir = "");

// Reads one serialized TensorProto (ONNX's test_data_set_*/input_*.pb). External data is
// resolved relative to the file's folder.
Result<ir::Tensor> LoadTensorProtoFile(const std::string& path);

}  // namespace squint::importers
