// Fusion of code maps in a lowered integer model: a chain of ops that each compute their output
// code from the codes of one int8 tensor alone (LUT, REQUANTIZE, and ADD / SUB / MUL whose two
// operands both derive from that tensor, element by element, e.g. hard-swish's x·clip(x + 3)/6
// or SiLU's x·sigmoid(x)) becomes one LUT of that tensor's 256 codes.
//
// The table is made by running the chain's own ops on the runtime's reference kernels over every
// code, so the fused model's outputs are the unfused model's bit for bit (the intermediate
// tensors' roundings included): it saves the intermediate ops and tensors, never accuracy.
// A tensor of the chain read by any other op (or a model output) keeps its value: it gets a LUT of
// its own. Ops whose outputs nobody reads any more are removed, and so are their tensors.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "runtime/schema/squint_generated.h"

namespace squint::quant {

struct FusedCodeMap {
  std::string removed;  // the name of an op the fusion removed
  std::string into;     // the name of the LUT that computes its chain now
};

// Rewrites `model` (a lowered model before its memory plan); returns what it removed.
Result<std::vector<FusedCodeMap>> FuseCodeMaps(fb::ModelT* model);

}  // namespace squint::quant
