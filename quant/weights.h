// Weight quantization: symmetric codes on a `bits`-wide grid ([−7, 7] for 4 bits, [−127, 127]
// for 8), one scale per block of consecutive elements of the row-major weight. A block is a
// whole tensor (per tensor), one output channel's row (per channel) or `group_size` elements of
// a row (group scales, schema AffineQuantization.group_size).
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"

namespace squint::quant {

struct QuantizedWeights {
  std::vector<int8_t> codes;  // one per element
  std::vector<float> scales;  // one per block, in element order
};

// Splits w into num_blocks equal blocks (num_blocks must divide w.size(); 0 blocks, i.e. an
// empty weight, gives the single scale 1) and quantizes each on its own symmetric grid with
// s = max|w|/(2^(bits−1) − 1) (ComputeAffineParams, symmetric). bits in 2..8.
Result<QuantizedWeights> QuantizeWeightBlocks(const std::vector<float>& w, int64_t num_blocks, int bits);

}  // namespace squint::quant
