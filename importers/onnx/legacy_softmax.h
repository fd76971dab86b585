// Softmax and LogSoftmax of opsets < 13, rewritten to their opset-13 meaning. Internal to the
// importer (onnx_importer.cc calls it as the final import step of such models).
#pragma once

#include "base/status.h"
#include "ir/graph.h"

namespace squint::importers::onnx_detail {

// Before opset 13, Softmax(x, axis = a) (default a = 1; LogSoftmax alike) computes over x coerced
// to 2-D [d0·…·d(a−1), da·…·d(r−1)]. When a is x's last axis that is the opset-13 op, left as it
// is; otherwise the node becomes
//   y = Reshape(Softmax(Flatten(x, axis = a), axis = 1), Shape(x))
// (one softmax over the trailing dims together, as ONNX defines it). The input's rank comes from
// shape inference, run best effort until every such node's input rank is known. Returns the
// final ir::eval::InferShapes status (so the import reports a real shape error as before).
Status RewriteLegacySoftmax(ir::Graph& g);

}  // namespace squint::importers::onnx_detail
