// TensorProto -> ir::Tensor, including weights in external data files. Internal to the importer.
#pragma once

#include <string>

#include <onnx/onnx_pb.h>

#include "base/status.h"
#include "ir/tensor.h"

namespace squint::importers::onnx_detail {

// Name of an ONNX TensorProto.DataType number ("float16", "string", ...), for messages.
std::string OnnxDTypeName(int onnx_type);

// Where external data files may be read from: `model_dir` (empty: external data is refused).
struct ExternalDataPolicy {
  std::string model_dir;
};

// Converts a tensor. `what` names it in messages ("initializer 'w'"). Checks the element type,
// the dims (no negative dim, at most ir::kMaxElements elements) and that the data size agrees
// with the dims before allocating. When `release` is set, the proto's raw data is freed once
// copied, so a model's weights are not held twice.
Result<ir::Tensor> ConvertTensor(onnx::TensorProto& proto, const std::string& what,
                                 const ExternalDataPolicy& ext, bool release = false);

// For a tensor stored externally: the reference is well-formed and names an existing regular
// file inside ext.model_dir (no absolute path, no '..', no symlink out). Ok for other tensors.
Status CheckExternalData(const onnx::TensorProto& proto, const std::string& what, const ExternalDataPolicy& ext);

// Checks dims only (no data access): negative dims, element count; used before the checker.
Status CheckTensorDims(const onnx::TensorProto& proto, const std::string& what);

}  // namespace squint::importers::onnx_detail
