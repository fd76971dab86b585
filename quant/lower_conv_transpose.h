// ConvTranspose → CONV_TRANSPOSE_2D: the geometry and weight layout the runtime op reads
// (runtime/schema/squint.fbs, kernels.h ConvTranspose2D), from a float 2-D ConvTranspose node
// whose shapes are known. Lowering (lower.cc) quantizes the weight it returns like a Conv's.
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"

namespace squint::quant {

struct ConvTransposeLayout {
  // ONNX W [C_in, C_out/g, kH, kW] rearranged to [C_out, C_in/g, kH, kW]:
  //   weight[(g·cout_g + j), ic, kh, kw] = W[g·cin_g + ic, j, kh, kw]
  std::vector<float> weight;
  ir::Dims weight_dims;
  std::vector<int32_t> stride, dilation;  // [h, w]
  // [top, left, bottom, right]: begin pads as ONNX resolves them (pads, auto_pad, output_shape);
  // bottom/right = stride·(in − 1) + (k − 1)·dilation + 1 − begin − out, so output_padding and
  // output_shape appear as smaller (possibly negative) end pads.
  std::vector<int32_t> pads;
  int32_t groups = 1;
};

// `in` / `out`: the node's input and output dims (NCHW); `w`: its constant float weight.
// Unsupported for other than 2-D, for negative begin pads and for values beyond int32;
// InvalidInput when the weight does not match the input channels and groups.
Result<ConvTransposeLayout> ConvTransposeForRuntime(const ir::Node& n, const ir::Tensor& w, const ir::Dims& in,
                                                    const ir::Dims& out);

}  // namespace squint::quant
