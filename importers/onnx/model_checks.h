// Checks on the parsed ModelProto that run before anything else reads it: opset range, the
// set of ops squint supports, attribute values that would crash libonnx or a kernel, tensor
// dims, and (for opset <= 17) libonnx's checker. Internal to the importer.
#pragma once

#include <onnx/onnx_pb.h>

#include <string>

#include <fmt/format.h>

#include "base/status.h"

namespace squint::importers::onnx_detail {

// The IR name of a node the file leaves unnamed: op type and index in the file ("Add_3").
inline std::string UnnamedNodeName(const std::string& op_type, int index) {
  return fmt::format("{}_{}", op_type, index);
}

// The model's default-domain opset; kUnsupported outside [kMinOpset, kMaxOpset].
Result<int64_t> CheckOpset(const onnx::ModelProto& model);

// One error listing every unsupported op type with its node names, unsupported domains and
// subgraph attributes, e.g. "unsupported ops (opset 17): NonMaxSuppression ('nms_1'), TopK ('topk')".
Status CheckSupportedOps(const onnx::GraphProto& graph, int64_t opset);

// Attribute values that make libonnx (or a kernel) divide by zero or index out of bounds:
// kernel_shape/strides/dilations > 0, group > 0, pads >= 0, consistent ranks; tensor dims
// (no negative dim, at most ir::kMaxElements elements) of initializers and tensor attributes.
// External data references must stay inside `model_dir` and name existing files (libonnx's
// checker would stat them itself).
Status CheckBeforeChecker(const onnx::GraphProto& graph, const std::string& model_dir);

// onnx::checker::check_model for opset <= 17; no-op for newer opsets. Exceptions become
// kInvalidInput. May temporarily lower model.ir_version to the newest libonnx knows.
// External data files are looked up by libonnx relative to `model_dir`.
Status RunOnnxChecker(onnx::ModelProto& model, int64_t opset, const std::string& model_dir);

}  // namespace squint::importers::onnx_detail
