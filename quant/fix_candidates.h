// Fixes to try for the layers that lose most, each alone on top of the options a .sqnt was made
// with (`squint report --fixes` measures them on the runtime). Every fix keeps the model fully
// integer: int16 activations around one node, a log grid or bias correction for the softmax,
// group weight scales, a float-equivalent transform.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "quant/pipeline.h"

namespace squint::quant {

// The PipelineOptions a .sqnt provenance options line records ("observer=minmax weights=per-channel
// weight_bits=8 ... calib_samples=512 [a16=A,B] [clip_softmax=X] ..."): the inverse of the line the
// pipeline writes. An unknown key or a value that does not parse is an error naming it.
Result<PipelineOptions> PipelineOptionsFromProvenance(const std::string& line);

// The `squint quantize` flags that give `o` (defaults left out), e.g. "--a16 Softmax --group-size 32".
std::string QuantizeFlags(const PipelineOptions& o);

struct FixCandidate {
  std::string layer;        // the node it was chosen for (the first, when several share it)
  std::string what;         // "int16 activations around /blocks.3/attn/Softmax"
  std::string flag;         // the flag it adds: "--a16 /blocks.3/attn/Softmax"
  PipelineOptions options;  // base plus this fix
};

// For each node named in `worst` (graph node names; unknown names are passed over): int16
// activations around it (--a16 NAME) and, when the model has several nodes of its op type, around
// every node of that type (--a16 OPTYPE); with weights narrower than 8 bits, 8-bit weights on a node
// with weights (--w8 NAME); a Softmax: each log grid (log2, sulq) and, on the uniform
// grid, bias correction; a node with weights (Linear, MatMul, Gemm, Conv): group scales of 32;
// and once for the model the transforms smooth and hadamard when the base has none. A fix the
// base already has is left out; each fix appears once, for the first layer it was chosen for.
std::vector<FixCandidate> CandidateFixes(const ir::Graph& g, const PipelineOptions& base,
                                         const std::vector<std::string>& worst);

}  // namespace squint::quant
